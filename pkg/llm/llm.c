/* pkg/llm: Chat Completions requests and answers (see llm.h). */
#include "llm/llm.h"
#include "base/base.h"
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static char *line(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s: %s", name, value);
    return s;
}

size_t llm_headers(const struct config *cfg, bool stream, char *out[LLM_HEADERS_MAX])
{
    size_t n = 0;
    out[n++] = line("Content-Type", "application/json");
    out[n++] = line("Accept", stream ? "text/event-stream" : "application/json");
    if (cfg->chat_api_key != NULL && cfg->chat_api_key[0] != '\0') {
        size_t cap = strlen(cfg->chat_api_key) + 32;
        out[n] = malloc(cap);
        if (out[n] != NULL)
            snprintf(out[n], cap, "Authorization: Bearer %s", cfg->chat_api_key);
        n++;
    }
    if (cfg->llm_provider == CONFIG_LLM_OPENROUTER && cfg->openrouter_referer != NULL)
        out[n++] = line("HTTP-Referer", cfg->openrouter_referer);
    if (cfg->llm_provider == CONFIG_LLM_OPENROUTER && cfg->openrouter_title != NULL)
        out[n++] = line("X-Title", cfg->openrouter_title);
    return n;
}

void llm_headers_free(char *h[LLM_HEADERS_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i] != NULL)
            OPENSSL_cleanse(h[i], strlen(h[i]));
        free(h[i]);
        h[i] = NULL;
    }
}

char *llm_request_body(const struct config *cfg, json_t *messages, json_t *tools, bool tools_allowed,
                       bool stream, size_t *len)
{
    json_t *body = json_pack("{s:s,s:O,s:i,s:f}", "model", cfg->chat_model, "messages", messages,
                             "max_tokens", cfg->max_tokens, "temperature", cfg->temperature);
    if (body == NULL)
        return NULL;
    if (tools != NULL && json_array_size(tools) > 0) {
        json_object_set(body, "tools", tools);
        json_object_set_new(body, "tool_choice", json_string(tools_allowed ? "auto" : "none"));
    }
    if (stream)
        json_object_set_new(body, "stream", json_true());
    /* 15 significant digits: TEMPERATURE=0.7 is sent as 0.7, not jansson's default 0.69999999999999996 */
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (text != NULL && len != NULL)
        *len = strlen(text);
    return text;
}

void llm_reply_free(struct llm_reply *r)
{
    free(r->content);
    json_decref(r->tool_calls);
    memset(r, 0, sizeof(*r));
}

bool llm_parse_completion(const char *body, size_t len, struct llm_reply *out, bool *provider_error,
                          char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    *provider_error = false;
    json_error_t err;
    json_t *doc = json_loadb(body, len, 0, &err);
    if (!json_is_object(doc)) {
        base_why(why, cap, "the provider's answer is not a JSON object");
        json_decref(doc);
        return false;
    }
    if (json_object_get(doc, "error") != NULL) {
        *provider_error = true; /* OpenRouter: errors can come with HTTP 200 */
        base_why(why, cap, "the provider answered with an error");
        json_decref(doc);
        return false;
    }
    json_t *choice = json_array_get(json_object_get(doc, "choices"), 0);
    json_t *message = json_object_get(choice, "message");
    if (!json_is_object(message)) {
        base_why(why, cap, "the provider's answer has no choices[0].message");
        json_decref(doc);
        return false;
    }
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    snprintf(out->finish_reason, sizeof(out->finish_reason), "%s", finish != NULL ? finish : "");
    const char *content = json_string_value(json_object_get(message, "content"));
    out->content = strdup(content != NULL ? content : "");
    out->tool_calls = json_array();
    json_t *calls = json_object_get(message, "tool_calls");
    size_t i;
    json_t *call;
    bool ok = out->content != NULL && out->tool_calls != NULL;
    json_array_foreach (calls, i, call) {
        json_t *fn = json_object_get(call, "function");
        const char *id = json_string_value(json_object_get(call, "id"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *args = json_object_get(fn, "arguments");
        if (id == NULL || name == NULL) {
            base_why(why, cap, "a tool call without id or name");
            ok = false;
            break;
        }
        /* arguments is a JSON string by the spec; some servers send the object itself */
        char *args_text = json_is_string(args) ? strdup(json_string_value(args))
                          : args != NULL       ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY)
                                               : strdup("");
        if (args_text == NULL ||
            json_array_append_new(out->tool_calls, json_pack("{s:s,s:s,s:s}", "id", id, "name", name,
                                                             "arguments", args_text)) != 0) {
            free(args_text);
            ok = false;
            break;
        }
        free(args_text);
    }
    json_decref(doc);
    if (!ok) {
        if (why != NULL && why[0] == '\0')
            base_why(why, cap, "out of memory");
        llm_reply_free(out);
    }
    return ok;
}

void llm_error_message(const char *body, size_t len, const char *secret, char *out, size_t cap)
{
    json_t *doc = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *msg =
        json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "message"));
    base_one_line(msg != NULL ? msg : "", out, cap);
    json_decref(doc);
    if (secret != NULL && strlen(secret) >= 4) {
        char *p;
        size_t sl = strlen(secret);
        while ((p = strstr(out, secret)) != NULL) {
            memset(p, '*', sl);
        }
    }
}

