/* pgpool: an asynchronous PostgreSQL connection pool owned by one h2o event loop.
 * Non-blocking libpq throughout (host names are resolved off the loop); lazily prepared statements
 * (or unnamed ones); a bounded FIFO of waiting queries; reconnect with backoff. Never blocks the loop.
 * Each query is one libpq pipeline — its statement_timeout for that transaction only, the statement,
 * a sync — and no startup options are sent, so it works through a transaction-pooling PgBouncer. */
#ifndef BOLLARD_PGPOOL_H
#define BOLLARD_PGPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <h2o.h>

#define PGPOOL_MAX_PARAMS 16
#define PGPOOL_REASON_MAX 200

struct pgpool;

struct pgpool_config {
    const char *conninfo; /* postgresql:// URI */
    int size;             /* max connections */
    int queue_max;        /* max queries waiting for a connection */
    int connect_timeout_ms;
    int query_timeout_ms; /* from submission to result, queueing included */
    /* Named statements, prepared once per connection (DB_PREPARED_STATEMENTS). false: every
     * statement unnamed (extended protocol), which a transaction-pooling PgBouncer 1.18 needs.
     * The pool turns them off by itself when a named statement goes missing under it. */
    bool prepared_statements;
};

/* A statement the application runs; the pool prepares it on each connection on first use. */
struct pgpool_statement {
    const char *name;
    const char *sql;
    int nparams;
};

enum pgpool_error {
    PGPOOL_OK = 0,
    PGPOOL_ERR_QUEUE_FULL,  /* too many waiting: answer 503 + Retry-After */
    PGPOOL_ERR_UNAVAILABLE, /* no connection can be made right now */
    PGPOOL_ERR_TIMEOUT,
    PGPOOL_ERR_QUERY,    /* the server refused the statement: see sqlstate */
    PGPOOL_ERR_SHUTDOWN, /* the pool is closing */
};

/* Called exactly once per submitted query, on the loop thread. `res` (NULL unless PGPOOL_OK, or
 * PGPOOL_ERR_QUERY with the server's error result) is freed by the pool after the callback returns. */
typedef void (*pgpool_query_cb)(void *arg, enum pgpool_error err, PGresult *res);

struct pgpool_query {
    /* filled by the caller */
    const struct pgpool_statement *stmt; /* prepared on first use; or NULL and `sql` is sent unprepared */
    const char *sql;
    int nparams;
    const char *params[PGPOOL_MAX_PARAMS]; /* text format; must stay valid until the callback */
    int param_lengths[PGPOOL_MAX_PARAMS];  /* 0 for NUL-terminated */
    pgpool_query_cb cb;
    void *arg;
    /* private to the pool */
    uint64_t deadline;
    h2o_linklist_t link;
    bool cancelled;
    bool retried; /* ran again unnamed once already */
};

struct pgpool *pgpool_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver,
                             const struct pgpool_config *config);
/* Queues the query. On PGPOOL_ERR_QUEUE_FULL/UNAVAILABLE/SHUTDOWN the callback is NOT called and the
 * error is returned at once, so the caller can answer 503 without an extra hop. */
enum pgpool_error pgpool_submit(struct pgpool *pool, struct pgpool_query *query);
/* The caller lost interest (its request went away): the callback will not run. */
void pgpool_cancel(struct pgpool *pool, struct pgpool_query *query);
/* Closes every connection and fails waiting queries with PGPOOL_ERR_SHUTDOWN. */
void pgpool_destroy(struct pgpool *pool);

struct pgpool_stats {
    int connections; /* open (connected) */
    int in_use;      /* running a query */
    int waiting;     /* queued for a connection */
    bool reachable;  /* the last connection attempt succeeded */
};
void pgpool_stats(const struct pgpool *pool, struct pgpool_stats *out);
/* While the database is unreachable: libpq's one-line reason for the last failed connection attempt
 * (e.g. "… certificate verify failed"; host and port, never a password); NULL otherwise. */
const char *pgpool_last_error(const struct pgpool *pool);

const char *pgpool_error_name(enum pgpool_error err);

#endif
