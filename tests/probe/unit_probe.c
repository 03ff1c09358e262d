/* Unit tests of the probe's pure parts (response parser, status sets, targets, JSON field check), built
 * with the host compiler under ASan+UBSan by probe/probe.mk (the shipped binary is musl, unsanitized). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_response.h"
#include "json_field.h"
#include "target.h"

static enum http_parse_status parse(const char *text, struct http_response_head *head)
{
    /* A heap copy of exactly the text's bytes, so that ASan catches any read past the end. */
    size_t length = strlen(text);
    char *copy = malloc(length ? length : 1);
    assert_non_null(copy);
    memcpy(copy, text, length);
    enum http_parse_status status = http_response_parse(copy, length, head);
    free(copy);
    return status;
}

static void test_parse_complete_heads(void **state)
{
    (void)state;
    struct http_response_head head;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &head), HTTP_PARSE_DONE);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.minor_version, 1);
    assert_int_equal(head.head_length, 38);
    assert_int_equal(parse("HTTP/1.0 503\r\n\r\n", &head), HTTP_PARSE_DONE);
    assert_int_equal(head.status, 503);
    assert_int_equal(head.minor_version, 0);
    assert_int_equal(parse("HTTP/1.1 204 \n\n", &head), HTTP_PARSE_DONE);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Tab:\ta\tb\r\n\r\n", &head), HTTP_PARSE_DONE);
}

static void test_parse_skips_interim_responses(void **state)
{
    (void)state;
    struct http_response_head head;
    assert_int_equal(
        parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 404 NF\r\n\r\n",
              &head),
        HTTP_PARSE_DONE);
    assert_int_equal(head.status, 404);
    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\n", &head), HTTP_PARSE_INCOMPLETE);
    assert_int_equal(parse("HTTP/1.1 101 Switching\r\n\r\n", &head), HTTP_PARSE_DONE);
    assert_int_equal(head.status, 101);
}

static void test_parse_every_prefix_is_incomplete(void **state)
{
    (void)state;
    static const char full[] = "HTTP/1.1 301 Moved\r\nLocation: /x\r\nServer: y\r\n\r\n";
    struct http_response_head head;
    char prefix[sizeof full];
    for (size_t length = 0; length < sizeof full - 1; length++) {
        memcpy(prefix, full, length);
        prefix[length] = '\0';
        assert_int_equal(parse(prefix, &head), HTTP_PARSE_INCOMPLETE);
    }
    assert_int_equal(parse(full, &head), HTTP_PARSE_DONE);
    assert_int_equal(head.status, 301);
}

static void test_parse_rejects_garbage_early(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "G",
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 20",  /* incomplete, but... */
        "HTTP/1.1 2x0", /* ...this is not */
        "HTTP/1.1 099 x\r\n\r\n",
        "HTTP/1.1 600 x\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\rX",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\rX",
    };
    struct http_response_head head;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum http_parse_status status = parse(bad[i], &head);
        if (i == 4) {
            assert_int_equal(status, HTTP_PARSE_INCOMPLETE);
            continue;
        }
        if (status != HTTP_PARSE_INVALID)
            fail_msg("case %zu was accepted: %s", i, bad[i]);
        assert_non_null(head.error);
    }
}

