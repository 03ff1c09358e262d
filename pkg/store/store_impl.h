/* Internal to pkg/store: the table each back end fills in. Not part of the module's surface. */
#ifndef BOLLARD_STORE_IMPL_H
#define BOLLARD_STORE_IMPL_H

#include "store/store.h"
#include "base/base.h"

enum store_op {
    STORE_OP_SCHEMA_STATE,
    STORE_OP_OUTBOX_BACKLOG,
    STORE_OP_USER_CREATE,
    STORE_OP_USER_BY_EMAIL,
    STORE_OP_TASK_LIST,
    STORE_OP_TASK_GET,
    STORE_OP_TASK_CREATE,
    STORE_OP_TASK_REPLACE,
    STORE_OP_TASK_TOGGLE,
    STORE_OP_TASK_DELETE,
    STORE_OP_WEBHOOK_CREATE,
    STORE_OP_WEBHOOK_LIST,
    STORE_OP_WEBHOOK_DELETE,
    STORE_OP_CONVERSATION_OPEN,
    STORE_OP_MESSAGES_APPEND,
    STORE_OP_MESSAGES_RECENT,
    STORE_OP_CONVERSATION_LIST,
    STORE_OP_CONVERSATION_DELETE,
};

#define STORE_MAX_ARGS 8

/* One call, with its arguments as text (NULL = SQL NULL), in the order each op documents. */
struct store_call {
    enum store_op op;
    const char *args[STORE_MAX_ARGS];
    int nargs;
    store_cb cb;
    void *arg;
};

struct store_backend {
    store_handle (*submit)(void *impl, const struct store_call *call, enum store_status *immediate);
    void (*cancel)(void *impl, store_handle handle);
    void (*destroy)(void *impl);
    bool (*stats)(void *impl, struct store_stats *out); /* NULL: the back end reports none */
    const char *(*unreachable_reason)(void *impl);      /* NULL: the back end has none */
};

struct store {
    const struct store_backend *backend;
    void *impl;
};

struct store *store_wrap(const struct store_backend *backend, void *impl);

/* Cursor "<created_at microseconds since epoch>.<uuid>" split into its two parts. */
bool store_cursor_split(const char *cursor, char micros[24], char uuid[BASE_UUID_LEN + 1]);

#endif
