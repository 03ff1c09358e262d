/* llm: the OpenAI Chat Completions wire format as Groq, OpenRouter and OpenAI-compatible servers
 * (vLLM, llama.cpp, Ollama, LiteLLM) speak it — request bodies, provider headers, and answers
 * parsed into one reply (text + tool calls). Pure functions: no I/O, no secrets logged. */
#ifndef BOLLARD_LLM_H
#define BOLLARD_LLM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct config;

#define LLM_HEADERS_MAX 6

/* The request headers for cfg's provider ("Name: value" lines, heap-allocated; the Authorization
 * line holds the key: llm_headers_free wipes it). Returns the count. */
size_t llm_headers(const struct config *cfg, bool stream, char *out[LLM_HEADERS_MAX]);
void llm_headers_free(char *h[LLM_HEADERS_MAX], size_t n);

/* POST {base}/chat/completions body. messages and tools are borrowed. tool_choice "auto", or "none"
 * when tools_allowed is false (the round limit was reached). */
char *llm_request_body(const struct config *cfg, json_t *messages, json_t *tools, bool tools_allowed,
                       bool stream, size_t *len);

/* One model answer. tool_calls: [{id, name, arguments}] with arguments the model's text as sent. */
struct llm_reply {
    char *content; /* never NULL after a successful parse ("" when none) */
    json_t *tool_calls;
    char finish_reason[32];
};
void llm_reply_free(struct llm_reply *r);

/* A non-streaming response body (HTTP 2xx). False when it is not a usable answer (why says what);
 * *provider_error is set when the body is a provider error object ({"error": …}). */
bool llm_parse_completion(const char *body, size_t len, struct llm_reply *out, bool *provider_error,
                          char *why, size_t cap);

/* A streamed answer (`stream: true`): Server-Sent Events of chat.completion.chunk objects. The
 * parser takes the bytes as they arrive in any split: `:` comment lines (keep-alives such as
 * OpenRouter's), `data:` fields joined across lines, events ending at a blank line (LF, CRLF or CR),
 * `data: [DONE]`. Text deltas go to on_text as they come; tool calls are assembled by their
 * `index` — the first delta carries id and name, later ones argument fragments (llama.cpp repeats
 * id and name in every delta; a repeated name is not appended). A chunk with an `error` object
 * (errors after HTTP 200, as OpenRouter and Groq send them) ends the stream with *provider_error.
 * Bounded: LLM_STREAM_EVENT_MAX bytes per event, LLM_STREAM_TEXT_MAX of text and arguments,
 * LLM_STREAM_CALLS_MAX tool calls. */
#define LLM_STREAM_EVENT_MAX (256 * 1024)
#define LLM_STREAM_TEXT_MAX  (1024 * 1024)
#define LLM_STREAM_CALLS_MAX 32
typedef void (*llm_text_fn)(void *arg, const char *text, size_t len);
struct llm_stream;
struct llm_stream *llm_stream_new(llm_text_fn on_text, void *arg);
void llm_stream_free(struct llm_stream *s);
/* False when the stream cannot go on (why says what; *provider_error for an error chunk, whose
 * message with `secret` removed is in why). Bytes after [DONE] are ignored. */
bool llm_stream_feed(struct llm_stream *s, const char *data, size_t len, bool *provider_error,
                     const char *secret, char *why, size_t cap);
/* The whole answer once the transfer ended: false when it was cut off (neither [DONE] nor a
 * finish_reason) or a tool call lacks an id or name. */
bool llm_stream_finish(struct llm_stream *s, struct llm_reply *out, char *why, size_t cap);

/* The provider's error message from an error body, one line, with `secret` (may be NULL) removed. */
void llm_error_message(const char *body, size_t len, const char *secret, char *out, size_t cap);

#endif
