/* Internal to pkg/api: helpers shared by its route files. Not part of the module's surface. */
#ifndef BOLLARD_API_INTERNAL_H
#define BOLLARD_API_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "api/api.h"
#include "auth/auth.h"
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

/* Reads the body as one JSON object (Content-Type application/json). On failure it has answered
 * 415 or 400 and returns NULL. */
json_t *api_read_json_object(struct http_exchange *ex);

/* The bearer token's user; on failure it has answered 401 and returns false. */
bool api_authenticate(struct http_exchange *ex, char user_id[BASE_UUID_LEN + 1]);

size_t api_utf8_length(const char *s, size_t bytes);
bool api_is_rfc3339(const char *s);

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

/* The client's address as text (IPv4-mapped IPv6 shown as IPv4). */
void api_client_ip(struct http_exchange *ex, char *out, size_t cap);

#endif
