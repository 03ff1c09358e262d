/* The assistant's routes (CONTRACT §8): POST /api/{user_id}/chat and /api/chat, and the user's
 * conversations. One chat message:
 *
 *   open (or create) the conversation → load its last CHAT_HISTORY_MESSAGES (never starting inside
 *   a tool exchange) → store the user's message → call the model (pkg/llm over pkg/outbound, on
 *   this loop, no blocking) → for each tool call run the tool (pkg/tools, the REST routes' store
 *   calls) → store the round (assistant tool calls + tool results, in one statement) → call again,
 *   at most CHAT_MAX_TOOL_ROUNDS times → store the answer → 200.
 *
 * Exactly one asynchronous step is pending at any time (a store call, a tool, or the provider
 * transfer); a client that goes away cancels it. Provider failures: 429 / 5xx / unreachable → 503
 * + Retry-After, an unusable answer → 502, LLM_TIMEOUT_MS spent → 504. The key never leaves
 * pkg/llm's header lines. */
#include "api/api_internal.h"
#include "config/config.h"
#include "llm/llm.h"
#include "log/log.h"
#include "outbound/outbound.h"
#include "tools/tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESSAGE_MAX       4000
#define TOOL_CALLS_MAX    16            /* per model answer; the rest get an error result */
#define TOOL_RESULT_MAX   (32 * 1024)   /* bytes of one tool result kept in the history */
#define PROVIDER_BODY_MAX (1024 * 1024) /* bytes of one provider answer */
#define RETRY_DEFAULT_S   5
#define MESSAGES_READ_MAX 200
#define DEFAULT_INSTRUCTIONS                                                                                 \
    "You help the user manage their todo list: add, list, complete, update and delete tasks with the "       \
    "tools. Find a task's id with list_tasks before changing it; never invent ids. Be brief."

enum pending { P_NONE, P_STORE, P_TOOL, P_LLM };

struct chat {
    struct http_exchange *ex;
    struct api_context *ctx;
    char user_id[BASE_UUID_LEN + 1];
    char conv_id[BASE_UUID_LEN + 1];
    bool has_conv;
    char *message;
    json_t *history;     /* earlier messages, provider format */
    json_t *turn;        /* this message's exchange so far, provider format */
    json_t *round_store; /* what the current round will append, store format */
    json_t *tool_log;    /* the response's tool_calls */
    struct llm_reply reply;
    size_t tool_index;
    int rounds;
    uint64_t deadline_ms;
    enum pending pending;
    store_handle store_call;
    struct tools_call *tool_call;
    struct outbound_transfer *transfer;
    bool sse;                  /* the client accepts text/event-stream */
    bool streaming;            /* the SSE response has started: failures are `error` events */
    struct llm_stream *parser; /* the current streamed provider answer */
    bool provider_error;       /* the stream carried an error object */
    char stream_why[BASE_WHY_MAX];
    uint64_t last_write_ms;
};

/* When this process first saw SIGTERM, as the chats' ticks noticed it (0: not yet). A streamed chat
 * still running SHUTDOWN_DEADLINE_MARGIN_MS before the shutdown deadline ends with an `error` event
 * rather than being cut by the process exit. */
static uint64_t shutdown_seen_ms;
#define SHUTDOWN_DEADLINE_MARGIN_MS 2500
#define KEEPALIVE_IDLE_MS           1000

static void chat_free(struct chat *c)
{
    c->ctx->chats_inflight--;
    llm_stream_free(c->parser);
    free(c->message);
    json_decref(c->history);
    json_decref(c->turn);
    json_decref(c->round_store);
    json_decref(c->tool_log);
    llm_reply_free(&c->reply);
    free(c);
}

static void cancel_pending(struct chat *c)
{
    switch (c->pending) {
    case P_STORE:
        store_cancel(c->ctx->store, c->store_call);
        break;
    case P_TOOL:
        tools_cancel(c->tool_call);
        break;
    case P_LLM:
        outbound_cancel(c->transfer); /* the provider's transfer ends with the client */
        break;
    case P_NONE:
        break;
    }
    c->pending = P_NONE;
}

