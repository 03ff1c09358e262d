/* pkg/llm: Chat Completions requests and answers (see llm.h). */
#include "llm/llm.h"
#include "base/base.h"
#include "config/config.h"

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
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
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
