/* Unit tests of pkg/schema: file names, kind headers, checksums, the compatibility rule of
 * CONTRACT §4, and the migrations embedded into this build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "schema/schema.h"

static void test_filename_valid(void **state)
{
    (void)state;
    long version = 0;
    char name[SCHEMA_NAME_MAX], err[256];
    assert_true(schema_parse_filename("0001_users.sql", &version, name, sizeof(name), err, sizeof(err)));
    assert_int_equal(version, 1);
    assert_string_equal(name, "users");
    assert_true(schema_parse_filename("migrations/0042_add_due_at_2.sql", &version, name, sizeof(name), err,
                                      sizeof(err)));
    assert_int_equal(version, 42);
    assert_string_equal(name, "add_due_at_2");
    assert_true(schema_parse_filename("9001_x.sql", &version, name, sizeof(name), err, sizeof(err)));
    assert_int_equal(version, 9001);
}

static void test_filename_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "users.sql",      /* no version */
        "0000_zero.sql",  /* version 0 */
        "0001users.sql",  /* no underscore */
        "0001_.sql",      /* empty name */
        "0001_Users.sql", /* upper case */
        "0001_users.SQL", /* extension */
        "0001_users.sql.bak", "0001_us-ers.sql", "0001_users", "99999999999999999999_big.sql", /* overflow */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long version = -1;
        char name[SCHEMA_NAME_MAX], err[256] = "";
        assert_false(schema_parse_filename(bad[i], &version, name, sizeof(name), err, sizeof(err)));
        assert_true(strlen(err) > 0);
        assert_int_equal(version, -1);
    }
    /* A name that does not fit the caller's buffer is refused, not cut. */
    long version = 0;
    char small[4], err[256];
    assert_false(schema_parse_filename("0001_users.sql", &version, small, sizeof(small), err, sizeof(err)));
}

static enum schema_kind kind_of(const char *sql, bool *ok)
{
    enum schema_kind kind = 0;
    char err[256];
    *ok = schema_parse_kind(sql, strlen(sql), &kind, err, sizeof(err));
    return kind;
}

