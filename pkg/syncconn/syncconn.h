/* syncconn: blocking PostgreSQL and Redis connections for processes that own their threads (the
 * worker). Every wait is bounded by a deadline in milliseconds, a failed or timed-out connection is
 * dropped (never reused half-way through a reply) and reconnected with backoff on the next use.
 * Not for event-loop threads: use pkg/pgpool and pkg/redisconn there. */
#ifndef BOLLARD_SYNCCONN_H
#define BOLLARD_SYNCCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>
#include <libpq-fe.h>

#include "base/base.h"

#define SYNCCONN_WHY_MAX BASE_WHY_MAX

/* ---- PostgreSQL */

struct sync_pg;

/* `url` is a postgresql:// URI (copied; wiped on free). Never connects here. */
struct sync_pg *sync_pg_new(const char *url, const char *application_name, int connect_timeout_ms);
void sync_pg_free(struct sync_pg *pg);
/* Connected, or connects now (bounded by connect_timeout_ms). Between failed attempts it waits a
 * backoff (250 ms doubling to 5 s) and fails at once meanwhile. */
bool sync_pg_ensure(struct sync_pg *pg, char *why, size_t cap);
/* Runs one statement. With params == NULL and nparams == 0 the text may hold several statements
 * (simple protocol); otherwise exactly one, parameters in text format. Returns the last result when
 * every statement succeeded (caller PQclear()s it), NULL otherwise with a one-line reason (the
 * server's message, or "timed out"/"connection lost": then the connection has been dropped, and an
 * open transaction with it). `sqlstate` (6 bytes, may be NULL) receives the error's SQLSTATE. */
PGresult *sync_pg_exec(struct sync_pg *pg, const char *sql, int nparams, const char *const *params,
                       int timeout_ms, char *why, size_t cap, char *sqlstate);
/* Drops the connection (its open transaction is rolled back by the server). */
void sync_pg_drop(struct sync_pg *pg);
bool sync_pg_connected(const struct sync_pg *pg);

/* ---- Redis */

struct sync_redis;

/* A Lua script, loaded with SCRIPT LOAD on every (re)connection and called by its SHA-1. */
struct sync_redis_script {
    const char *name;
    const char *source;
    char sha[41]; /* filled by sync_redis_new */
};

/* `url` is redis://… (copied; wiped on free); NULL when it does not parse. `scripts` (may be NULL)
 * must outlive the connection. */
struct sync_redis *sync_redis_new(const char *url, int timeout_ms, struct sync_redis_script *scripts,
                                  size_t n_scripts);
void sync_redis_free(struct sync_redis *r);
/* The connected context (AUTH/SELECT done, scripts loaded), or NULL with a reason; connects now
 * when the backoff allows (250 ms doubling to 5 s between failed attempts). Commands sent on it
 * block at most timeout_ms each (socket timeouts). */
redisContext *sync_redis_get(struct sync_redis *r, char *why, size_t cap);
/* One command; NULL (connection dropped, reason set) on I/O failure or timeout. An error reply is
 * returned as such (REDIS_REPLY_ERROR); NOSCRIPT also drops the connection so the next use
 * reloads the scripts. */
redisReply *sync_redis_command(struct sync_redis *r, int argc, const char **argv, const size_t *argvlen,
                               char *why, size_t cap);
void sync_redis_drop(struct sync_redis *r);
bool sync_redis_connected(const struct sync_redis *r);

#endif