static void on_chat_abandoned(struct http_exchange *ex)
{
    struct chat *c = ex->handler_data;
    cancel_pending(c);
    chat_free(c);
}

/* ---- the SSE reply ---- */

static void sse_event(struct chat *c, const char *event, json_t *data /* stolen */)
{
    char *text = data != NULL ? json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(data);
    if (text == NULL)
        return;
    size_t cap = strlen(event) + strlen(text) + 32;
    char *frame = malloc(cap);
    if (frame != NULL) {
        int n = snprintf(frame, cap, "event: %s\ndata: %s\n\n", event, text);
        http_stream_write(c->ex, frame, (size_t)n);
        c->last_write_ms = base_now_ms();
    }
    free(frame);
    free(text);
}

static void on_stream_text(void *arg, const char *text, size_t len)
{
    struct chat *c = arg;
    sse_event(c, "delta", json_pack("{s:s%}", "text", text, len));
}

static void chat_fail(struct chat *c, int status, const char *title, const char *detail, int retry_after_s);

/* About once a second while the stream is open: a keep-alive comment when nothing else was written
 * (a hang-up is noticed only by a failed write), and the shutdown deadline. */
static void chat_tick(struct http_exchange *ex)
{
    struct chat *c = ex->handler_data;
    uint64_t now = base_now_ms();
    if (*c->ctx->shutting_down) {
        uint64_t expected = 0;
        __atomic_compare_exchange_n(&shutdown_seen_ms, &expected, now, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
        uint64_t seen = __atomic_load_n(&shutdown_seen_ms, __ATOMIC_ACQUIRE);
        uint64_t limit = seen + (uint64_t)c->ctx->cfg->shutdown_timeout_seconds * 1000;
        if (now + SHUTDOWN_DEADLINE_MARGIN_MS >= limit) {
            cancel_pending(c);
            chat_fail(c, 503, "Service Unavailable",
                      "the server is shutting down; the message is stored, send it again", 1);
            return;
        }
    }
    if (now - c->last_write_ms >= KEEPALIVE_IDLE_MS) {
        http_stream_write(ex, ": keep-alive\n\n", 14);
        c->last_write_ms = now;
    }
}

static void chat_fail(struct chat *c, int status, const char *title, const char *detail, int retry_after_s)
{
    if (c->streaming) {
        json_t *p = json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title", title, "status", status,
                              "detail", detail);
        if (p != NULL && retry_after_s > 0)
            json_object_set_new(p, "retry_after", json_integer(retry_after_s));
        sse_event(c, "error", p);
        http_stream_end(c->ex);
        chat_free(c);
        return;
    }
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", retry_after_s);
        http_add_header(c->ex, "retry-after", v);
    }
    http_respond_problem(c->ex, status, title, detail, NULL);
    chat_free(c);
}

static void chat_store_failed(struct chat *c, enum store_status st)
{
    if (st == STORE_NOT_FOUND) {
        http_respond_problem(c->ex, 404, "Not Found", "no such conversation", NULL);
        chat_free(c);
        return;
    }
    if (c->streaming) {
        chat_fail(c, 503, "Service Unavailable", "the database is unavailable; retry shortly", 1);
        return;
    }
    api_respond_store_status(c->ex, st);
    chat_free(c);
}

/* ---- message shapes: store rows → Chat Completions messages ---- */

static json_t *provider_message(json_t *row)
{
    const char *role = json_string_value(json_object_get(row, "role"));
    json_t *content = json_object_get(row, "content");
    if (role == NULL)
        return NULL;
    if (strcmp(role, "tool") == 0)
        return json_pack("{s:s,s:O,s:O}", "role", "tool", "tool_call_id",
                         json_object_get(row, "tool_call_id"), "content", content);
    json_t *calls = json_object_get(row, "tool_calls");
    if (strcmp(role, "assistant") == 0 && json_array_size(calls) > 0) {
        json_t *list = json_array();
        size_t i;
        json_t *call;
        json_array_foreach (calls, i, call)
            json_array_append_new(list, json_pack("{s:O,s:s,s:{s:O,s:O}}", "id", json_object_get(call, "id"),
                                                  "type", "function", "function", "name",
                                                  json_object_get(call, "name"), "arguments",
                                                  json_object_get(call, "arguments")));
        /* "" rather than null for a message that only calls tools: both are OpenAI's, and some
         * compatible servers (llama-cpp-python's) refuse null there (tests/e2e_llm) */
        const char *text = json_string_value(content);
        return json_pack("{s:s,s:o,s:o}", "role", "assistant", "content",
                         json_string(text != NULL ? text : ""), "tool_calls", list);
    }
    return json_pack("{s:s,s:O}", "role", role, "content", content);
}

