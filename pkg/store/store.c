/* The back-end independent half of pkg/store: argument marshalling and cursor rules. */
#include "store/store_impl.h"
#include "base/base.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store *store_wrap(const struct store_backend *backend, void *impl)
{
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->backend = backend;
    s->impl = impl;
    return s;
}

void store_destroy(struct store *store)
{
    if (store == NULL)
        return;
    store->backend->destroy(store->impl);
    free(store);
}

bool store_stats(struct store *s, struct store_stats *out)
{
    return s != NULL && s->backend->stats != NULL && s->backend->stats(s->impl, out);
}

const char *store_unreachable_reason(struct store *s)
{
    return s != NULL && s->backend->unreachable_reason != NULL ? s->backend->unreachable_reason(s->impl)
                                                               : NULL;
}

void store_cancel(struct store *s, store_handle handle)
{
    if (handle != NULL)
        s->backend->cancel(s->impl, handle);
}

bool store_cursor_split(const char *cursor, char micros[24], char uuid[BASE_UUID_LEN + 1])
{
    if (cursor == NULL)
        return false;
    const char *dot = strchr(cursor, '.');
    if (dot == NULL || dot == cursor || (size_t)(dot - cursor) > 19)
        return false;
    for (const char *p = cursor; p < dot; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    if (!base_uuid_is_valid(dot + 1, strlen(dot + 1)))
        return false;
    memcpy(micros, cursor, (size_t)(dot - cursor));
    micros[dot - cursor] = '\0';
    memcpy(uuid, dot + 1, BASE_UUID_LEN);
    uuid[BASE_UUID_LEN] = '\0';
    return true;
}

bool store_cursor_is_valid(const char *cursor)
{
    char micros[24], uuid[BASE_UUID_LEN + 1];
    return store_cursor_split(cursor, micros, uuid);
}

static store_handle submit(struct store *s, struct store_call *call, store_cb cb, void *arg,
                           enum store_status *immediate)
{
    call->cb = cb;
    call->arg = arg;
    return s->backend->submit(s->impl, call, immediate);
}

store_handle store_schema_state(struct store *s, store_cb cb, void *arg, enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_SCHEMA_STATE};
    return submit(s, &c, cb, arg, immediate);
}

store_handle store_outbox_backlog(struct store *s, store_cb cb, void *arg, enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_OUTBOX_BACKLOG};
    return submit(s, &c, cb, arg, immediate);
}

/* args: email, password_hash */
store_handle store_user_create(struct store *s, const char *email, const char *password_hash, store_cb cb,
                               void *arg, enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_USER_CREATE, .args = {email, password_hash}, .nargs = 2};
    return submit(s, &c, cb, arg, immediate);
}

/* args: email */
store_handle store_user_by_email(struct store *s, const char *email, store_cb cb, void *arg,
                                 enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_USER_BY_EMAIL, .args = {email}, .nargs = 1};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, completed ("true"/"false"/NULL), cursor micros, cursor uuid, limit */
