/* Unit tests of pkg/jsonschema: keywords, positions of violations, ECMA-262 patterns (PCRE2), the
 * did-you-mean distance and the budgets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "jsonschema/jsonschema.h"
#include "yamldoc/yamldoc.h"

#define MAX_SEEN 16

struct seen {
    size_t count;
    char rule[MAX_SEEN][32];
    char path[MAX_SEEN][64];
    char message[MAX_SEEN][256];
    uint32_t line[MAX_SEEN];
};

static int record(void *ctx, const struct jsonschema_violation *v)
{
    struct seen *seen = ctx;
    if (seen->count < MAX_SEEN) {
        snprintf(seen->rule[seen->count], sizeof(seen->rule[0]), "%s", v->rule);
        snprintf(seen->path[seen->count], sizeof(seen->path[0]), "%s", v->path);
        snprintf(seen->message[seen->count], sizeof(seen->message[0]), "%s", v->message);
        seen->line[seen->count] = v->node->pos.line;
    }
    seen->count++;
    return 0;
}

/* Validates `yaml` against `schema_text`; returns the violation count (-1 = budget error). */
static long check(const char *schema_text, const char *yaml, struct seen *seen)
{
    char err[256];
    struct jsonschema *schema = jsonschema_load_string(schema_text, err, sizeof(err));
    if (schema == NULL)
        fail_msg("schema: %s", err);
    struct yamldoc_set *set = yamldoc_set_new();
    struct yamldoc_node *root = NULL;
    struct yamldoc_error load_error;
    if (yamldoc_load_buffer(set, "v.yaml", yaml, strlen(yaml), &root, &load_error) != 0)
        fail_msg("yaml: %s", load_error.message);
    memset(seen, 0, sizeof(*seen));
    long result = jsonschema_validate(schema, root, record, seen, err, sizeof(err));
    yamldoc_set_free(set);
    jsonschema_free(schema);
    return result;
}

static void test_types_and_integers(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema =
        "{\"properties\": {\"i\": {\"type\": \"integer\"}, \"num\": {\"type\": [\"number\", \"null\"]},"
        " \"s\": {\"type\": \"string\"}}}";
    assert_int_equal(check(schema, "i: 2.0\nnum: ~\ns: abc\n", &seen), 0); /* 2.0 is an integer */
    assert_int_equal(check(schema, "i: 2.5\nnum: x\ns: 3\n", &seen), 3);
    assert_string_equal(seen.rule[0], "schema-type");
    assert_string_equal(seen.path[0], "i");
    assert_int_equal(seen.line[2], 3);
    assert_string_equal(seen.message[1], "expected number or null, got string \"x\"");
}

static void test_objects_required_and_unknown_keys(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema =
        "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"image\"],"
        " \"properties\": {\"image\": {\"type\": \"object\", \"additionalProperties\": false,"
        " \"properties\": {\"repository\": {}, \"pullPolicy\": {}}}, \"replicas\": {}}}";
    assert_int_equal(
        check(schema, "image:\n  repositroy: x\n  PullPolicy: y\nglobal: {a: 1}\nzzz: 1\n", &seen), 3);
    assert_string_equal(seen.rule[0], "unknown-key");
    assert_string_equal(seen.message[0], "unknown key 'repositroy' in image (did you mean 'repository'?)");
    assert_int_equal(seen.line[0], 2);
    assert_string_equal(seen.message[1], "unknown key 'PullPolicy' in image (did you mean 'pullPolicy'?)");
    assert_string_equal(seen.message[2], "unknown key 'zzz' at the top level (allowed: image, replicas)");
    assert_int_equal(check(schema, "replicas: 1\n", &seen), 1);
    assert_string_equal(seen.rule[0], "schema-required");
    assert_string_equal(seen.message[0], "missing required key 'image'");
}

static void test_enum_const_bounds_lengths(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema = "{\"properties\": {\"e\": {\"enum\": [\"a\", 1, null]}, \"c\": {\"const\": true},"
                         " \"m\": {\"minimum\": 1, \"exclusiveMaximum\": 10, \"multipleOf\": 0.5},"
                         " \"l\": {\"minLength\": 2, \"maxLength\": 3}, \"old\": {\"maximum\": 5, "
                         "\"exclusiveMaximum\": true}}}";
    assert_int_equal(check(schema, "e: 1.0\nc: true\nm: 9.5\nl: héé\nold: 4\n", &seen), 0);
    assert_int_equal(check(schema, "e: b\nc: false\nm: 10\nl: x\nold: 5\n", &seen), 5);
    assert_string_equal(seen.rule[0], "schema-enum");
    assert_string_equal(seen.rule[1], "schema-const");
    assert_string_equal(seen.rule[2], "schema-range");
    assert_string_equal(seen.rule[3], "schema-length");
    assert_string_equal(seen.rule[4], "schema-range");
}

