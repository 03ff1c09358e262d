/* Internal to pkg/store: the SQL half of the SQLite back end (store_sqlite_ops.c). store_sqlite.c owns
 * the thread, the job queue and result delivery; this file only turns one call into statements on one
 * connection. A connection is used by one thread at a time (the store's own). */
#ifndef BOLLARD_STORE_SQLITE_OPS_H
#define BOLLARD_STORE_SQLITE_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store_impl.h"

/* A call's outcome. Every string is a copy owned by the outcome (sqlite_outcome_free), so it outlives
 * the statement it was read from and can travel to the event loop's thread. */
struct sqlite_outcome {
    enum store_status status;
    char *json;
    size_t json_len;
    long long version;
    char *user_id;
    char *password_hash;
    char *next_cursor;
    long long schema_version;
    long long schema_floor;
    bool schema_missing;
    long long outbox_unpublished;
    long long outbox_oldest_age_ms;
    char *row_id;
};

struct sqlite_conn;

/* Opens `path` (created if missing) in WAL mode with foreign keys on. NULL on failure (logged). */
struct sqlite_conn *sqlite_conn_open(const char *path);
void sqlite_conn_close(struct sqlite_conn *c);

/* Runs one call (args as documented in store.c). Waiting for the file's lock and long statements
 * give up with STORE_TIMEOUT once base_now_ms() passes deadline_ms, and with
 * STORE_UNAVAILABLE as soon as *stopping (read atomically) is non-zero. */
void sqlite_conn_run(struct sqlite_conn *c, enum store_op op, char *const args[STORE_MAX_ARGS],
                     long long deadline_ms, const int *stopping, struct sqlite_outcome *out);
void sqlite_outcome_free(struct sqlite_outcome *o);

#endif