static json_t *system_message(const struct config *cfg)
{
    char now[32] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ (%A)", &tm);
    const char *instructions =
        cfg->agent_instructions != NULL ? cfg->agent_instructions : DEFAULT_INSTRUCTIONS;
    size_t cap = strlen(instructions) + strlen(cfg->agent_name) + 256;
    char *text = malloc(cap);
    if (text == NULL)
        return NULL;
    snprintf(text, cap,
             "You are %s, a todo assistant. %s\nThe current date and time is %s. Due dates are RFC 3339 "
             "date-times (e.g. 2030-01-31T17:00:00Z).",
             cfg->agent_name, instructions, now);
    json_t *m = json_pack("{s:s,s:s}", "role", "system", "content", text);
    free(text);
    return m;
}

/* ---- the model ---- */

static void call_model(struct chat *c);
static void run_next_tool(struct chat *c);

static int retry_seconds(const struct outbound_response *r)
{
    if (r->retry_after_ms < 0)
        return RETRY_DEFAULT_S;
    int s = (int)((r->retry_after_ms + 999) / 1000);
    return s < 1 ? 1 : s;
}

static void log_provider(struct chat *c, const char *what, const struct outbound_response *r)
{
    char msg[200] = "";
    if (r->body_len > 0)
        llm_error_message(r->body, r->body_len, c->ctx->cfg->chat_api_key, msg, sizeof(msg));
    log_write(LOG_WARN, c->ex->request_id, what,
              json_pack("{s:s,s:I,s:s,s:s}", "provider", config_llm_provider_name(c->ctx->cfg->llm_provider),
                        "http_status", (json_int_t)r->http_status, "error", r->error, "provider_message",
                        msg));
}

static void store_round(struct chat *c, store_cb cb)
{
    char *text = json_dumps(c->round_store, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        chat_fail(c, 500, "Internal Server Error", "out of memory", 0);
        return;
    }
    enum store_status immediate = STORE_OK;
    c->pending = P_STORE;
    c->store_call = store_messages_append(c->ctx->store, c->user_id, c->conv_id, text, cb, c, &immediate);
    free(text);
    if (c->store_call == NULL) {
        c->pending = P_NONE;
        chat_store_failed(c, immediate);
    }
}

static void on_answer_stored(void *arg, const struct store_result *r)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->store_call = NULL;
    if (r->status != STORE_OK) {
        chat_store_failed(c, r->status);
        return;
    }
    json_t *body = json_pack("{s:s,s:s,s:s,s:O}", "conversation_id", c->conv_id, "message_id", r->row_id,
                             "response", c->reply.content, "tool_calls", c->tool_log);
    if (c->streaming) {
        sse_event(c, "done", body);
        http_stream_end(c->ex);
        chat_free(c);
        return;
    }
    http_add_header(c->ex, "cache-control", "no-store");
    http_respond_json(c->ex, 200, body);
    chat_free(c);
}

static void on_round_stored(void *arg, const struct store_result *r)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->store_call = NULL;
    if (r->status != STORE_OK) {
        chat_store_failed(c, r->status);
        return;
    }
    json_array_clear(c->round_store);
    call_model(c);
}

