/* base: the growable wiped buffer shared by the Redis connections (redisconn, syncconn). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"

static void test_buf_grows_and_keeps_order(void **state)
{
    (void)state;
    struct base_buf b = {0};
    char chunk[700];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)('a' + i % 26);
    for (int i = 0; i < 10; i++)
        assert_true(base_buf_append(&b, chunk, sizeof(chunk)));
    assert_int_equal(b.len, 10 * sizeof(chunk));
    assert_true(b.cap >= b.len);
    for (int i = 0; i < 10; i++)
        assert_memory_equal(b.bytes + i * sizeof(chunk), chunk, sizeof(chunk));
    base_buf_free(&b);
    assert_null(b.bytes);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_buf_reset_keeps_memory(void **state)
{
    (void)state;
    struct base_buf b = {0};
    assert_true(base_buf_append(&b, "AUTH secret", 11));
    char *bytes = b.bytes;
    size_t cap = b.cap;
    base_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.bytes, bytes);
    assert_int_equal(b.cap, cap);
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(b.bytes[i], 0); /* wiped, not only forgotten */
    assert_true(base_buf_append(&b, "PING", 4));
    assert_memory_equal(b.bytes, "PING", 4);
    base_buf_free(&b);
    base_buf_reset(&b); /* an empty buffer: nothing to do */
    base_buf_free(&b);
}

static void test_buf_refuses_overflow(void **state)
{
    (void)state;
    struct base_buf b = {0};
    assert_true(base_buf_append(&b, "x", 1));
    assert_false(base_buf_append(&b, "y", SIZE_MAX));
    assert_int_equal(b.len, 1);
    assert_true(base_buf_append(&b, NULL, 0));
    assert_int_equal(b.len, 1);
    base_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_keeps_order),
        cmocka_unit_test(test_buf_reset_keeps_memory),
        cmocka_unit_test(test_buf_refuses_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
