/* pgpool: an asynchronous PostgreSQL connection pool owned by one h2o event loop.
 * Non-blocking libpq throughout (host names are resolved off the loop); lazily prepared statements;
 * a bounded FIFO of waiting queries; reconnect with backoff. Never blocks the loop. */
#ifndef BOLLARD_PGPOOL_H
#define BOLLARD_PGPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <h2o.h>

#define PG_MAX_PARAMS 16

struct pg_pool;

struct pg_pool_config {
    const char *conninfo; /* postgresql:// URI */
    int size;             /* max connections */
    int queue_max;        /* max queries waiting for a connection */
    int connect_timeout_ms;
    int query_timeout_ms; /* from submission to result, queueing included */
};

/* A statement the application runs; the pool prepares it on each connection on first use. */
struct pg_statement {
    const char *name;
    const char *sql;
    int nparams;
};

enum pg_error {
    PG_OK = 0,
    PG_ERR_QUEUE_FULL,  /* too many waiting: answer 503 + Retry-After */
    PG_ERR_UNAVAILABLE, /* no connection can be made right now */
    PG_ERR_TIMEOUT,
    PG_ERR_QUERY,    /* the server refused the statement: see sqlstate */
    PG_ERR_SHUTDOWN, /* the pool is closing */
};

/* Called exactly once per submitted query, on the loop thread. `res` (NULL unless PG_OK, or
 * PG_ERR_QUERY with the server's error result) is freed by the pool after the callback returns. */
typedef void (*pg_query_cb)(void *arg, enum pg_error err, PGresult *res);

struct pg_query {
    /* filled by the caller */
    const struct pg_statement *stmt; /* prepared on first use; or NULL and `sql` is sent unprepared */
    const char *sql;
    int nparams;
    const char *params[PG_MAX_PARAMS]; /* text format; must stay valid until the callback */
    int param_lengths[PG_MAX_PARAMS];  /* 0 for NUL-terminated */
    pg_query_cb cb;
    void *arg;
    /* private to the pool */
    uint64_t deadline;
    h2o_linklist_t link;
    bool cancelled;
};

struct pg_pool *pg_pool_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver,
                               const struct pg_pool_config *config);
/* Queues the query. On PG_ERR_QUEUE_FULL/UNAVAILABLE/SHUTDOWN the callback is NOT called and the
 * error is returned at once, so the caller can answer 503 without an extra hop. */
enum pg_error pg_pool_submit(struct pg_pool *pool, struct pg_query *query);
/* The caller lost interest (its request went away): the callback will not run. */
void pg_pool_cancel(struct pg_pool *pool, struct pg_query *query);
/* Closes every connection and fails waiting queries with PG_ERR_SHUTDOWN. */
void pg_pool_destroy(struct pg_pool *pool);

struct pg_pool_stats {
    int connections; /* open (connected) */
    int in_use;      /* running a query */
    int waiting;     /* queued for a connection */
    bool reachable;  /* the last connection attempt succeeded */
};
void pg_pool_stats(const struct pg_pool *pool, struct pg_pool_stats *out);

const char *pg_error_name(enum pg_error err);

#endif