static void on_model_answer(void *arg, const struct outbound_response *r)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->transfer = NULL;
    if (r->status == OUTBOUND_TIMEOUT) {
        log_provider(c, "chat provider call timed out", r);
        chat_fail(c, 504, "Gateway Timeout", "the model did not answer within LLM_TIMEOUT_MS", 0);
        return;
    }
    if (r->status == OUTBOUND_CONNECT_FAILED) {
        log_provider(c, "chat provider unreachable", r);
        chat_fail(c, 503, "Service Unavailable", "the model provider is unreachable; retry later",
                  RETRY_DEFAULT_S);
        return;
    }
    if (r->status == OUTBOUND_ABORTED) { /* the stream parser stopped it */
        struct outbound_response copy = *r;
        base_one_line(c->stream_why, copy.error, sizeof(copy.error));
        log_provider(c, "chat provider answer unusable", &copy);
        chat_fail(c, 502, "Bad Gateway",
                  c->provider_error ? "the model provider failed while answering"
                                    : "the model provider's answer was not usable",
                  0);
        return;
    }
    if (r->status != OUTBOUND_OK) {
        log_provider(c, "chat provider answer unusable", r);
        chat_fail(c, 502, "Bad Gateway", "the model provider's answer was cut off or unusable", 0);
        return;
    }
    if (r->http_status == 429 || r->http_status >= 500) {
        log_provider(c, "chat provider refused for now", r);
        chat_fail(c, 503, "Service Unavailable",
                  r->http_status == 429 ? "the model provider is rate-limiting; retry after the given delay"
                                        : "the model provider failed; retry later",
                  retry_seconds(r));
        return;
    }
    if (r->http_status < 200 || r->http_status >= 300) {
        log_provider(c, "chat provider rejected the request", r);
        chat_fail(c, 502, "Bad Gateway", "the model provider rejected the request (check the key and model)",
                  0);
        return;
    }
    char why[BASE_WHY_MAX] = "";
    bool provider_error = false;
    llm_reply_free(&c->reply);
    bool parsed = c->parser != NULL ? llm_stream_finish(c->parser, &c->reply, why, sizeof(why))
                                    : llm_parse_completion(r->body, r->body_len, &c->reply, &provider_error,
                                                           why, sizeof(why));
    llm_stream_free(c->parser);
    c->parser = NULL;
    if (!parsed) {
        struct outbound_response copy = *r;
        base_one_line(why, copy.error, sizeof(copy.error));
        log_provider(c, "chat provider answer unusable", &copy);
        chat_fail(c, 502, "Bad Gateway", "the model provider's answer was not usable", 0);
        return;
    }
    size_t n_calls = json_array_size(c->reply.tool_calls);
    if (n_calls > 0 && c->rounds < c->ctx->cfg->chat_max_tool_rounds) {
        c->rounds++;
        json_t *row = json_pack("{s:s,s:s,s:O}", "role", "assistant", "content", c->reply.content,
                                "tool_calls", c->reply.tool_calls);
        json_t *msg = row != NULL ? provider_message(row) : NULL;
        if (msg == NULL || json_array_append_new(c->turn, msg) != 0 ||
            json_array_append(c->round_store, row) != 0) {
            json_decref(row);
            chat_fail(c, 500, "Internal Server Error", "out of memory", 0);
            return;
        }
        json_decref(row);
        c->tool_index = 0;
        run_next_tool(c);
        return;
    }
    /* the answer (a model that still asks for tools past the limit gets its text taken as it is) */
    json_array_append_new(c->round_store,
                          json_pack("{s:s,s:s}", "role", "assistant", "content", c->reply.content));
    store_round(c, on_answer_stored);
}

