/* store: asynchronous data access for accounts and tasks, one instance per event loop.
 * Two back ends implement this surface: PostgreSQL (through pkg/pgpool, production) and SQLite
 * (`bollard dev`, on a thread of its own). Rows come back as ready-to-send JSON text built by the
 * database itself, so the API layer never re-encodes them. Every call is parameterised. */
#ifndef BOLLARD_STORE_H
#define BOLLARD_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>

struct store;
struct pgpool;

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,           /* no such row for this user */
    STORE_CONFLICT,            /* unique violation (e.g. email taken) */
    STORE_PRECONDITION_FAILED, /* If-Match version differs */
    STORE_BUSY,                /* queue full: 503 + Retry-After */
    STORE_UNAVAILABLE,         /* database unreachable or shutting down: 503 */
    STORE_TIMEOUT,             /* 503 */
    STORE_ERROR,               /* anything else: 500 (logged with its SQLSTATE) */
    STORE_INVALID,             /* the database refused a value as out of range (SQLSTATE class 22): 422 */
    STORE_NO_USER,             /* the call's user does not exist (any more): the token outlived its
                                * account, 401 */
};

/* What a call produces. Strings are valid only during the callback. */
struct store_result {
    enum store_status status;
    const char *json; /* a task object, or for lists the JSON array of task objects */
    size_t json_len;
    long long version;         /* the task's version (ETag); with STORE_PRECONDITION_FAILED the current one */
    const char *user_id;       /* accounts */
    const char *password_hash; /* store_user_by_email */
    const char *next_cursor;   /* lists: opaque, NULL on the last page */
    long long schema_version;  /* store_schema_state */
    long long schema_floor;
    bool schema_missing; /* store_schema_state: migrate never ran (the bookkeeping table is absent) */
    long long outbox_unpublished;   /* store_outbox_backlog: rows not yet published (counted up to
                                     * STORE_OUTBOX_COUNT_MAX) */
    long long outbox_oldest_age_ms; /* store_outbox_backlog: age of the oldest of them, 0 if none */
    const char *row_id;             /* conversation ops: the conversation's id; message append: the last
                                     * message's id */
};

typedef void (*store_cb)(void *arg, const struct store_result *result);

/* Fields of a task write; NULL due_at means none. */
struct store_task_fields {
    const char *title;
    const char *description;
    bool completed;
    const char *due_at; /* RFC 3339, already validated (the API passes the UTC form it answers with) */
};

/* A list page request. cursor is what a previous page returned as next_cursor (or NULL). */
struct store_task_query {
    int completed; /* -1 any, 0 false, 1 true */
    int limit;     /* 1..100 */
    const char *cursor;
};

/* Outcome of store_* calls: a handle to cancel with, or NULL when the call failed at once — then the
 * callback has NOT run and *immediate holds the status to answer with. */
typedef void *store_handle;

struct store *store_create_pg(struct pgpool *pool);
/* SQLite (`bollard dev` only): `path` is the file of DATABASE_URL=sqlite:PATH. Queries run on a thread
 * of the store's own; results come back on `loop` through `queue` (the loop's h2o message queue). */
struct store *store_create_sqlite(h2o_evloop_t *loop, h2o_multithread_queue_t *queue, const char *path);
void store_destroy(struct store *store);

/* The SQLite back end's own figures, for /metrics (PostgreSQL's are pkg/pgpool's). */
struct store_stats {
    int outstanding;               /* calls submitted and not yet answered */
    int queue_max;                 /* the bound on outstanding; past it calls are refused (STORE_BUSY) */
    unsigned long long busy_total; /* calls refused because the queue was full */
};
/* On the store's loop thread. False when the back end keeps no such figures (PostgreSQL). */
bool store_stats(struct store *s, struct store_stats *out);

/* The applied migration level and floor (CONTRACT §4) for readiness; also proves the database answers. */
store_handle store_schema_state(struct store *s, store_cb cb, void *arg, enum store_status *immediate);
/* How far the outbox relay is behind (for /metrics): unpublished rows and the oldest one's age. A
 * relay that stops publishing shows as an age that keeps growing. Before migrations: both 0. */