store_handle store_task_list(struct store *s, const char *user_id, const struct store_task_query *q,
                             store_cb cb, void *arg, enum store_status *immediate)
{
    char micros[24], uuid[BASE_UUID_LEN + 1], limit[16];
    bool has_cursor = q->cursor != NULL && store_cursor_split(q->cursor, micros, uuid);
    snprintf(limit, sizeof(limit), "%d", q->limit);
    struct store_call c = {.op = STORE_OP_TASK_LIST,
                           .args = {user_id,
                                    q->completed < 0 ? NULL
                                    : q->completed   ? "true"
                                                     : "false",
                                    has_cursor ? micros : NULL, has_cursor ? uuid : NULL, limit},
                           .nargs = 5};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, task_id */
store_handle store_task_get(struct store *s, const char *user_id, const char *task_id, store_cb cb, void *arg,
                            enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_TASK_GET, .args = {user_id, task_id}, .nargs = 2};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, title, description, completed, due_at */
store_handle store_task_create(struct store *s, const char *user_id, const struct store_task_fields *f,
                               store_cb cb, void *arg, enum store_status *immediate)
{
    struct store_call c = {
        .op = STORE_OP_TASK_CREATE,
        .args = {user_id, f->title, f->description, f->completed ? "true" : "false", f->due_at},
        .nargs = 5};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, task_id, title, description, completed, due_at, if_match */
store_handle store_task_replace(struct store *s, const char *user_id, const char *task_id, long long if_match,
                                const struct store_task_fields *f, store_cb cb, void *arg,
                                enum store_status *immediate)
{
    char version[24];
    snprintf(version, sizeof(version), "%lld", if_match);
    struct store_call c = {.op = STORE_OP_TASK_REPLACE,
                           .args = {user_id, task_id, f->title, f->description,
                                    f->completed ? "true" : "false", f->due_at,
                                    if_match >= 0 ? version : NULL},
                           .nargs = 7};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, task_id, if_match */
static store_handle submit_conditional(struct store *s, enum store_op op, const char *user_id,
                                       const char *task_id, long long if_match, store_cb cb, void *arg,
                                       enum store_status *immediate)
{
    char version[24];
    snprintf(version, sizeof(version), "%lld", if_match);
    struct store_call c = {.op = op, .args = {user_id, task_id, if_match >= 0 ? version : NULL}, .nargs = 3};
    return submit(s, &c, cb, arg, immediate);
}

store_handle store_task_toggle(struct store *s, const char *user_id, const char *task_id, long long if_match,
                               store_cb cb, void *arg, enum store_status *immediate)
{
    return submit_conditional(s, STORE_OP_TASK_TOGGLE, user_id, task_id, if_match, cb, arg, immediate);
}

store_handle store_task_delete(struct store *s, const char *user_id, const char *task_id, long long if_match,
                               store_cb cb, void *arg, enum store_status *immediate)
{
    return submit_conditional(s, STORE_OP_TASK_DELETE, user_id, task_id, if_match, cb, arg, immediate);
}

/* args: user_id, url, events_json, secret, max_per_user */
store_handle store_webhook_create(struct store *s, const char *user_id, const char *url,
                                  const char *events_json, const char *secret, int max_per_user, store_cb cb,
                                  void *arg, enum store_status *immediate)
{
    char max[16];
    snprintf(max, sizeof(max), "%d", max_per_user);
    struct store_call c = {
        .op = STORE_OP_WEBHOOK_CREATE, .args = {user_id, url, events_json, secret, max}, .nargs = 5};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id */
store_handle store_webhook_list(struct store *s, const char *user_id, store_cb cb, void *arg,
                                enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_WEBHOOK_LIST, .args = {user_id}, .nargs = 1};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, webhook_id */
store_handle store_webhook_delete(struct store *s, const char *user_id, const char *webhook_id, store_cb cb,
                                  void *arg, enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_WEBHOOK_DELETE, .args = {user_id, webhook_id}, .nargs = 2};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, conversation_id (NULL: a new one) */
store_handle store_conversation_open(struct store *s, const char *user_id, const char *conversation_id,
                                     store_cb cb, void *arg, enum store_status *immediate)
{
    struct store_call c = {.op = STORE_OP_CONVERSATION_OPEN, .args = {user_id, conversation_id}, .nargs = 2};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, conversation_id, messages_json */
store_handle store_messages_append(struct store *s, const char *user_id, const char *conversation_id,
                                   const char *messages_json, store_cb cb, void *arg,
                                   enum store_status *immediate)
{
    struct store_call c = {
        .op = STORE_OP_MESSAGES_APPEND, .args = {user_id, conversation_id, messages_json}, .nargs = 3};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, conversation_id, limit */
store_handle store_messages_recent(struct store *s, const char *user_id, const char *conversation_id,
                                   int limit, store_cb cb, void *arg, enum store_status *immediate)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", limit);
    struct store_call c = {.op = STORE_OP_MESSAGES_RECENT, .args = {user_id, conversation_id, n}, .nargs = 3};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, cursor micros, cursor uuid, limit */
store_handle store_conversation_list(struct store *s, const char *user_id, const char *cursor, int limit,
                                     store_cb cb, void *arg, enum store_status *immediate)
{
    char micros[24], uuid[BASE_UUID_LEN + 1], n[16];
    bool has_cursor = cursor != NULL && store_cursor_split(cursor, micros, uuid);
    snprintf(n, sizeof(n), "%d", limit);
    struct store_call c = {.op = STORE_OP_CONVERSATION_LIST,
                           .args = {user_id, has_cursor ? micros : NULL, has_cursor ? uuid : NULL, n},
                           .nargs = 4};
    return submit(s, &c, cb, arg, immediate);
}

/* args: user_id, conversation_id */
store_handle store_conversation_delete(struct store *s, const char *user_id, const char *conversation_id,
                                       store_cb cb, void *arg, enum store_status *immediate)
{
    struct store_call c = {
        .op = STORE_OP_CONVERSATION_DELETE, .args = {user_id, conversation_id}, .nargs = 2};
    return submit(s, &c, cb, arg, immediate);
}