static void test_arrays(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema =
        "{\"properties\": {\"u\": {\"type\": \"array\", \"uniqueItems\": true, \"maxItems\": 3,"
        " \"items\": {\"type\": \"integer\"}}, \"t\": {\"items\": [{\"type\": \"string\"}],"
        " \"additionalItems\": false}, \"c\": {\"contains\": {\"const\": 3}}}}";
    assert_int_equal(check(schema, "u: [1, 2]\nt: [a]\nc: [1, 3]\n", &seen), 0);
    assert_int_equal(check(schema, "u: [1, 2, 1, x]\nt: [a, b]\nc: [1]\n", &seen), 5);
    assert_string_equal(seen.rule[0], "schema-items");
    assert_string_equal(seen.rule[1], "schema-unique");
    assert_string_equal(seen.message[1], "items [0] and [2] are equal; items must be unique");
    assert_string_equal(seen.path[2], "u[3]");
    assert_string_equal(seen.rule[3], "schema-false");
    assert_string_equal(seen.rule[4], "schema-items");
}

static void test_refs_and_combinators(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema =
        "{\"definitions\": {\"port\": {\"type\": \"integer\", \"minimum\": 1}},"
        " \"$defs\": {\"name\": {\"type\": \"string\"}},"
        " \"properties\": {\"p\": {\"$ref\": \"#/definitions/port\"}, \"nm\": {\"$ref\": \"#/$defs/name\"},"
        " \"a\": {\"anyOf\": [{\"type\": \"integer\"}, {\"pattern\": \"^[0-9]+%$\"}]},"
        " \"o\": {\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\"}]},"
        " \"x\": {\"not\": {\"enum\": [\"PORT\"]}},"
        " \"i\": {\"if\": {\"const\": \"NodePort\"}, \"then\": {\"minLength\": 99}, \"else\": "
        "{\"maxLength\": 3}}}}";
    assert_int_equal(check(schema, "p: 80\nnm: x\na: 50%\no: 1.5\nx: HOST\ni: abc\n", &seen), 0);
    assert_int_equal(check(schema, "p: 0\nnm: 1\na: lots\no: 1\nx: PORT\ni: NodePort\n", &seen), 6);
    assert_string_equal(seen.rule[0], "schema-range");
    assert_string_equal(seen.rule[1], "schema-type");
    assert_string_equal(seen.rule[2], "schema-anyof");
    assert_string_equal(seen.rule[3], "schema-oneof");
    assert_string_equal(seen.rule[4], "schema-not");
    assert_string_equal(seen.message[4], "matches a form that is not allowed ('not')");
    assert_string_equal(seen.rule[5], "schema-length");
    /* A description inside the 'not' says what is excluded. */
    assert_int_equal(check("{\"properties\": {\"x\": {\"not\": {\"enum\": [\"PORT\"], \"description\": "
                           "\"a variable the chart sets\"}}}}",
                           "x: PORT\n", &seen),
                     1);
    assert_string_equal(seen.message[0], "is not allowed: a variable the chart sets");
}

static void test_pattern_properties_and_property_names(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema =
        "{\"patternProperties\": {\"^x-\": {\"type\": \"string\"}}, \"additionalProperties\": false,"
        " \"propertyNames\": {\"maxLength\": 5}}";
    assert_int_equal(check(schema, "x-a: s\n", &seen), 0);
    assert_int_equal(check(schema, "x-a: 1\nx-long-name: s\nother: 1\n", &seen), 3);
    assert_string_equal(seen.rule[0], "schema-type");
    assert_string_equal(seen.rule[1], "unknown-key");
    assert_string_equal(seen.rule[2], "unknown-key");
}

static void test_budgets(void **state)
{
    (void)state;
    struct seen seen;
    assert_int_equal(check("{\"$ref\": \"#\"}", "a: 1\n", &seen), -1);
    char schema[8192];
    size_t n = (size_t)snprintf(schema, sizeof(schema), "{\"definitions\": {\"d0\": {\"type\": \"integer\"}");
    for (int i = 1; i <= 40; i++)
        n += (size_t)snprintf(schema + n, sizeof(schema) - n,
                              ", \"d%d\": {\"anyOf\": [{\"$ref\": \"#/definitions/d%d\"}, {\"$ref\": "
                              "\"#/definitions/d%d\"}, {\"type\": \"string\"}]}",
                              i, i - 1, i - 1);
    snprintf(schema + n, sizeof(schema) - n,
             "}, \"additionalProperties\": {\"$ref\": \"#/definitions/d40\"}}");
    assert_int_equal(check(schema, "a: [1]\n", &seen), -1);
}