#define STORE_OUTBOX_COUNT_MAX 100000
store_handle store_outbox_backlog(struct store *s, store_cb cb, void *arg, enum store_status *immediate);

/* Cursor texts are validated before any query; false = malformed. */
bool store_cursor_is_valid(const char *cursor);

store_handle store_user_create(struct store *s, const char *email, const char *password_hash, store_cb cb,
                               void *arg, enum store_status *immediate);
store_handle store_user_by_email(struct store *s, const char *email, store_cb cb, void *arg,
                                 enum store_status *immediate);

store_handle store_task_list(struct store *s, const char *user_id, const struct store_task_query *q,
                             store_cb cb, void *arg, enum store_status *immediate);
store_handle store_task_get(struct store *s, const char *user_id, const char *task_id, store_cb cb, void *arg,
                            enum store_status *immediate);
store_handle store_task_create(struct store *s, const char *user_id, const struct store_task_fields *f,
                               store_cb cb, void *arg, enum store_status *immediate);
/* if_match < 0: unconditional. */
store_handle store_task_replace(struct store *s, const char *user_id, const char *task_id, long long if_match,
                                const struct store_task_fields *f, store_cb cb, void *arg,
                                enum store_status *immediate);
store_handle store_task_toggle(struct store *s, const char *user_id, const char *task_id, long long if_match,
                               store_cb cb, void *arg, enum store_status *immediate);
store_handle store_task_delete(struct store *s, const char *user_id, const char *task_id, long long if_match,
                               store_cb cb, void *arg, enum store_status *immediate);

/* Webhook endpoints. events_json is a JSON array of event types (validated by the caller); the
 * secret is stored for signing and never returned by list. Create answers STORE_CONFLICT when the
 * user already has WEBHOOK_MAX_PER_USER endpoints. */
store_handle store_webhook_create(struct store *s, const char *user_id, const char *url,
                                  const char *events_json, const char *secret, int max_per_user, store_cb cb,
                                  void *arg, enum store_status *immediate);
store_handle store_webhook_list(struct store *s, const char *user_id, store_cb cb, void *arg,
                                enum store_status *immediate);
store_handle store_webhook_delete(struct store *s, const char *user_id, const char *webhook_id, store_cb cb,
                                  void *arg, enum store_status *immediate);

/* The assistant's conversations (CONTRACT §8). Every call is scoped to user_id: another user's
 * conversation is STORE_NOT_FOUND. Ids must be valid UUID text (checked by the caller). */
/* conversation_id NULL: a new conversation; else that one, if it is the user's. row_id = its id. */
store_handle store_conversation_open(struct store *s, const char *user_id, const char *conversation_id,
                                     store_cb cb, void *arg, enum store_status *immediate);
/* Appends messages_json, a JSON array of {role, content, tool_calls?, tool_call_id?}, in order and
 * in one statement (a tool exchange is stored whole or not at all); row_id = the last message's id. */
store_handle store_messages_append(struct store *s, const char *user_id, const char *conversation_id,
                                   const char *messages_json, store_cb cb, void *arg,
                                   enum store_status *immediate);
/* The conversation's last `limit` messages, oldest first: json = [{id, role, content, tool_calls,
 * tool_call_id, created_at}]. */
store_handle store_messages_recent(struct store *s, const char *user_id, const char *conversation_id,
                                   int limit, store_cb cb, void *arg, enum store_status *immediate);
/* A page of the user's conversations, newest first: json = [{id, created_at, updated_at}]. */
store_handle store_conversation_list(struct store *s, const char *user_id, const char *cursor, int limit,
                                     store_cb cb, void *arg, enum store_status *immediate);
store_handle store_conversation_delete(struct store *s, const char *user_id, const char *conversation_id,
                                       store_cb cb, void *arg, enum store_status *immediate);

/* The request went away: the callback will not run. */
void store_cancel(struct store *s, store_handle handle);

/* While the database cannot be reached: why, in one line without secrets (the client library's
 * reason for the last failed connection, e.g. a TLS certificate failure); NULL otherwise. */
const char *store_unreachable_reason(struct store *s);

#endif