static void test_parse_handles_nul_bytes(void **state)
{
    (void)state;
    static const char data[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    struct http_response_head head;
    assert_int_equal(http_response_parse(data, sizeof data - 1, &head), HTTP_PARSE_INVALID);
    assert_int_equal(http_response_parse(data, 0, &head), HTTP_PARSE_INCOMPLETE);
}

static void test_status_sets(void **state)
{
    (void)state;
    struct http_status_set set;
    assert_true(http_status_set_parse("200-399", &set));
    assert_true(http_status_set_contains(&set, 200));
    assert_true(http_status_set_contains(&set, 399));
    assert_false(http_status_set_contains(&set, 199));
    assert_false(http_status_set_contains(&set, 400));
    assert_false(http_status_set_contains(&set, -1));
    assert_false(http_status_set_contains(&set, 100000));
    assert_true(http_status_set_parse("204,404,500-503", &set));
    assert_true(http_status_set_contains(&set, 404));
    assert_true(http_status_set_contains(&set, 502));
    assert_false(http_status_set_contains(&set, 200));
    static const char *const bad[] = {"",   "2xx", "200-", "-200", "399-200", "200,",   "200,,204",
                                      "99", "600", "2000", "200 ", " 200",    "100-600"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (http_status_set_parse(bad[i], &set))
            fail_msg("accepted status set '%s'", bad[i]);
    }
}

static void test_http_targets(void **state)
{
    (void)state;
    struct http_target target;
    const char *error = NULL;
    assert_true(target_parse_http("8000", &target, &error));
    assert_int_equal(target.port, 8000);
    assert_string_equal(target.host, "");

    assert_true(target_parse_http("http://127.0.0.1:9000/health/live?x=1#frag", &target, &error));
    assert_string_equal(target.host, "127.0.0.1");
    assert_int_equal(target.port, 9000);
    assert_string_equal(target.path, "/health/live?x=1");
    assert_string_equal(target.authority, "127.0.0.1:9000");

    assert_true(target_parse_http("http://[::1]:81", &target, &error));
    assert_string_equal(target.host, "::1");
    assert_int_equal(target.port, 81);
    assert_string_equal(target.path, "");
    assert_string_equal(target.authority, "[::1]:81");

    assert_true(target_parse_http("example.internal/x", &target, &error));
    assert_string_equal(target.host, "example.internal");
    assert_int_equal(target.port, 0);
    assert_string_equal(target.path, "/x");

    assert_true(target_parse_http("http://h?q", &target, &error));
    assert_string_equal(target.path, "/?q");

    static const char *const bad[] = {"",
                                      "0",
                                      "65536",
                                      "https://h/",
                                      "ftp://h/",
                                      "http://",
                                      "http:///x",
                                      "http://u@h/",
                                      "http://h:/",
                                      "http://h:x/",
                                      "http://h:0/",
                                      "http://[::1/",
                                      "::1:80",
                                      "http://h/a b",
                                      "http://h/\x01",
                                      "http://h\x01/",
                                      "http://[::1]x/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error = NULL;
        if (target_parse_http(bad[i], &target, &error))
            fail_msg("accepted URL '%s'", bad[i]);
        assert_non_null(error);
    }
}

static void test_long_url_is_bounded(void **state)
{
    (void)state;
    struct http_target target;
    const char *error = NULL;
    char *url = malloc(10000);
    assert_non_null(url);
    memcpy(url, "http://h/", 9);
    memset(url + 9, 'a', 10000 - 10);
    url[9999] = '\0';
    assert_false(target_parse_http(url, &target, &error));
    memset(url + 7, 'h', 10000 - 8);
    assert_false(target_parse_http(url, &target, &error));
    free(url);
}

static void test_host_port(void **state)
{
    (void)state;
    char host[TARGET_HOST_MAX];
    uint16_t port = 0;
    const char *error = NULL;
    assert_true(target_parse_host_port("db:5432", host, sizeof host, &port, &error));
    assert_string_equal(host, "db");
    assert_int_equal(port, 5432);
    assert_true(target_parse_host_port("[fe80::1]:1", host, sizeof host, &port, &error));
    assert_string_equal(host, "fe80::1");
    assert_true(target_parse_host_port("6379", host, sizeof host, &port, &error));
    assert_string_equal(host, "");
    assert_int_equal(port, 6379);
    assert_false(target_parse_host_port("db", host, sizeof host, &port, &error));
    assert_false(target_parse_host_port("::1:80", host, sizeof host, &port, &error));
    assert_false(target_parse_host_port("db:65536", host, sizeof host, &port, &error));
    assert_false(target_parse_host_port(":80", host, sizeof host, &port, &error));

    assert_true(target_parse_host("::1", host, sizeof host));
    assert_string_equal(host, "::1");
    assert_true(target_parse_host("[::1]", host, sizeof host));
    assert_string_equal(host, "::1");
    assert_true(target_parse_host("api.svc", host, sizeof host));
    assert_false(target_parse_host("", host, sizeof host));
    assert_false(target_parse_host("a b", host, sizeof host));
    assert_false(target_parse_host("[]", host, sizeof host));

    char authority[64];
    target_format_authority(authority, sizeof authority, "::1", 80);
    assert_string_equal(authority, "[::1]:80");
    target_format_authority(authority, sizeof authority, "127.0.0.1", 8000);
    assert_string_equal(authority, "127.0.0.1:8000");
}

static enum json_field_result check_json(const char *doc, const char *key, const char *expected, char *actual)
{
    size_t length = strlen(doc);
    char *copy = malloc(length ? length : 1);
    assert_non_null(copy);
    memcpy(copy, doc, length);
    enum json_field_result result = json_field_check(copy, length, key, expected, actual, 24);
    free(copy);
    return result;
}

static void test_json_fields(void **state)
{
    (void)state;
    char actual[24];
    const char *doc =
        " {\"status\" : \"ok\", \"n\": -1.5e3, \"t\": true, \"z\": null, \"o\": {\"status\": [1, {}]},"
        " \"esc\": \"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\", \"dup\": 1, \"dup\": 2} \n";
    assert_int_equal(check_json(doc, "status", "ok", actual), JSON_FIELD_MATCH);
    assert_int_equal(check_json(doc, "n", "-1.5e3", actual), JSON_FIELD_MATCH);
    assert_int_equal(check_json(doc, "t", "true", actual), JSON_FIELD_MATCH);
    assert_int_equal(check_json(doc, "z", "null", actual), JSON_FIELD_MATCH);
    assert_int_equal(check_json(doc, "esc", "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80", actual), JSON_FIELD_MATCH);
    assert_int_equal(check_json(doc, "dup", "2", actual), JSON_FIELD_MATCH);

    assert_int_equal(check_json(doc, "status", "bad", actual), JSON_FIELD_MISMATCH);
    assert_string_equal(actual, "\"ok\"");
    assert_int_equal(check_json(doc, "n", "-1500", actual), JSON_FIELD_MISMATCH);
    assert_string_equal(actual, "-1.5e3");
    assert_int_equal(check_json(doc, "o", "{}", actual), JSON_FIELD_MISMATCH);
    assert_string_equal(actual, "an object");
    assert_int_equal(check_json(doc, "esc", "x", actual), JSON_FIELD_MISMATCH);
    assert_string_equal(actual, "\"a\"b\\c??????\""); /* non-ASCII: one '?' per byte */
    assert_int_equal(check_json(doc, "missing", "x", actual), JSON_FIELD_MISSING);
    assert_int_equal(check_json("{}", "a", "x", actual), JSON_FIELD_MISSING);

    assert_int_equal(
        check_json("{\"long\": \"0123456789012345678901234567890123456789\"}", "long", "x", actual),
        JSON_FIELD_MISMATCH);
    assert_int_equal(strlen(actual), 23);
    assert_string_equal(actual + 19, "...\"");
}

static void test_json_rejects_invalid_documents(void **state)
{
    (void)state;
    char actual[24];
    static const char *const bad[] = {"",
                                      "[]",
                                      "\"s\"",
                                      "{",
                                      "{\"a\"}",
                                      "{\"a\":}",
                                      "{\"a\":1,}",
                                      "{\"a\":1} x",
                                      "{\"a\":01}",
                                      "{\"a\":1.}",
                                      "{\"a\":-}",
                                      "{\"a\":tru}",
                                      "{\"a\":\"\x01\"}",
                                      "{\"a\":\"\\x\"}",
                                      "{\"a\":\"\\u12\"}",
                                      "{\"a\":\"\\udc00\"}",
                                      "{\"a\":\"\\ud800x\"}",
                                      "{\"a\":[1,]}",
                                      "{\"a\":\"unterminated}",
                                      "{'a':1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (check_json(bad[i], "a", "1", actual) != JSON_FIELD_INVALID)
            fail_msg("accepted JSON '%s'", bad[i]);
    }
}

static void test_json_depth_is_bounded(void **state)
{
    (void)state;
    char actual[24];
    size_t depth = 100000;
    char *doc = malloc(depth * 2 + 16);
    assert_non_null(doc);
    size_t used = 0;
    used += (size_t)sprintf(doc, "{\"a\":");
    for (size_t i = 0; i < depth; i++)
        doc[used++] = '[';
    for (size_t i = 0; i < depth; i++)
        doc[used++] = ']';
    doc[used++] = '}';
    doc[used] = '\0';
    assert_int_equal(check_json(doc, "a", "x", actual), JSON_FIELD_INVALID);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_complete_heads),
        cmocka_unit_test(test_parse_skips_interim_responses),
        cmocka_unit_test(test_parse_every_prefix_is_incomplete),
        cmocka_unit_test(test_parse_rejects_garbage_early),
        cmocka_unit_test(test_parse_handles_nul_bytes),
        cmocka_unit_test(test_status_sets),
        cmocka_unit_test(test_http_targets),
        cmocka_unit_test(test_long_url_is_bounded),
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_rejects_invalid_documents),
        cmocka_unit_test(test_json_depth_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
