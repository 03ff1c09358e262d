/* syncconn: blocking PostgreSQL and Redis connections for processes that own their threads (the
 * worker). Every wait is bounded by a deadline in milliseconds, a failed or timed-out connection is
 * dropped (never reused half-way through a reply) and reconnected with backoff on the next use.
 * Not for event-loop threads: use pkg/pgpool and pkg/redisconn there. Against a Redis Cluster
 * (pkg/rediscluster) a Redis connection talks to the master of the {webhooks} slot (the slot map is
 * read at each connection); a MOVED or ASK reply, pipelined or not, is followed by sending the
 * command again on a second connection to the node named, and a MOVED (or a retryable cluster state)
 * makes the connection reconnect, once its pipeline is read, to the master the slot map names. */
#ifndef BOLLARD_SYNCCONN_H
#define BOLLARD_SYNCCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>
#include <libpq-fe.h>

#include "base/base.h"
#include "redistls/redistls.h"

#define SYNCCONN_WHY_MAX BASE_WHY_MAX

/* ---- PostgreSQL */

struct syncconn_pg;

/* `url` is a postgresql:// URI (copied; wiped on free). Never connects here. */
struct syncconn_pg *syncconn_pg_new(const char *url, const char *application_name, int connect_timeout_ms);
void syncconn_pg_free(struct syncconn_pg *pg);
/* Connected, or connects now (bounded by connect_timeout_ms). Between failed attempts it waits a
 * backoff (250 ms doubling to 5 s) and fails at once meanwhile. */
bool syncconn_pg_ensure(struct syncconn_pg *pg, char *why, size_t cap);
/* Runs one statement. With params == NULL and nparams == 0 the text may hold several statements
 * (simple protocol); otherwise exactly one, parameters in text format. Returns the last result when
 * every statement succeeded (caller PQclear()s it), NULL otherwise with a one-line reason (the
 * server's message, or "timed out"/"connection lost": then the connection has been dropped, and an
 * open transaction with it). `sqlstate` (6 bytes, may be NULL) receives the error's SQLSTATE. */
PGresult *syncconn_pg_exec(struct syncconn_pg *pg, const char *sql, int nparams, const char *const *params,
                           int timeout_ms, char *why, size_t cap, char *sqlstate);
/* Drops the connection (its open transaction is rolled back by the server). */
void syncconn_pg_drop(struct syncconn_pg *pg);
bool syncconn_pg_connected(const struct syncconn_pg *pg);

/* ---- Redis */

struct syncconn_redis;

/* A Lua script, loaded with SCRIPT LOAD on every (re)connection and called by its SHA-1. */
struct syncconn_redis_script {
    const char *name;
    const char *source;
    char sha[41]; /* filled by syncconn_redis_new */
};

/* `url` is redis:// or rediss:// (copied; wiped on free); NULL when it does not parse. `tls` (the
 * REDIS_TLS_* settings, may be NULL for the defaults) and `scripts` (may be NULL) must outlive the
 * connection. Never connects here. */
struct syncconn_redis *syncconn_redis_new(const char *url, int timeout_ms, const struct redistls_config *tls,
                                          struct syncconn_redis_script *scripts, size_t n_scripts);
void syncconn_redis_free(struct syncconn_redis *r);
/* Connected (TLS handshake, AUTH/SELECT done, scripts loaded), or connects now when the backoff
 * allows (250 ms doubling to 5 s between failed attempts); false with a reason. Every wait of a
 * connection (connect, handshake, each reply) is bounded by timeout_ms. */
bool syncconn_redis_ensure(struct syncconn_redis *r, char *why, size_t cap);
/* One command; NULL (connection dropped, reason set) on I/O failure or timeout. An error reply is
 * returned as such (REDIS_REPLY_ERROR); NOSCRIPT also drops the connection so the next use
 * reloads the scripts. */
redisReply *syncconn_redis_command(struct syncconn_redis *r, int argc, const char **argv,
                                   const size_t *argvlen, char *why, size_t cap);
/* Pipelining: append commands (connecting first if need be), send them, then read one reply per
 * command in order. A failed send or reply drops the connection (reason set). */
bool syncconn_redis_append(struct syncconn_redis *r, int argc, const char **argv, const size_t *argvlen,
                           char *why, size_t cap);
bool syncconn_redis_send(struct syncconn_redis *r, char *why, size_t cap);
redisReply *syncconn_redis_reply(struct syncconn_redis *r, char *why, size_t cap);
/* The connection's descriptor to poll for a reply (-1 when not connected), and whether a reply may
 * already be buffered (decrypted or read ahead) so that polling would not see it. */
int syncconn_redis_fd(const struct syncconn_redis *r);
bool syncconn_redis_reply_buffered(const struct syncconn_redis *r);
void syncconn_redis_drop(struct syncconn_redis *r);
bool syncconn_redis_connected(const struct syncconn_redis *r);

#endif