/* ---- streamed answers ---- */

struct stream_call {
    char *id, *name;
    char *args;
    size_t args_len, args_cap;
};

struct llm_stream {
    llm_text_fn on_text;
    void *arg;
    char *line; /* the line being read */
    size_t line_len, line_cap;
    char *data; /* the event's data field so far */
    size_t data_len, data_cap;
    bool have_data, after_cr, done, failed;
    char *text;
    size_t text_len, text_cap, total;
    struct stream_call calls[LLM_STREAM_CALLS_MAX];
    size_t n_calls;
    char finish_reason[32];
};

struct llm_stream *llm_stream_new(llm_text_fn on_text, void *arg)
{
    struct llm_stream *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->on_text = on_text;
        s->arg = arg;
    }
    return s;
}

void llm_stream_free(struct llm_stream *s)
{
    if (s == NULL)
        return;
    free(s->line);
    free(s->data);
    free(s->text);
    for (size_t i = 0; i < s->n_calls; i++) {
        free(s->calls[i].id);
        free(s->calls[i].name);
        free(s->calls[i].args);
    }
    free(s);
}

/* Appends n bytes to *buf (len/cap), keeping a terminating NUL. */
static bool append(char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t max)
{
    if (*len + n + 1 > max)
        return false;
    if (*len + n + 1 > *cap) {
        size_t c = *cap > 0 ? *cap : 256;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (b == NULL)
            return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static bool stream_text(struct llm_stream *s, const char *p, size_t n, char *why, size_t cap)
{
    if (s->total + n > LLM_STREAM_TEXT_MAX) {
        base_why(why, cap, "the streamed answer is too large");
        return false;
    }
    if (!append(&s->text, &s->text_len, &s->text_cap, p, n, SIZE_MAX)) {
        base_why(why, cap, "out of memory");
        return false;
    }
    s->total += n;
    if (s->on_text != NULL && n > 0)
        s->on_text(s->arg, p, n);
    return true;
}

static bool stream_tool_delta(struct llm_stream *s, json_t *d, size_t position, char *why, size_t cap)
{
    json_t *index = json_object_get(d, "index");
    size_t i = json_is_integer(index) ? (size_t)json_integer_value(index) : position;
    if (json_is_integer(index) && json_integer_value(index) < 0)
        i = LLM_STREAM_CALLS_MAX;
    if (i >= LLM_STREAM_CALLS_MAX) {
        base_why(why, cap, "too many tool calls in one streamed answer");
        return false;
    }
    while (s->n_calls <= i)
        s->n_calls++;
    struct stream_call *c = &s->calls[i];
    const char *id = json_string_value(json_object_get(d, "id"));
    json_t *fn = json_object_get(d, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    json_t *args = json_object_get(fn, "arguments");
    if (id != NULL && id[0] != '\0' && c->id == NULL && (c->id = strdup(id)) == NULL)
        goto oom;
    /* the name comes whole in one delta; llama.cpp repeats it in every one, so it is never appended */
    if (name != NULL && name[0] != '\0' && c->name == NULL && (c->name = strdup(name)) == NULL)
        goto oom;
    if (json_is_string(args)) {
        size_t n = json_string_length(args);
        if (s->total + n > LLM_STREAM_TEXT_MAX) {
            base_why(why, cap, "the streamed answer is too large");
            return false;
        }
        if (!append(&c->args, &c->args_len, &c->args_cap, json_string_value(args), n, SIZE_MAX))
            goto oom;
        s->total += n;
    } else if (args != NULL && !json_is_null(args)) {
        char *text = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY); /* some servers send the object */
        bool ok = text != NULL && append(&c->args, &c->args_len, &c->args_cap, text, strlen(text), SIZE_MAX);
        free(text);
        if (!ok)
            goto oom;
    }
    return true;
oom:
    base_why(why, cap, "out of memory");
    return false;
}

static bool stream_event(struct llm_stream *s, bool *provider_error, const char *secret, char *why,
                         size_t cap)
{
    const char *data = s->data != NULL ? s->data : "";
    size_t len = s->data_len;
    s->data_len = 0;
    s->have_data = false;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = true;
        return true;
    }
    json_t *doc = json_loadb(data, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        base_why(why, cap, "a streamed chunk is not a JSON object");
        return false;
    }
    if (json_object_get(doc, "error") != NULL) {
        char msg[200];
        llm_error_message(data, len, secret, msg, sizeof(msg));
        base_why(why, cap, "the provider's stream ended with an error: %s", msg);
        *provider_error = true;
        json_decref(doc);
        return false;
    }
    bool ok = true;
    json_t *choice = json_array_get(json_object_get(doc, "choices"), 0);
    json_t *delta = json_object_get(choice, "delta");
    json_t *content = json_object_get(delta, "content");
    if (json_is_string(content))
        ok = stream_text(s, json_string_value(content), json_string_length(content), why, cap);
    json_t *calls = json_object_get(delta, "tool_calls");
    size_t i;
    json_t *d;
    json_array_foreach (calls, i, d) {
        if (!ok)
            break;
        ok = stream_tool_delta(s, d, i, why, cap);
    }
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish != NULL)
        snprintf(s->finish_reason, sizeof(s->finish_reason), "%s", finish);
    json_decref(doc);
    return ok;
}

