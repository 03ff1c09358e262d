/* Unit tests of pkg/alert: the payload (Slack-compatible "text" plus the "bollard" fields) and the
 * rate limit (one alert per interval, counting what happened since the last one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "alert/alert.h"
#include "base/base.h"

static json_t *parse(char *text)
{
    assert_non_null(text);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    free(text);
    assert_non_null(j);
    return j;
}

static const char *field(json_t *o, const char *name)
{
    json_t *v = json_object_get(json_object_get(o, "bollard"), name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_payload_migrate_failed(void **state)
{
    (void)state;
    struct alert_info a = {.kind = "migrate_failed",
                           .role = "migrate",
                           .pod = "bollard-migrate-x7k2p",
                           .release = "prod",
                           .reason =
                               "migration 9001 (fixture) failed and was rolled back: duplicate key\nvalue",
                           .exit_code = 1};
    json_t *j = parse(alert_payload(&a, "6f1c1f4e-8f4c-4b8e-9d2a-3c1f0b7a9e11", 1796342400));
    const char *text = json_string_value(json_object_get(j, "text"));
    assert_non_null(text);
    assert_non_null(strstr(text, "bollard migrate failed (exit 1)"));
    assert_non_null(strstr(text, "pod bollard-migrate-x7k2p"));
    assert_non_null(strstr(text, "release prod"));
    assert_non_null(strstr(text, "duplicate key value")); /* one line */
    assert_string_equal(field(j, "id"), "6f1c1f4e-8f4c-4b8e-9d2a-3c1f0b7a9e11");
    assert_string_equal(field(j, "kind"), "migrate_failed");
    assert_string_equal(field(j, "role"), "migrate");
    assert_string_equal(field(j, "pod"), "bollard-migrate-x7k2p");
    assert_string_equal(field(j, "release"), "prod");
    assert_string_equal(field(j, "at"), "2026-12-04T00:00:00Z");
    assert_non_null(strstr(field(j, "reason"), "rolled back"));
    json_t *b = json_object_get(j, "bollard");
    assert_int_equal(json_integer_value(json_object_get(b, "exit_code")), 1);
    assert_null(json_object_get(b, "count"));
    json_decref(j);
}

static void test_payload_dead_letters(void **state)
{
    (void)state;
    struct alert_info a = {
        .kind = "dead_letters", .role = "worker", .pod = NULL, .release = NULL, .count = 3, .exit_code = -1};
    a.reason = "refused: <a> & b";
    json_t *j = parse(alert_payload(&a, "6f1c1f4e-8f4c-4b8e-9d2a-3c1f0b7a9e11", 0));
    const char *text = json_string_value(json_object_get(j, "text"));
    assert_non_null(strstr(text, "dead-lettered 3 webhook deliveries"));
    assert_non_null(strstr(text, "pod (unknown), release (unset)"));
    /* Slack markup in "text" escaped; the structured field keeps the text as it is */
    assert_non_null(strstr(text, "refused: &lt;a&gt; &amp; b"));
    assert_string_equal(field(j, "reason"), "refused: <a> & b");
    assert_string_equal(field(j, "pod"), "");
    assert_string_equal(field(j, "release"), "");
    json_t *b = json_object_get(j, "bollard");
    assert_int_equal(json_integer_value(json_object_get(b, "count")), 3);
    assert_null(json_object_get(b, "exit_code"));
    json_decref(j);

    a.count = 1;
    a.reason = NULL;
    j = parse(alert_payload(&a, "6f1c1f4e-8f4c-4b8e-9d2a-3c1f0b7a9e11", 0));
    text = json_string_value(json_object_get(j, "text"));
    assert_non_null(strstr(text, "dead-lettered 1 webhook delivery since"));
    assert_string_equal(field(j, "reason"), "unknown");
    json_decref(j);
}