static void on_tool_done(void *arg, bool is_error, json_t *result)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->tool_call = NULL;
    json_t *call = json_array_get(c->reply.tool_calls, c->tool_index);
    const char *id = json_string_value(json_object_get(call, "id"));
    const char *args_text = json_string_value(json_object_get(call, "arguments"));
    char *text = result != NULL ? json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL && strlen(text) > TOOL_RESULT_MAX) {
        free(text);
        text = strdup("{\"error\":\"the result is too large; ask for fewer tasks (limit)\"}");
        is_error = true;
    }
    if (text == NULL) {
        json_decref(result);
        chat_fail(c, 500, "Internal Server Error", "out of memory", 0);
        return;
    }
    json_t *args = args_text != NULL ? json_loads(args_text, 0, NULL) : NULL;
    json_array_append_new(
        c->tool_log, json_pack("{s:s,s:O,s:o,s:o,s:b}", "id", id, "name", json_object_get(call, "name"),
                               "arguments", args != NULL ? args : json_string(args_text ? args_text : ""),
                               "result", result != NULL ? result : json_null(), "is_error", is_error));
    if (c->streaming)
        sse_event(c, "tool_result",
                  json_incref(json_array_get(c->tool_log, json_array_size(c->tool_log) - 1)));
    json_array_append_new(c->turn,
                          json_pack("{s:s,s:s,s:s}", "role", "tool", "tool_call_id", id, "content", text));
    json_array_append_new(c->round_store,
                          json_pack("{s:s,s:s,s:s}", "role", "tool", "tool_call_id", id, "content", text));
    free(text);
    c->tool_index++;
    run_next_tool(c);
}

static void run_next_tool(struct chat *c)
{
    size_t n = json_array_size(c->reply.tool_calls);
    if (c->tool_index >= n) {
        store_round(c, on_round_stored);
        return;
    }
    json_t *call = json_array_get(c->reply.tool_calls, c->tool_index);
    if (c->tool_index >= TOOL_CALLS_MAX) {
        on_tool_done(c, true, json_pack("{s:s}", "error", "too many tool calls in one answer"));
        return;
    }
    const char *args = json_string_value(json_object_get(call, "arguments"));
    if (c->streaming)
        sse_event(c, "tool_call",
                  json_pack("{s:O,s:O,s:O}", "id", json_object_get(call, "id"), "name",
                            json_object_get(call, "name"), "arguments", json_object_get(call, "arguments")));
    c->pending = P_TOOL;
    /* A tool that finishes at once has called on_tool_done already (which may have moved on, or
     * answered and freed the chat): only a handle still in flight is recorded. */
    struct tools_call *h =
        tools_run(c->ctx->store, c->user_id, json_string_value(json_object_get(call, "name")), args,
                  args != NULL ? strlen(args) : 0, on_tool_done, c);
    if (h != NULL)
        c->tool_call = h;
}

/* The streamed answer's bytes, inside curl: no outbound_* call here (returning false aborts). */
static bool on_model_data(void *arg, const char *data, size_t len)
{
    struct chat *c = arg;
    return llm_stream_feed(c->parser, data, len, &c->provider_error, c->ctx->cfg->chat_api_key, c->stream_why,
                           sizeof(c->stream_why));
}

static void call_model(struct chat *c)
{
    const struct config *cfg = c->ctx->cfg;
    uint64_t now = base_now_ms();
    if (now >= c->deadline_ms) {
        chat_fail(c, 504, "Gateway Timeout", "the model did not answer within LLM_TIMEOUT_MS", 0);
        return;
    }
    json_t *messages = json_array();
    json_t *system = system_message(cfg);
    json_t *tools = tools_chat_json();
    if (messages == NULL || system == NULL || tools == NULL || json_array_append_new(messages, system) != 0 ||
        json_array_extend(messages, c->history) != 0 || json_array_extend(messages, c->turn) != 0) {
        json_decref(messages);
        json_decref(tools);
        chat_fail(c, 500, "Internal Server Error", "out of memory", 0);
        return;
    }
    bool tools_allowed = c->rounds < cfg->chat_max_tool_rounds;
    size_t body_len = 0;
    char *body = llm_request_body(cfg, messages, tools, tools_allowed, c->sse, &body_len);
    json_decref(messages);
    json_decref(tools);
    char url[2048];
    snprintf(url, sizeof(url), "%s/chat/completions", cfg->chat_base_url);
    char *headers[LLM_HEADERS_MAX] = {0};
    size_t n_headers = llm_headers(cfg, c->sse, headers);
    bool ok = body != NULL;
    for (size_t i = 0; i < n_headers; i++)
        ok = ok && headers[i] != NULL;
    struct outbound_request req = {
        .url = url,
        .headers = (const char *const *)headers,
        .n_headers = n_headers,
        .body = body,
        .body_len = body_len,
        .timeout_ms = (int)(c->deadline_ms - now),
        .max_response_bytes = PROVIDER_BODY_MAX,
        .on_data = c->sse ? on_model_data : NULL,
        .on_done = on_model_answer,
        .arg = c,
    };
    if (c->sse) {
        llm_stream_free(c->parser);
        c->parser = llm_stream_new(on_stream_text, c);
        ok = ok && c->parser != NULL;
        if (ok && !c->streaming) {
            /* from here on the reply is a 200 stream; later failures are `error` events */
            http_add_header(c->ex, "cache-control", "no-store");
            c->streaming = http_stream_start(c->ex, 200, "text/event-stream", chat_tick);
            c->last_write_ms = now;
        }
    }
    bool busy = false;
    char why[BASE_WHY_MAX] = "";
    c->transfer = ok ? outbound_start(c->ctx->outbound, &req, &busy, why, sizeof(why)) : NULL;
    llm_headers_free(headers, n_headers);
    free(body);
    if (c->transfer == NULL) {
        if (busy)
            chat_fail(c, 503, "Service Unavailable", "too many chats in flight; retry shortly", 1);
        else
            chat_fail(c, 500, "Internal Server Error", "cannot call the model provider", 0);
        return;
    }
    c->pending = P_LLM;
}