/* Whether `text` (`len` bytes) matches the schema pattern `ecma`; fails the test if the pattern does
 * not compile or the match gives up. */
static bool matches_bytes(const char *ecma, const char *text, size_t len)
{
    char why[256];
    struct jsonschema_pattern *pattern = jsonschema_pattern_compile(ecma, why, sizeof(why));
    if (pattern == NULL)
        fail_msg("%s: %s", ecma, why);
    enum jsonschema_match match = jsonschema_pattern_match(pattern, text, len, why, sizeof(why));
    jsonschema_pattern_free(pattern);
    if (match == JSONSCHEMA_MATCH_ERROR)
        fail_msg("%s against \"%s\": %s", ecma, text, why);
    return match == JSONSCHEMA_MATCH_YES;
}

static bool pattern_matches(const char *ecma, const char *text)
{
    return matches_bytes(ecma, text, strlen(text));
}

static void test_pattern_translation(void **state)
{
    (void)state;
    assert_true(pattern_matches("^\\d+$", "123"));
    assert_false(pattern_matches("^\\d+$", "12a"));
    assert_true(pattern_matches("^[\\w.-]+$", "a_b.c-d"));
    assert_false(pattern_matches("^[\\w.-]+$", "a b"));
    assert_true(pattern_matches("^$|^[\\s\\S]{3,}$", "a\nb"));
    assert_false(pattern_matches("^$|^[\\s\\S]{3,}$", "ab"));
    assert_true(pattern_matches("^https?://[^\\s,]+$", "https://x.y/z"));
    assert_false(pattern_matches("^https?://[^\\s,]+$", "https://x y"));
    assert_true(pattern_matches("^(?:a|b)+?$", "abba"));
    assert_true(pattern_matches("^[\\]\\-^a]+$", "]-^a"));
    assert_true(pattern_matches("^\\+?[0-9]+(\\.[0-9]*)?$", "+1.5"));
    assert_true(pattern_matches("^\\x41\\u00e9$", "A\xc3\xa9"));
    assert_true(pattern_matches("a\\/b", "a/b"));
    /* The hand translation refused these four (not enforced); PCRE2 matches them as ECMA-262 does
     * (\p{…} as with the u flag). */
    assert_true(pattern_matches("^(?=a)", "ab"));
    assert_false(pattern_matches("^(?=a)", "ba"));
    assert_true(pattern_matches("(a)\\1", "xaa"));
    assert_false(pattern_matches("(a)\\1", "xab"));
    assert_true(pattern_matches("^\\p{L}+$", "\xc3\xa9t\xc3\xa9"));
    assert_false(pattern_matches("^\\p{L}+$", "a1"));
    assert_true(pattern_matches("^[\\S]+$", "ab"));
    assert_false(pattern_matches("^[\\S]+$", "a b"));
}

