/* Internal to pkg/api: helpers shared by its route files. Not part of the module's surface. */
#ifndef BOLLARD_API_INTERNAL_H
#define BOLLARD_API_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "api/api.h"
#include "auth/auth.h"
#include "clientaddr/clientaddr.h"
#include "redisconn/redisconn.h"
#include "store/store.h"
#include "base/base.h"

/* The exchange's application context (the loop's, set by pkg/app). */
static inline struct api_context *api_ctx(const struct http_exchange *ex)
{
    return ex->app;
}

/* Route handlers, one per file concern. */
void api_handle_live(struct http_exchange *ex);
void api_handle_ready(struct http_exchange *ex);
void api_handle_metrics(struct http_exchange *ex);
void api_handle_signup(struct http_exchange *ex);
void api_handle_signin(struct http_exchange *ex);
void api_tasks_list(struct http_exchange *ex);
void api_tasks_create(struct http_exchange *ex);
void api_tasks_get(struct http_exchange *ex);
void api_tasks_replace(struct http_exchange *ex);
void api_tasks_delete(struct http_exchange *ex);
void api_tasks_toggle(struct http_exchange *ex);
void api_user_tasks_list(struct http_exchange *ex);
void api_user_tasks_create(struct http_exchange *ex);
void api_user_tasks_get(struct http_exchange *ex);
void api_user_tasks_replace(struct http_exchange *ex);
void api_user_tasks_delete(struct http_exchange *ex);
void api_user_tasks_toggle(struct http_exchange *ex);
void api_handle_webhook_create(struct http_exchange *ex);
void api_handle_webhook_list(struct http_exchange *ex);
void api_handle_webhook_delete(struct http_exchange *ex);
void api_chat(struct http_exchange *ex);
void api_user_chat(struct http_exchange *ex);
void api_mcp(struct http_exchange *ex);
void api_mcp_resource_metadata(struct http_exchange *ex);
void api_conversations_list(struct http_exchange *ex);
void api_conversation_messages(struct http_exchange *ex);
void api_conversation_delete(struct http_exchange *ex);

/* Reads the body as one JSON object (Content-Type application/json). On failure it has answered
 * 415, 400, or 422 naming each field whose value holds a NUL (\u0000), and returns NULL. */
json_t *api_read_json_object(struct http_exchange *ex);

/* The bearer token's user; on failure it has answered 401 and returns false. */
bool api_authenticate(struct http_exchange *ex, char user_id[BASE_UUID_LEN + 1]);
/* The same with `challenge` as the 401's WWW-Authenticate value (MCP's resource_metadata). */
bool api_authenticate_challenge(struct http_exchange *ex, char user_id[BASE_UUID_LEN + 1],
                                const char *challenge);

size_t api_utf8_length(const char *s, size_t bytes);
/* The longest date-time text accepted (a fraction may have many digits; RFC 3339 sets no bound). */
#define API_RFC3339_MAX 64
/* Room for "YYYY-MM-DDTHH:MM:SS.ffffffZ" and its NUL. */
#define API_TIMESTAMP_MAX 32
/* An RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM), real calendar dates, offsets up to
 * ±23:59) as the UTC instant's text "YYYY-MM-DDTHH:MM:SS.ffffffZ", the form tasks are answered with,
 * so both stores get one spelling and no store's offset limit applies. False when it is not one, or
 * when the instant lies outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z: what is stored
 * must come back as RFC 3339 (four-digit year, no BC) and be accepted again. */
bool api_rfc3339_to_utc(const char *s, char out[API_TIMESTAMP_MAX]);

/* The query of a list route: ?limit=1..100 (default 20), ?cursor= (a next_cursor of this API;
 * empty = the first page) and, for tasks, ?completed=true|false (-1 when absent). Unknown
 * parameters are ignored. False when it answered 422 itself. */
#define API_PAGE_LIMIT_DEFAULT 20
#define API_PAGE_LIMIT_MAX     100
#define API_CURSOR_MAX         96
struct api_page_query {
    int limit;
    int completed;
    char cursor[API_CURSOR_MAX + 1]; /* "" = the first page */
};
bool api_read_page_query(struct http_exchange *ex, bool with_completed, struct api_page_query *q);

/* Validation errors collected for one 422 answer. */
struct api_errors {
    json_t *list;
};
void api_errors_add(struct api_errors *e, const char *field, const char *message);
/* Answers 422 when there are errors (returns true), else frees nothing and returns false. */
bool api_errors_respond(struct http_exchange *ex, struct api_errors *e);

/* Maps a non-OK store status to its answer (401 for a user that no longer exists, 404, 409, 412, 422,
 * 503 + Retry-After, 500). */
void api_respond_store_status(struct http_exchange *ex, enum store_status st);
void api_respond_unauthorized(struct http_exchange *ex, const char *detail);

/* The client's address as text (IPv4-mapped IPv6 shown as IPv4): the TCP peer, or behind a proxy
 * listed in TRUSTED_PROXIES the address it forwarded (pkg/clientaddr decides). */
void api_client_ip(struct http_exchange *ex, char out[CLIENTADDR_TEXT_MAX]);

/* Attempt limits (limits.c): fixed-window counters in Redis, checked and counted in one atomic step
 * before a password is hashed. Keys hold digests, never an email or an address. */
#define API_LIMIT_KEYS_MAX 3
/* out = prefix + lower-case hex SHA-256 of text. */
void api_limit_key(char *out, size_t cap, const char *prefix, const char *text);
/* If any keys[i] has reached limits[i], nothing is counted and the reply is the wait in ms; else
 * every key is incremented (a new one expires after window_seconds) and the reply is 0. Returns the
 * redisconn handle, or NULL when the command cannot be sent (then cb is not called). */
void *api_limit_take(struct redisconn *rc, const char *const *keys, const long *limits, size_t n,
                     int window_seconds, redisconn_reply_cb cb, void *arg);
/* From api_limit_take's reply: the seconds to wait (>= 1) when refused, else 0 — also when Redis
 * failed, since the limits are a defence layer, not a gate. */
long api_limit_wait_seconds(const redisReply *reply, const char *err);
/* Undoes one counted attempt, not waited for: keys[0, n_clear) are deleted, the rest decremented
 * (never below zero). */
void api_limit_refund(struct redisconn *rc, const char *const *keys, size_t n_clear, size_t n);
/* 429 + Retry-After, problem+json. */
void api_respond_too_many(struct http_exchange *ex, long wait_seconds, const char *detail);

#endif