/* ---- the first steps: conversation, history, the user's message ---- */

static void on_user_stored(void *arg, const struct store_result *r)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->store_call = NULL;
    if (r->status != STORE_OK) {
        chat_store_failed(c, r->status);
        return;
    }
    json_array_clear(c->round_store);
    call_model(c);
}

static void store_user_message(struct chat *c)
{
    json_t *user = json_pack("{s:s,s:s}", "role", "user", "content", c->message);
    if (user == NULL || json_array_append(c->turn, user) != 0 ||
        json_array_append_new(c->round_store, user) != 0) {
        chat_fail(c, 500, "Internal Server Error", "out of memory", 0);
        return;
    }
    store_round(c, on_user_stored); /* stored before the provider is called */
}

static void on_history(void *arg, const struct store_result *r)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->store_call = NULL;
    if (r->status != STORE_OK) {
        chat_store_failed(c, r->status);
        return;
    }
    json_t *rows = json_loadb(r->json, r->json_len, 0, NULL);
    size_t i, start = 0;
    json_t *row;
    /* The window may begin inside a tool exchange: its tool results without the assistant message
     * that asked for them would be refused by the provider, so they are left out. */
    while (start < json_array_size(rows) &&
           strcmp(json_string_value(json_object_get(json_array_get(rows, start), "role")) ?: "", "tool") == 0)
        start++;
    json_array_foreach (rows, i, row) {
        if (i < start)
            continue;
        json_t *m = provider_message(row);
        if (m != NULL)
            json_array_append_new(c->history, m);
    }
    json_decref(rows);
    store_user_message(c);
}

static void on_opened(void *arg, const struct store_result *r)
{
    struct chat *c = arg;
    c->pending = P_NONE;
    c->store_call = NULL;
    if (r->status != STORE_OK) {
        chat_store_failed(c, r->status);
        return;
    }
    snprintf(c->conv_id, sizeof(c->conv_id), "%s", r->row_id);
    if (!c->has_conv || c->ctx->cfg->chat_history_messages == 0) {
        store_user_message(c);
        return;
    }
    enum store_status immediate = STORE_OK;
    c->pending = P_STORE;
    c->store_call = store_messages_recent(c->ctx->store, c->user_id, c->conv_id,
                                          c->ctx->cfg->chat_history_messages, on_history, c, &immediate);
    if (c->store_call == NULL) {
        c->pending = P_NONE;
        chat_store_failed(c, immediate);
    }
}

/* 401, 403 for another user's path; false when answered. */
static bool chat_user(struct http_exchange *ex, bool user_in_path, char user_id[BASE_UUID_LEN + 1])
{
    if (!api_authenticate(ex, user_id))
        return false;
    if (user_in_path) {
        h2o_iovec_t p = ex->params[0];
        if (p.len != BASE_UUID_LEN || strncasecmp(p.base, user_id, BASE_UUID_LEN) != 0) {
            http_respond_problem(ex, 403, "Forbidden", "this is not your assistant", NULL);
            return false;
        }
    }
    return true;
}

