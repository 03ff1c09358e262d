/* url: redis:// and rediss:// parsing and the PostgreSQL host a non-blocking client resolves itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "url/url.h"

static void test_redis_full(void **state)
{
    (void)state;
    struct url_redis u;
    assert_true(url_redis_parse("redis://bob:p%40ss@cache.local:6380/2", &u));
    assert_string_equal(u.host, "cache.local");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "p@ss");
    assert_false(u.tls);
}

static void test_rediss(void **state)
{
    (void)state;
    struct url_redis u;
    assert_true(url_redis_parse("rediss://app:s3cret@redis.example.com:6380/1", &u));
    assert_true(u.tls);
    assert_string_equal(u.host, "redis.example.com");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 1);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "s3cret");
    assert_false(url_redis_parse("rediss://", &u));
    assert_false(url_redis_parse("redisss://h", &u));
}

static void test_redis_defaults(void **state)
{
    (void)state;
    struct url_redis u;
    assert_true(url_redis_parse("redis://:secret@[::1]/", &u));
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, URL_REDIS_DEFAULT_PORT);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "secret");
    assert_true(url_redis_parse("redis://h?timeout=1", &u));
    assert_string_equal(u.host, "h");
}

static void test_redis_malformed(void **state)
{
    (void)state;
    struct url_redis u;
    assert_false(url_redis_parse("http://h", &u));
    assert_false(url_redis_parse("redis://", &u));
    assert_false(url_redis_parse("redis://h:0", &u));
    assert_false(url_redis_parse("redis://h/x", &u));
    assert_false(url_redis_parse("redis://:a%zz@h", &u));
}

static void test_postgres(void **state)
{
    (void)state;
    assert_true(url_is_postgres("postgresql://h/db"));
    assert_true(url_is_postgres("postgres://h/db"));
    assert_false(url_is_postgres("sqlite:x.db"));
    const char *port = NULL;
    PQconninfoOption *o = url_postgres_parse("postgresql://u:p@db.svc:5433/app");
    assert_non_null(o);
    assert_string_equal(url_postgres_host_to_resolve(o, &port), "db.svc");
    assert_string_equal(port, "5433");
    PQconninfoFree(o);
    o = url_postgres_parse("postgresql://127.0.0.1/app");
    assert_non_null(o);
    assert_null(url_postgres_host_to_resolve(o, &port));
    assert_string_equal(port, "5432");
    PQconninfoFree(o);
    o = url_postgres_parse("postgresql://h1,h2/app");
    assert_non_null(o);
    assert_null(url_postgres_host_to_resolve(o, &port));
    PQconninfoFree(o);
    assert_null(url_postgres_parse("postgresql://h/app?nosuchoption=1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_full),     cmocka_unit_test(test_rediss),
        cmocka_unit_test(test_redis_defaults), cmocka_unit_test(test_redis_malformed),
        cmocka_unit_test(test_postgres),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