static void test_kind_header(void **state)
{
    (void)state;
    bool ok;
    assert_int_equal(kind_of("-- bollard: expand\ncreate table t ();\n", &ok), SCHEMA_EXPAND);
    assert_true(ok);
    assert_int_equal(kind_of("-- bollard: contract\nalter table t drop column c;\n", &ok), SCHEMA_CONTRACT);
    assert_true(ok);
    assert_int_equal(kind_of("--bollard:expand\r\nselect 1;", &ok), SCHEMA_EXPAND); /* spacing, CRLF */
    assert_true(ok);
    assert_int_equal(kind_of("-- bollard:   contract   ", &ok), SCHEMA_CONTRACT); /* no newline at all */
    assert_true(ok);

    static const char *const bad[] = {
        "",
        "create table t ();\n",
        "\n-- bollard: expand\n",         /* must be the first line */
        "-- bollard: expandable\n",       /* unknown kind */
        "-- bollard: Expand\n",           /* case matters */
        "-- bollard: expand, contract\n", /* exactly one */
        "-- bollard:\n",
        "-- migrate: expand\n",
        "/* bollard: expand */\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kind_of(bad[i], &ok);
        assert_false(ok);
    }
    assert_string_equal(schema_kind_name(SCHEMA_EXPAND), "expand");
    assert_string_equal(schema_kind_name(SCHEMA_CONTRACT), "contract");
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[SCHEMA_SHA256_HEX_LEN + 1];
    assert_true(schema_sha256_hex("abc", 3, hex));
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(schema_sha256_hex("", 0, hex));
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_compat_rule(void **state)
{
    (void)state;
    char reason[256];
    /* nothing applied */
    assert_int_equal(schema_compat_evaluate_for(2, 0, 0, reason, sizeof(reason)), SCHEMA_NOT_MIGRATED);
    assert_non_null(strstr(reason, "bollard migrate"));
    /* exactly at the level */
    assert_int_equal(schema_compat_evaluate_for(2, 2, 0, reason, sizeof(reason)), SCHEMA_COMPATIBLE);
    /* database lacks a migration this binary needs */
    assert_int_equal(schema_compat_evaluate_for(3, 2, 0, reason, sizeof(reason)), SCHEMA_BEHIND);
    assert_non_null(strstr(reason, "needs 3"));
    /* rollback after an expand migration: database ahead, floor still allows this binary */
    assert_int_equal(schema_compat_evaluate_for(2, 3, 0, reason, sizeof(reason)), SCHEMA_COMPATIBLE);
    assert_int_equal(schema_compat_evaluate_for(2, 3, 2, reason, sizeof(reason)), SCHEMA_COMPATIBLE);
    /* rollback after a contract migration: floor above this binary */
    assert_int_equal(schema_compat_evaluate_for(2, 3, 3, reason, sizeof(reason)), SCHEMA_TOO_NEW);
    assert_non_null(strstr(reason, "floor 3"));
    assert_int_equal(schema_compat_evaluate_for(9001, 9002, 9002, reason, sizeof(reason)), SCHEMA_TOO_NEW);
    /* a newer binary against a contracted database that has not yet got its migrations */
    assert_int_equal(schema_compat_evaluate_for(5, 4, 4, reason, sizeof(reason)), SCHEMA_BEHIND);
    /* a reason buffer is optional, and a short one is cut, not overrun */
    assert_int_equal(schema_compat_evaluate_for(2, 2, 0, NULL, 0), SCHEMA_COMPATIBLE);
    char tiny[8];
    schema_compat_evaluate_for(2, 3, 3, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_floor_after(void **state)
{
    (void)state;
    struct schema_migration expand = {.version = 5, .kind = SCHEMA_EXPAND};
    struct schema_migration contract = {.version = 6, .kind = SCHEMA_CONTRACT};
    assert_int_equal(schema_floor_after(0, &expand), 0);
    assert_int_equal(schema_floor_after(3, &expand), 3);
    assert_int_equal(schema_floor_after(3, &contract), 6);
}

/* The table generated from the migrations directory for this build. */
static void test_embedded_migrations(void **state)
{
    (void)state;
    size_t n = schema_migration_count();
    assert_true(n >= 2);
    long prev = 0;
    for (size_t i = 0; i < n; i++) {
        const struct schema_migration *m = schema_migration_at(i);
        assert_non_null(m);
        assert_true(m->version > prev); /* ascending, unique */
        prev = m->version;
        assert_true(m->kind == SCHEMA_EXPAND || m->kind == SCHEMA_CONTRACT);
        assert_int_equal(strlen(m->sql), m->sql_len);
        char hex[SCHEMA_SHA256_HEX_LEN + 1];
        assert_true(schema_sha256_hex(m->sql, m->sql_len, hex));
        assert_string_equal(hex, m->checksum);
        enum schema_kind kind;
        assert_true(schema_parse_kind(m->sql, m->sql_len, &kind, NULL, 0));
        assert_int_equal(kind, m->kind);
    }
    assert_null(schema_migration_at(n));
    assert_int_equal(schema_binary_level(), prev);
    /* the first schema the tasks API is written against */
    assert_int_equal(schema_migration_at(0)->version, 1);
    assert_string_equal(schema_migration_at(0)->name, "users");
    assert_string_equal(schema_migration_at(1)->name, "tasks");
    assert_non_null(strstr(schema_migration_at(1)->sql, "(user_id, created_at, id)"));
    assert_non_null(strstr(schema_state_sql(), SCHEMA_TABLE));
}

/* The phase rule: expand stops before the first pending contract; contract and all take the rest. */
static void test_phases(void **state)
{
    (void)state;
    static const struct schema_migration ms[] = {
        {.version = 1, .kind = SCHEMA_EXPAND},   {.version = 2, .kind = SCHEMA_EXPAND},
        {.version = 3, .kind = SCHEMA_CONTRACT}, {.version = 4, .kind = SCHEMA_EXPAND},
        {.version = 5, .kind = SCHEMA_CONTRACT},
    };
    size_t all[] = {0, 1, 2, 3, 4};
    assert_int_equal(schema_expand_phase_count(ms, all, 5), 2);
    assert_int_equal(schema_phase_count(SCHEMA_PHASE_EXPAND, ms, all, 5), 2);
    assert_int_equal(schema_phase_count(SCHEMA_PHASE_CONTRACT, ms, all, 5), 5);
    assert_int_equal(schema_phase_count(SCHEMA_PHASE_ALL, ms, all, 5), 5);
    size_t from_contract[] = {2, 3, 4}; /* 1, 2 applied: a contract first, nothing in the expand phase */
    assert_int_equal(schema_phase_count(SCHEMA_PHASE_EXPAND, ms, from_contract, 3), 0);
    size_t tail[] = {3};
    assert_int_equal(schema_phase_count(SCHEMA_PHASE_EXPAND, ms, tail, 1), 1);
    assert_int_equal(schema_phase_count(SCHEMA_PHASE_EXPAND, ms, all, 0), 0);
    /* The code of a binary needs its last expand, not its trailing contract. */
    assert_int_equal(schema_needed_level_of(ms, 5), 4);
    assert_int_equal(schema_needed_level_of(ms, 3), 2);
    assert_int_equal(schema_needed_level_of(ms, 0), 0);
    enum schema_phase p = SCHEMA_PHASE_ALL;
    assert_true(schema_phase_parse("expand", &p) && p == SCHEMA_PHASE_EXPAND);
    assert_true(schema_phase_parse("contract", &p) && p == SCHEMA_PHASE_CONTRACT);
    assert_true(schema_phase_parse("all", &p) && p == SCHEMA_PHASE_ALL);
    assert_false(schema_phase_parse("Expand", &p));
    assert_false(schema_phase_parse("", &p));
    assert_string_equal(schema_phase_name(SCHEMA_PHASE_CONTRACT), "contract");
    /* A binary at level 3 whose code needs 2 is ready at 2 (before its contract) and at 3. */
    char reason[256];
    assert_int_equal(schema_compat_evaluate_levels(2, 3, 2, 0, reason, sizeof(reason)), SCHEMA_COMPATIBLE);
    assert_int_equal(schema_compat_evaluate_levels(2, 3, 3, 3, reason, sizeof(reason)), SCHEMA_COMPATIBLE);
    assert_int_equal(schema_compat_evaluate_levels(2, 3, 1, 0, reason, sizeof(reason)), SCHEMA_BEHIND);
    assert_int_equal(schema_compat_evaluate_levels(2, 2, 3, 3, reason, sizeof(reason)), SCHEMA_TOO_NEW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filename_valid),      cmocka_unit_test(test_filename_invalid),
        cmocka_unit_test(test_kind_header),         cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_compat_rule),         cmocka_unit_test(test_floor_after),
        cmocka_unit_test(test_embedded_migrations), cmocka_unit_test(test_phases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