/* One line of the event stream, without its end (WHATWG HTML §9.2.6). */
static bool stream_line(struct llm_stream *s, bool *provider_error, const char *secret, char *why, size_t cap)
{
    const char *l = s->line != NULL ? s->line : "";
    size_t n = s->line_len;
    s->line_len = 0;
    if (n == 0)
        return s->have_data ? stream_event(s, provider_error, secret, why, cap) : true;
    if (l[0] == ':')
        return true; /* a comment: keep-alive */
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon != NULL ? (size_t)(colon - l) : n;
    if (name_len != 4 || memcmp(l, "data", 4) != 0)
        return true; /* event, id, retry: not used by Chat Completions */
    const char *v = colon != NULL ? colon + 1 : l + n;
    size_t vn = (size_t)(l + n - v);
    if (vn > 0 && v[0] == ' ') {
        v++;
        vn--;
    }
    if (s->have_data && !append(&s->data, &s->data_len, &s->data_cap, "\n", 1, LLM_STREAM_EVENT_MAX))
        goto big;
    if (!append(&s->data, &s->data_len, &s->data_cap, v, vn, LLM_STREAM_EVENT_MAX))
        goto big;
    s->have_data = true;
    return true;
big:
    base_why(why, cap, "a streamed event is too large");
    return false;
}

bool llm_stream_feed(struct llm_stream *s, const char *data, size_t len, bool *provider_error,
                     const char *secret, char *why, size_t cap)
{
    *provider_error = false;
    if (s->failed)
        return false;
    for (size_t i = 0; i < len && !s->done; i++) {
        char ch = data[i];
        if (ch == '\n' && s->after_cr) {
            s->after_cr = false; /* the LF of a CRLF */
            continue;
        }
        s->after_cr = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            if (!stream_line(s, provider_error, secret, why, cap)) {
                s->failed = true;
                return false;
            }
            continue;
        }
        if (!append(&s->line, &s->line_len, &s->line_cap, &ch, 1, LLM_STREAM_EVENT_MAX)) {
            base_why(why, cap, "a streamed line is too large");
            s->failed = true;
            return false;
        }
    }
    return true;
}

bool llm_stream_finish(struct llm_stream *s, struct llm_reply *out, char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    if (s->failed) {
        base_why(why, cap, "the stream failed");
        return false;
    }
    if (!s->done && s->finish_reason[0] == '\0') {
        base_why(why, cap, "the stream was cut off (no [DONE] and no finish_reason)");
        return false;
    }
    snprintf(out->finish_reason, sizeof(out->finish_reason), "%s", s->finish_reason);
    out->content = strdup(s->text != NULL ? s->text : "");
    out->tool_calls = json_array();
    bool ok = out->content != NULL && out->tool_calls != NULL;
    for (size_t i = 0; ok && i < s->n_calls; i++) {
        struct stream_call *c = &s->calls[i];
        if (c->id == NULL && c->name == NULL && c->args == NULL)
            continue; /* an index never used */
        if (c->id == NULL || c->name == NULL) {
            base_why(why, cap, "a streamed tool call without id or name");
            ok = false;
            break;
        }
        ok = json_array_append_new(out->tool_calls, json_pack("{s:s,s:s,s:s}", "id", c->id, "name", c->name,
                                                              "arguments", c->args != NULL ? c->args : "")) ==
             0;
    }
    if (!ok) {
        if (why != NULL && why[0] == '\0')
            base_why(why, cap, "out of memory");
        llm_reply_free(out);
    }
    return ok;
}