static void test_payload_bounds_the_reason(void **state)
{
    (void)state;
    char reason[4000];
    memset(reason, '<', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    char pod[1000];
    memset(pod, 'p', sizeof(pod) - 1);
    pod[sizeof(pod) - 1] = '\0';
    struct alert_info a = {
        .kind = "migrate_failed", .role = "migrate", .pod = pod, .reason = reason, .exit_code = 4};
    char *text = alert_payload(&a, "6f1c1f4e-8f4c-4b8e-9d2a-3c1f0b7a9e11", 0);
    assert_non_null(text);
    assert_true(strlen(text) < 16000);
    json_t *j = parse(text);
    assert_true(strlen(field(j, "reason")) <= ALERT_REASON_MAX);
    json_decref(j);
}

static void test_limiter_one_per_interval_with_a_count(void **state)
{
    (void)state;
    struct alert_limiter l;
    alert_limiter_init(&l, 60);
    long long n = -1;
    uint64_t t0 = 1000000;
    assert_false(alert_limiter_take(&l, t0, &n));
    assert_int_equal(alert_limiter_due_in(&l, t0), -1);

    /* the first one at once */
    alert_limiter_note(&l, 1);
    assert_int_equal(alert_limiter_due_in(&l, t0), 0);
    assert_true(alert_limiter_take(&l, t0, &n));
    assert_int_equal(n, 1);
    assert_false(alert_limiter_take(&l, t0, &n));

    /* the next ones wait for the interval and are summed */
    alert_limiter_note(&l, 2);
    alert_limiter_note(&l, 0);
    alert_limiter_note(&l, -5);
    alert_limiter_note(&l, 3);
    assert_int_equal(alert_limiter_due_in(&l, t0 + 1000), 59000);
    assert_false(alert_limiter_take(&l, t0 + 59999, &n));
    assert_true(alert_limiter_take(&l, t0 + 60000, &n));
    assert_int_equal(n, 5);

    /* quiet for longer than the interval: the next one goes at once again */
    alert_limiter_note(&l, 1);
    assert_true(alert_limiter_take(&l, t0 + 500000, &n));
    assert_int_equal(n, 1);
    alert_limiter_note(&l, 4);
    assert_false(alert_limiter_take(&l, t0 + 500000 + 59000, &n));
    assert_true(alert_limiter_take(&l, t0 + 500000 + 61000, &n));
    assert_int_equal(n, 4);
    assert_int_equal(alert_limiter_due_in(&l, t0 + 500000 + 61000), -1);

    /* a nonsensical interval is one second */
    alert_limiter_init(&l, 0);
    alert_limiter_note(&l, 1);
    assert_true(alert_limiter_take(&l, 10, &n));
    alert_limiter_note(&l, 1);
    assert_false(alert_limiter_take(&l, 1009, &n));
    assert_true(alert_limiter_take(&l, 1010, &n));
}

static void test_uuid_v4(void **state)
{
    (void)state;
    char a[BASE_UUID_LEN + 1], b[BASE_UUID_LEN + 1];
    assert_true(base_uuid_v4(a));
    assert_true(base_uuid_v4(b));
    assert_true(base_uuid_is_valid(a, strlen(a)));
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    assert_string_not_equal(a, b);
    char lower[BASE_UUID_LEN + 1];
    base_uuid_lower(a, lower);
    assert_string_equal(a, lower);
}

/* Alerts off: every sender call accepts the NULL sender. */
static void test_sender_off_without_url(void **state)
{
    (void)state;
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.alert_min_interval_seconds = 60;
    struct alert_sender *s = alert_sender_new(&cfg, "worker");
    assert_null(s);
    alert_sender_note(s, 3, "x");
    alert_sender_tick(s, NULL, 0);
    assert_int_equal(alert_sender_next_ms(s, 0), -1);
    struct delivery_result res = {.user = NULL};
    assert_false(alert_sender_result(s, &res, 0));
    alert_sender_aborted(s);
    alert_sender_free(s);
    struct alert_info a = {.kind = "migrate_failed", .role = "migrate", .exit_code = 1};
    assert_false(alert_post_blocking(&cfg, &a, 5000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_migrate_failed),
        cmocka_unit_test(test_payload_dead_letters),
        cmocka_unit_test(test_payload_bounds_the_reason),
        cmocka_unit_test(test_limiter_one_per_interval_with_a_count),
        cmocka_unit_test(test_uuid_v4),
        cmocka_unit_test(test_sender_off_without_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
