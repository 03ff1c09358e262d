/* Unit tests of pkg/jsonschema: keywords, positions of violations, ECMA pattern translation, the
 * did-you-mean distance and the budgets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <regex.h>

#include <cmocka.h>

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
    struct jsonschema *schema = NULL;
    char err[256];
    if (jsonschema_load_string(schema_text, &schema, err, sizeof(err)) != 0)
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
    assert_string_equal(seen.rule[5], "schema-length");
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

static bool ere_matches(const char *ecma, const char *text)
{
    char ere[512];
    const char *why = NULL;
    if (jsonschema_translate_pattern(ecma, ere, sizeof(ere), &why) != 0)
        fail_msg("%s: %s", ecma, why);
    regex_t regex;
    if (regcomp(&regex, ere, REG_EXTENDED | REG_NOSUB) != 0)
        fail_msg("%s -> %s does not compile", ecma, ere);
    bool hit = regexec(&regex, text, 0, NULL, 0) == 0;
    regfree(&regex);
    return hit;
}

static void test_pattern_translation(void **state)
{
    (void)state;
    assert_true(ere_matches("^\\d+$", "123"));
    assert_false(ere_matches("^\\d+$", "12a"));
    assert_true(ere_matches("^[\\w.-]+$", "a_b.c-d"));
    assert_false(ere_matches("^[\\w.-]+$", "a b"));
    assert_true(ere_matches("^$|^[\\s\\S]{3,}$", "a\nb"));
    assert_false(ere_matches("^$|^[\\s\\S]{3,}$", "ab"));
    assert_true(ere_matches("^https?://[^\\s,]+$", "https://x.y/z"));
    assert_false(ere_matches("^https?://[^\\s,]+$", "https://x y"));
    assert_true(ere_matches("^(?:a|b)+?$", "abba"));
    assert_true(ere_matches("^[\\]\\-^a]+$", "]-^a"));
    assert_true(ere_matches("^\\+?[0-9]+(\\.[0-9]*)?$", "+1.5"));
    assert_true(ere_matches("^\\x41\\u00e9$", "A\xc3\xa9"));
    assert_true(ere_matches("a\\/b", "a/b"));
    char ere[64];
    const char *why;
    assert_int_equal(jsonschema_translate_pattern("^(?=a)", ere, sizeof(ere), &why), -1);
    assert_int_equal(jsonschema_translate_pattern("(a)\\1", ere, sizeof(ere), &why), -1);
    assert_int_equal(jsonschema_translate_pattern("\\p{L}", ere, sizeof(ere), &why), -1);
    assert_int_equal(jsonschema_translate_pattern("[\\S]", ere, sizeof(ere), &why), -1);
}

static void test_the_chart_patterns_work(void **state)
{
    (void)state;
    /* Patterns of chart/bollard/values.schema.json, with values it must accept and refuse. */
    const char *quantity =
        "^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\\.["
        "0-9]*)?)|(\\.[0-9]+))))?$";
    assert_true(ere_matches(quantity, "100m"));
    assert_true(ere_matches(quantity, "1Gi"));
    assert_true(ere_matches(quantity, "0.5"));
    assert_true(ere_matches(quantity, "1e3"));
    assert_false(ere_matches(quantity, "256MB"));
    const char *duration =
        "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";
    assert_true(ere_matches(duration, "30s"));
    assert_true(ere_matches(duration, "1h30m"));
    assert_false(ere_matches(duration, "30 s"));
    assert_true(ere_matches("^/tmp/[^\\s]+$", "/tmp/x.heartbeat"));
    assert_false(ere_matches("^/tmp/[^\\s]+$", "/tmp/a b"));
    assert_true(ere_matches("^$|^(postgres|postgresql)://\\S+$|^sqlite:\\S+$", "postgresql://u:p@h:5432/db"));
    assert_false(ere_matches("^$|^(postgres|postgresql)://\\S+$|^sqlite:\\S+$", "mysql://x"));
    assert_true(ere_matches("^[0-9]+%$", "25%"));
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(jsonschema_edit_distance("replicas", "replicas", 3), 0);
    assert_int_equal(jsonschema_edit_distance("replica", "replicas", 3), 1);
    assert_int_equal(jsonschema_edit_distance("PullPolicy", "pullPolicy", 3), 0); /* case slips are free */
    assert_int_equal(jsonschema_edit_distance("abc", "xyz", 2), 3);               /* capped */
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
        cmocka_unit_test(test_the_chart_patterns_work),
        cmocka_unit_test(test_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
