/* llm: the streamed-answer parser against the wire formats providers send (any split of the bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "llm/llm.h"

struct seen {
    char text[256];
};

static void on_text(void *arg, const char *t, size_t n)
{
    struct seen *s = arg;
    strncat(s->text, t, n);
}

/* Feeds `wire` in pieces of `step` bytes; returns the finish result. */
static bool run(const char *wire, size_t step, struct seen *seen, struct llm_reply *r, bool *perr, char *why)
{
    struct llm_stream *s = llm_stream_new(on_text, seen);
    assert_non_null(s);
    size_t n = strlen(wire);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i += step)
        ok = llm_stream_feed(s, wire + i, i + step <= n ? step : n - i, perr, "SECRETKEY", why, 200);
    if (ok)
        ok = llm_stream_finish(s, r, why, 200);
    llm_stream_free(s);
    return ok;
}

#define CHUNK(delta) "data: {\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":null}]}\n\n"

static const char split_tools[] =
    ": OPENROUTER PROCESSING\n\n" CHUNK("{\"role\":\"assistant\",\"content\":\"\"}")
        CHUNK("{\"content\":\"Hel\"}") CHUNK("{\"content\":\"lo\"}")
            CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{"
                  "\"name\":"
                  "\"add_task\",\"arguments\":\"\"}}]}")
                CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{"
                      "\"arguments\":\"{\\\"title\\\"\"}}]}") ": keep-alive\r\n\r\n" CHUNK("{\"tool_calls\":["
                                                                                           "{\"index\":0,"
                                                                                           "\"function\":{"
                                                                                           "\"arguments\":\":"
                                                                                           " \\\"x\\\"}\"}}]"
                                                                                           "}") "data: "
                                                                                                "{\"choices\""
                                                                                                ":[{"
                                                                                                "\"index\":0,"
                                                                                                "\"delta\":{}"
                                                                                                ",\"finish_"
                                                                                                "reason\":"
                                                                                                "\"tool_"
                                                                                                "calls\"}]}"
                                                                                                "\r\n\r\n"
                                                                                                "data: "
                                                                                                "[DONE]\n\n";

static void test_split_tool_deltas_any_split(void **state)
{
    (void)state;
    for (size_t step = 1; step <= sizeof(split_tools); step += 3) {
        struct seen seen = {""};
        struct llm_reply r;
        bool perr = false;
        char why[200] = "";
        assert_true(run(split_tools, step, &seen, &r, &perr, why));
        assert_string_equal(seen.text, "Hello");
        assert_string_equal(r.content, "Hello");
        assert_string_equal(r.finish_reason, "tool_calls");
        assert_int_equal(json_array_size(r.tool_calls), 1);
        json_t *c = json_array_get(r.tool_calls, 0);
        assert_string_equal(json_string_value(json_object_get(c, "id")), "call_1");
        assert_string_equal(json_string_value(json_object_get(c, "name")), "add_task");
        assert_string_equal(json_string_value(json_object_get(c, "arguments")), "{\"title\": \"x\"}");
        llm_reply_free(&r);
    }
}

static void test_llamacpp_repeats_id_and_name(void **state)
{
    (void)state;
    const char *wire = CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"c9\",\"type\":\"function\",\"function\":"
                             "{\"name\":\"list_tasks\","
                             "\"arguments\":\"{\\\"st\"}}]}")
        CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"c9\",\"type\":\"function\","
              "\"function\":{\"name\":\"list_tasks\",\"arguments\":\"atus\\\": "
              "1}\"}}]}") "data: [DONE]\n\n";
    struct seen seen = {""};
    struct llm_reply r;
    bool perr = false;
    char why[200] = "";
    assert_true(run(wire, 5, &seen, &r, &perr, why));
    json_t *c = json_array_get(r.tool_calls, 0);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "list_tasks");
    assert_string_equal(json_string_value(json_object_get(c, "arguments")), "{\"status\": 1}");
    llm_reply_free(&r);
}

static void test_error_in_200_stream_and_cut_off(void **state)
{
    (void)state;
    struct seen seen = {""};
    struct llm_reply r;
    bool perr = false;
    char why[200] = "";
    assert_false(run(
        CHUNK("{\"content\":\"a\"}") "data: {\"error\":{\"message\":\"boom SECRETKEY\",\"code\":502}}\n\n", 7,
        &seen, &r, &perr, why));
    assert_true(perr);
    assert_non_null(strstr(why, "boom"));
    assert_null(strstr(why, "SECRETKEY"));
    perr = false;
    assert_false(run(CHUNK("{\"content\":\"a\"}"), 4, &seen, &r, &perr, why)); /* no [DONE], no finish */
    assert_false(perr);
    assert_false(run("data: not json\n\n", 4, &seen, &r, &perr, why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_tool_deltas_any_split),
        cmocka_unit_test(test_llamacpp_repeats_id_and_name),
        cmocka_unit_test(test_error_in_200_stream_and_cut_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