static void chat(struct http_exchange *ex, bool user_in_path)
{
    struct api_context *ctx = api_ctx(ex);
    const struct config *cfg = ctx->cfg;
    char user_id[BASE_UUID_LEN + 1];
    if (!chat_user(ex, user_in_path, user_id))
        return;
    if (cfg->llm_provider == CONFIG_LLM_NONE || ctx->outbound == NULL) {
        http_respond_problem(
            ex, 503, "Service Unavailable",
            "the assistant is not configured: set LLM_PROVIDER (GROQ, OPENROUTER or OPENAI) and "
            "its key (GROQ_API_KEY, OPENROUTER_API_KEY) or LLM_BASE_URL and LLM_MODEL",
            NULL);
        return;
    }
    json_t *body = api_read_json_object(ex);
    if (body == NULL)
        return;
    struct api_errors errors = {0};
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (strcmp(key, "message") != 0 && strcmp(key, "conversation_id") != 0)
            api_errors_add(&errors, key, "unknown field");
    }
    json_t *message = json_object_get(body, "message");
    json_t *conv = json_object_get(body, "conversation_id");
    if (!json_is_string(message))
        api_errors_add(&errors, "message", "is required and must be a string");
    else {
        size_t n = api_utf8_length(json_string_value(message), json_string_length(message));
        if (n < 1 || n > MESSAGE_MAX)
            api_errors_add(&errors, "message", "must be 1 to 4000 characters");
    }
    if (conv != NULL && !json_is_null(conv) &&
        (!json_is_string(conv) || !base_uuid_is_valid(json_string_value(conv), json_string_length(conv))))
        api_errors_add(&errors, "conversation_id", "must be a UUID or null");
    if (api_errors_respond(ex, &errors)) {
        json_decref(body);
        return;
    }
    if (ctx->chats_inflight >= (size_t)cfg->chat_max_inflight) {
        json_decref(body);
        http_add_header(ex, "retry-after", "1");
        http_respond_problem(ex, 503, "Service Unavailable", "too many chats in flight; retry shortly", NULL);
        return;
    }
    struct chat *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_decref(body);
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    ctx->chats_inflight++;
    c->ex = ex;
    c->ctx = ctx;
    c->deadline_ms = base_now_ms() + (uint64_t)cfg->llm_timeout_ms;
    memcpy(c->user_id, user_id, sizeof(c->user_id));
    c->message = strdup(json_string_value(message));
    c->has_conv = json_is_string(conv);
    ssize_t accept = h2o_find_header(&ex->req->headers, H2O_TOKEN_ACCEPT, -1);
    c->sse = accept >= 0 && h2o_strstr(ex->req->headers.entries[accept].value.base,
                                       ex->req->headers.entries[accept].value.len,
                                       H2O_STRLIT("text/event-stream")) != SIZE_MAX;
    if (c->has_conv)
        base_uuid_lower(json_string_value(conv), c->conv_id);
    json_decref(body);
    c->history = json_array();
    c->turn = json_array();
    c->round_store = json_array();
    c->tool_log = json_array();
    if (c->message == NULL || c->history == NULL || c->turn == NULL || c->round_store == NULL ||
        c->tool_log == NULL) {
        chat_fail(c, 503, "Service Unavailable", "out of memory", 0);
        return;
    }
    ex->handler_data = c;
    ex->on_abandon = on_chat_abandoned;
    enum store_status immediate = STORE_OK;
    c->pending = P_STORE;
    c->store_call = store_conversation_open(ctx->store, c->user_id, c->has_conv ? c->conv_id : NULL,
                                            on_opened, c, &immediate);
    if (c->store_call == NULL) {
        c->pending = P_NONE;
        chat_store_failed(c, immediate);
    }
}

void api_chat(struct http_exchange *ex)
{
    chat(ex, false);
}