/* What the ECMA-to-POSIX translation got wrong, matched as RegExp.test does it. */
static void test_pattern_ecma_semantics(void **state)
{
    (void)state;
    /* `.` stops at a line terminator (the ERE matched "a\nb"); `$` is the very end, not before a final
     * newline as in Perl. */
    assert_true(pattern_matches("^a.b$", "axb"));
    assert_false(pattern_matches("^a.b$", "a\nb"));
    assert_false(pattern_matches("^a.b$", "a\rb"));
    assert_false(pattern_matches("^abc$", "abc\n"));
    assert_true(pattern_matches("^abc$", "abc"));
    /* Code points, not bytes: three characters of three bytes each, and one two-byte character in a
     * bracket. */
    assert_true(pattern_matches("^.{1,3}$", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
    assert_false(pattern_matches("^.{1,3}$", "abcd"));
    assert_true(pattern_matches("^[\xc3\xa9]$", "\xc3\xa9"));
    assert_true(pattern_matches("^\\u00e9{2}$", "\xc3\xa9\xc3\xa9"));
    /* \d and \D, alone and in brackets. */
    assert_true(pattern_matches("^\\d{3}$", "042"));
    assert_false(pattern_matches("^\\d{3}$", "04a"));
    assert_true(pattern_matches("^[\\d.]+$", "1.5"));
    assert_false(pattern_matches("^[\\d.]+$", "1,5"));
    assert_true(pattern_matches("^\\D+$", "ab"));
    assert_false(pattern_matches("^\\D+$", "a1"));
    /* Unicode white space for \s (the ERE's was ASCII): a no-break space is not \S. */
    assert_false(pattern_matches("^\\S+$", "a\xc2\xa0"
                                           "b"));
    /* Negative lookahead, as a DNS label rule would use it. */
    assert_true(pattern_matches("^(?!-)[a-z0-9-]{1,63}$", "web-1"));
    assert_false(pattern_matches("^(?!-)[a-z0-9-]{1,63}$", "-web"));
    /* Unanchored, as RegExp.test: a pattern without ^/$ matches anywhere. */
    assert_true(pattern_matches("b", "abc"));
    /* A NUL inside the value is a character like any other (it used to fail closed). */
    assert_true(matches_bytes("^a.b$", "a\0b", 3));
    /* Patterns PCRE2 refuses are reported, not guessed at. */
    char why[256] = "";
    assert_null(jsonschema_pattern_compile("(", why, sizeof(why)));
    assert_true(why[0] != '\0');
    assert_null(jsonschema_pattern_compile("(?<=a+)b", why, sizeof(why)));
    /* A runaway match gives up with a reason instead of spinning. */
    struct jsonschema_pattern *runaway = jsonschema_pattern_compile("^(a|a)+$", why, sizeof(why));
    assert_non_null(runaway);
    const char *text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
    assert_int_equal(jsonschema_pattern_match(runaway, text, strlen(text), why, sizeof(why)),
                     JSONSCHEMA_MATCH_ERROR);
    jsonschema_pattern_free(runaway);
}

/* In a schema: a pattern PCRE2 refuses is a warning, and the values it would judge pass. */
static void test_pattern_in_schema(void **state)
{
    (void)state;
    struct seen seen;
    const char *schema =
        "{\"properties\": {\"host\": {\"pattern\": \"^[a-z]+$\"}, \"odd\": {\"pattern\": \"(?<=a+)b\"}}}";
    assert_int_equal(check(schema, "host: \"ab\\ncd\"\nodd: x\n", &seen), 1);
    assert_string_equal(seen.rule[0], "schema-pattern");
    assert_string_equal(seen.path[0], "host");
    char err[256];
    struct jsonschema *loaded = jsonschema_load_string(schema, err, sizeof(err));
    assert_non_null(loaded);
    assert_int_equal(jsonschema_warning_count(loaded), 1);
    assert_non_null(strstr(jsonschema_warning_at(loaded, 0), "not enforced"));
    jsonschema_free(loaded);
}

static void test_the_chart_patterns_work(void **state)
{
    (void)state;
    /* Patterns of chart/bollard/values.schema.json, with values it must accept and refuse. */
    const char *quantity =
        "^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\\.["
        "0-9]*)?)|(\\.[0-9]+))))?$";
    assert_true(pattern_matches(quantity, "100m"));
    assert_true(pattern_matches(quantity, "1Gi"));
    assert_true(pattern_matches(quantity, "0.5"));
    assert_true(pattern_matches(quantity, "1e3"));
    assert_false(pattern_matches(quantity, "256MB"));
    const char *duration =
        "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";
    assert_true(pattern_matches(duration, "30s"));
    assert_true(pattern_matches(duration, "1h30m"));
    assert_false(pattern_matches(duration, "30 s"));
    assert_true(pattern_matches("^/tmp/[^\\s]+$", "/tmp/x.heartbeat"));
    assert_false(pattern_matches("^/tmp/[^\\s]+$", "/tmp/a b"));
    assert_true(
        pattern_matches("^$|^(postgres|postgresql)://\\S+$|^sqlite:\\S+$", "postgresql://u:p@h:5432/db"));
    assert_false(pattern_matches("^$|^(postgres|postgresql)://\\S+$|^sqlite:\\S+$", "mysql://x"));
    assert_true(pattern_matches("^[0-9]+%$", "25%"));
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(base_edit_distance("replicas", "replicas", 3), 0);
    assert_int_equal(base_edit_distance("replica", "replicas", 3), 1);
    assert_int_equal(base_edit_distance("PullPolicy", "pullPolicy", 3), 0); /* case slips are free */
    assert_int_equal(base_edit_distance("abc", "xyz", 2), 3);               /* capped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_integers),
        cmocka_unit_test(test_objects_required_and_unknown_keys),
        cmocka_unit_test(test_enum_const_bounds_lengths),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_refs_and_combinators),
        cmocka_unit_test(test_pattern_properties_and_property_names),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_pattern_translation),
        cmocka_unit_test(test_pattern_ecma_semantics),
        cmocka_unit_test(test_pattern_in_schema),
        cmocka_unit_test(test_the_chart_patterns_work),
        cmocka_unit_test(test_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