void api_user_chat(struct http_exchange *ex)
{
    chat(ex, true);
}

/* ---- conversations: list, read, delete ---- */

struct conv_req {
    struct http_exchange *ex;
    store_handle call;
    int kind; /* 0 list, 1 messages, 2 delete */
};

static void on_conv_abandoned(struct http_exchange *ex)
{
    struct conv_req *r = ex->handler_data;
    if (r->call != NULL)
        store_cancel(api_ctx(ex)->store, r->call);
}

static void on_conv_result(void *arg, const struct store_result *res)
{
    struct conv_req *r = arg;
    r->call = NULL;
    struct http_exchange *ex = r->ex;
    if (res->status == STORE_NOT_FOUND) {
        http_respond_problem(ex, 404, "Not Found", "no such conversation", NULL);
        return;
    }
    if (res->status != STORE_OK) {
        api_respond_store_status(ex, res->status);
        return;
    }
    if (r->kind == 2) {
        http_respond(ex, 204, NULL, "", 0);
        return;
    }
    json_t *items = json_loadb(res->json, res->json_len, 0, NULL);
    json_t *body = r->kind == 0
                       ? json_pack("{s:o,s:o}", "items", items != NULL ? items : json_array(), "next_cursor",
                                   res->next_cursor != NULL ? json_string(res->next_cursor) : json_null())
                       : json_pack("{s:o}", "items", items != NULL ? items : json_array());
    http_respond_json(ex, 200, body);
}

static struct conv_req *conv_begin(struct http_exchange *ex, int kind, char user_id[BASE_UUID_LEN + 1],
                                   char conv_id[BASE_UUID_LEN + 1])
{
    if (!chat_user(ex, true, user_id))
        return NULL;
    if (kind != 0) {
        h2o_iovec_t p = ex->params[1];
        if (!base_uuid_is_valid(p.base, p.len)) {
            http_respond_problem(ex, 404, "Not Found", "no such conversation", NULL);
            return NULL;
        }
        base_uuid_lower(p.base, conv_id);
    }
    struct conv_req *r = h2o_mem_alloc_pool(&ex->req->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->ex = ex;
    r->kind = kind;
    ex->handler_data = r;
    ex->on_abandon = on_conv_abandoned;
    return r;
}

static void conv_submitted(struct conv_req *r, store_handle h, enum store_status immediate)
{
    r->call = h;
    if (h == NULL)
        api_respond_store_status(r->ex, immediate);
}

void api_conversations_list(struct http_exchange *ex)
{
    char user_id[BASE_UUID_LEN + 1];
    struct conv_req *r = conv_begin(ex, 0, user_id, NULL);
    if (r == NULL)
        return;
    struct api_page_query page;
    if (!api_read_page_query(ex, false, &page))
        return;
    enum store_status immediate = STORE_OK;
    store_handle h =
        store_conversation_list(api_ctx(ex)->store, user_id, page.cursor[0] != '\0' ? page.cursor : NULL,
                                page.limit, on_conv_result, r, &immediate);
    conv_submitted(r, h, immediate);
}

void api_conversation_messages(struct http_exchange *ex)
{
    char user_id[BASE_UUID_LEN + 1], conv_id[BASE_UUID_LEN + 1];
    struct conv_req *r = conv_begin(ex, 1, user_id, conv_id);
    if (r == NULL)
        return;
    enum store_status immediate = STORE_OK;
    store_handle h = store_messages_recent(api_ctx(ex)->store, user_id, conv_id, MESSAGES_READ_MAX,
                                           on_conv_result, r, &immediate);
    conv_submitted(r, h, immediate);
}

void api_conversation_delete(struct http_exchange *ex)
{
    char user_id[BASE_UUID_LEN + 1], conv_id[BASE_UUID_LEN + 1];
    struct conv_req *r = conv_begin(ex, 2, user_id, conv_id);
    if (r == NULL)
        return;
    enum store_status immediate = STORE_OK;
    store_handle h =
        store_conversation_delete(api_ctx(ex)->store, user_id, conv_id, on_conv_result, r, &immediate);
    conv_submitted(r, h, immediate);
}
