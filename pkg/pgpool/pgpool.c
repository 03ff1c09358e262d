#include "pgpool/pgpool.h"
#include "base/base.h"
#include "url/url.h"
#include "log/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS         25
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  2000
#define MAX_PREPARED    64
#define MAX_CONN_PARAMS 48
/* A query whose server-side statement_timeout did not fire gets this much longer before the
 * connection is dropped (libpq's PQcancel blocks, so a hard reset is the non-blocking way out). */
#define QUERY_GRACE_MS 1000

enum conn_state {
    CONN_DOWN,
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_IDLE,
    CONN_BUSY, /* a pipeline is out: bound, [prepare,] query, sync */
};

/* What each command of the pipeline in flight is, in the order its results come back. */
enum pipe_cmd { PIPE_BOUND, PIPE_PREPARE, PIPE_QUERY };
#define PIPE_MAX 3

struct pg_conn {
    struct pgpool *pool;
    enum conn_state state;
    PGconn *pg;
    h2o_socket_t *sock; /* wraps a dup() of PQsocket so closing it never closes libpq's fd */
    int watched_fd;     /* PQsocket() value the h2o socket was made for */
    bool write_armed;
    uint64_t connect_deadline;
    char hostaddr[INET6_ADDRSTRLEN];
    h2o_hostinfo_getaddr_req_t *resolve_req;
    struct pgpool_query *query; /* NULL when idle or when its owner cancelled */
    uint64_t query_deadline;
    PGresult *result; /* the query's result */
    PGresult *error;  /* the first failed command's, which aborts the rest of the pipeline */
    enum pipe_cmd pipe[PIPE_MAX];
    int n_pipe, at_pipe;
    const struct pgpool_statement *preparing; /* prepared in the pipeline in flight */
    const struct pgpool_statement *prepared[MAX_PREPARED];
    int n_prepared;
};

struct pgpool {
    h2o_evloop_t *loop;
    h2o_multithread_receiver_t *resolver;
    struct pgpool_config cfg;
    char *conninfo;
    /* connection parameters for PQconnectStartParams; hostaddr is filled per attempt */
    const char *keywords[MAX_CONN_PARAMS];
    const char *values[MAX_CONN_PARAMS];
    int hostaddr_slot;
    PQconninfoOption *parsed;
    char bound_sql[96]; /* sets the query timeout for one transaction */
    /* Named statements (DB_PREPARED_STATEMENTS); turned off for good when the pool finds itself
     * behind a transaction pooler (a statement it prepared is missing on the server it reaches). */
    bool prepared_statements;
    bool retry_unnamed_logged;
    char *resolve_host; /* non-NULL when the host is a name that must be resolved off-loop */
    char resolve_port[16];
    struct pg_conn *conns;
    h2o_linklist_t waiting;
    int n_waiting;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    uint64_t retry_at;
    int backoff_ms;
    bool reachable;
    bool ever_failed;
    /* libpq's one-line reason for the last failed connection attempt (it names host and port,
     * never the password), so readiness can say why, e.g. a certificate verification failure. */
    char last_error[PGPOOL_REASON_MAX];
    bool destroying;
    /* The query pgpool_submit is starting right now: if its connection fails before submit
     * returns, the error is returned to the caller instead of calling back into it re-entrantly. */
    struct pgpool_query *submitting;
    enum pgpool_error submit_error;
};

static void conn_start(struct pg_conn *conn);
static void conn_reset(struct pg_conn *conn, const char *why);
static void conn_run(struct pg_conn *conn, struct pgpool_query *query);
static void pool_dispatch(struct pgpool *pool);
static void pool_arm_tick(struct pgpool *pool);

const char *pgpool_error_name(enum pgpool_error err)
{
    switch (err) {
    case PGPOOL_OK:
        return "ok";
    case PGPOOL_ERR_QUEUE_FULL:
        return "database queue full";
    case PGPOOL_ERR_UNAVAILABLE:
        return "database unavailable";
    case PGPOOL_ERR_TIMEOUT:
        return "database timeout";
    case PGPOOL_ERR_QUERY:
        return "database error";
    case PGPOOL_ERR_SHUTDOWN:
        return "shutting down";
    }
    return "unknown";
}

static uint64_t now_ms(struct pgpool *pool)
{
    return h2o_now(pool->loop);
}

/* ---- parameters ---- */

static int pool_prepare_params(struct pgpool *pool)
{
    pool->parsed = url_postgres_parse(pool->conninfo);
    if (pool->parsed == NULL)
        return -1;
    int n = 0;
    bool has_appname = false;
    for (PQconninfoOption *o = pool->parsed; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "application_name") == 0)
            has_appname = true;
        if (n >= MAX_CONN_PARAMS - 5)
            return -1;
        pool->keywords[n] = o->keyword;
        pool->values[n] = o->val;
        n++;
    }
    /* The server enforces the query timeout itself (the pool's own deadline is the backstop), set
     * for each query's transaction rather than as the `options` startup parameter: PgBouncer
     * refuses that parameter by default, and a session setting would stay on a pooled server
     * connection that other clients then get. set_config(…, true) is SET LOCAL, which also holds
     * in the implicit transaction of one pipeline (SET LOCAL itself would warn and do nothing). */
    snprintf(pool->bound_sql, sizeof(pool->bound_sql), "SELECT set_config('statement_timeout', '%d', true)",
             pool->cfg.query_timeout_ms);
    if (!has_appname) {
        pool->keywords[n] = "application_name";
        pool->values[n++] = "bollard";
    }
    pool->hostaddr_slot = -1;
    const char *port = NULL;
    const char *host = url_postgres_host_to_resolve(pool->parsed, &port);
    if (host != NULL) {
        pool->resolve_host = strdup(host);
        if (pool->resolve_host == NULL)
            return -1;
        snprintf(pool->resolve_port, sizeof(pool->resolve_port), "%s", port);
        pool->hostaddr_slot = n;
        pool->keywords[n] = "hostaddr";
        pool->values[n++] = NULL; /* set per attempt */
    }
    pool->keywords[n] = NULL;
    pool->values[n] = NULL;
    return 0;
}

/* ---- socket plumbing ---- */

static void conn_close_socket(struct pg_conn *conn)
{
    if (conn->sock != NULL) {
        h2o_socket_close(conn->sock);
        conn->sock = NULL;
    }
    conn->watched_fd = -1;
    conn->write_armed = false;
}

static void on_conn_readable(h2o_socket_t *sock, const char *err);
static void on_conn_writable(h2o_socket_t *sock, const char *err);

/* libpq may switch sockets while connecting (several addresses, SSL/GSS fallback). */
static int conn_watch_socket(struct pg_conn *conn)
{
    int fd = PQsocket(conn->pg);
    if (fd < 0)
        return -1;
    if (conn->sock != NULL && conn->watched_fd == fd)
        return 0;
    conn_close_socket(conn);
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0)
        return -1;
    conn->sock = h2o_evloop_socket_create(conn->pool->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    if (conn->sock == NULL) {
        close(dupfd);
        return -1;
    }
    conn->sock->data = conn;
    conn->watched_fd = fd;
    return 0;
}

static void conn_want_read(struct pg_conn *conn)
{
    if (!h2o_socket_is_reading(conn->sock))
        h2o_socket_read_start(conn->sock, on_conn_readable);
}

static void conn_want_write(struct pg_conn *conn)
{
    if (!conn->write_armed) {
        conn->write_armed = true;
        h2o_socket_notify_write(conn->sock, on_conn_writable);
    }
}

/* ---- delivering results ---- */

/* Every callback goes through here, so none runs re-entrantly inside pgpool_submit. */
static void query_finish(struct pgpool *pool, struct pgpool_query *query, enum pgpool_error err,
                         PGresult *res)
{
    if (query == pool->submitting)
        pool->submit_error = err != PGPOOL_OK ? err : PGPOOL_ERR_UNAVAILABLE;
    else
        query->cb(query->arg, err, res);
}

static void conn_deliver(struct pg_conn *conn, enum pgpool_error err, PGresult *res)
{
    struct pgpool_query *query = conn->query;
    conn->query = NULL;
    if (query != NULL)
        query_finish(conn->pool, query, err, res);
    PQclear(res);
}

static void fail_waiting(struct pgpool *pool, enum pgpool_error err)
{
    while (!h2o_linklist_is_empty(&pool->waiting)) {
        struct pgpool_query *q = H2O_STRUCT_FROM_MEMBER(struct pgpool_query, link, pool->waiting.next);
        h2o_linklist_unlink(&q->link);
        pool->n_waiting--;
        query_finish(pool, q, err, NULL);
    }
}

static bool pool_has_live_conn(struct pgpool *pool)
{
    for (int i = 0; i < pool->cfg.size; i++)
        if (pool->conns[i].state != CONN_DOWN)
            return true;
    return false;
}

static void pool_note_failure(struct pgpool *pool)
{
    uint64_t jitter = (uint64_t)(rand() % (pool->backoff_ms / 2 + 1));
    pool->retry_at = now_ms(pool) + (uint64_t)pool->backoff_ms / 2 + jitter;
    pool->backoff_ms = pool->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : pool->backoff_ms * 2;
    if (pool->reachable || !pool->ever_failed)
        log_printf(LOG_WARN, "database unreachable; retrying with backoff");
    pool->reachable = false;
    pool->ever_failed = true;
}

/* Drops the connection; its query (if any) fails. With no live connection left, waiting
 * queries fail too rather than sit out their whole deadline. */
static void conn_reset(struct pg_conn *conn, const char *why)
{
    struct pgpool *pool = conn->pool;
    if (conn->resolve_req != NULL) {
        h2o_hostinfo_getaddr_cancel(conn->resolve_req);
        conn->resolve_req = NULL;
    }
    conn_close_socket(conn);
    bool was_connecting = conn->state == CONN_CONNECTING || conn->state == CONN_RESOLVING;
    if (conn->pg != NULL && was_connecting) {
        char line[PGPOOL_REASON_MAX];
        base_one_line(PQerrorMessage(conn->pg), line, sizeof(line));
        if (line[0] != '\0')
            snprintf(pool->last_error, sizeof(pool->last_error), "%s", line);
        else if (why != NULL)
            snprintf(pool->last_error, sizeof(pool->last_error), "%s", why);
    }
    if (conn->pg != NULL) {
        if (why != NULL && log_enabled(LOG_WARN)) {
            char msg[300];
            const char *pgmsg = PQerrorMessage(conn->pg);
            snprintf(msg, sizeof(msg), "database connection dropped: %s: %.*s", why,
                     (int)strcspn(pgmsg, "\n"), pgmsg);
            log_write(LOG_WARN, NULL, msg, NULL);
        }
        PQfinish(conn->pg);
        conn->pg = NULL;
    }
    PQclear(conn->result);
    PQclear(conn->error);
    conn->result = conn->error = NULL;
    conn->preparing = NULL;
    conn->n_prepared = 0;
    conn->state = CONN_DOWN;
    if (conn->query != NULL)
        conn_deliver(conn, PGPOOL_ERR_UNAVAILABLE, NULL);
    if (was_connecting)
        pool_note_failure(pool);
    if (!pool->destroying && !pool_has_live_conn(pool) && now_ms(pool) < pool->retry_at)
        fail_waiting(pool, PGPOOL_ERR_UNAVAILABLE);
    pool_arm_tick(pool);
}

/* ---- connecting ---- */

static void conn_connect_poll(struct pg_conn *conn)
{
    PostgresPollingStatusType st = PQconnectPoll(conn->pg);
    if (st == PGRES_POLLING_FAILED) {
        conn_reset(conn, "connect");
        return;
    }
    if (conn_watch_socket(conn) != 0) {
        conn_reset(conn, "socket");
        return;
    }
    if (st == PGRES_POLLING_OK) {
        struct pgpool *pool = conn->pool;
        if (PQsetnonblocking(conn->pg, 1) != 0) {
            conn_reset(conn, "nonblocking");
            return;
        }
        /* Every query is one pipeline (its timeout, its statement, a sync): one round trip. */
        if (PQenterPipelineMode(conn->pg) != 1) {
            conn_reset(conn, "pipeline mode");
            return;
        }
        if (!pool->reachable && pool->ever_failed)
            log_printf(LOG_INFO, "database reachable again");
        pool->reachable = true;
        pool->last_error[0] = '\0';
        pool->backoff_ms = BACKOFF_MIN_MS;
        conn->state = CONN_IDLE;
        h2o_socket_read_stop(conn->sock);
        /* an idle connection still watches for the server closing it */
        conn_want_read(conn);
        pool_dispatch(pool);
        return;
    }
    if (st == PGRES_POLLING_READING) {
        conn_want_read(conn);
    } else {
        if (h2o_socket_is_reading(conn->sock))
            h2o_socket_read_stop(conn->sock);
        conn_want_write(conn);
    }
}

static void conn_begin_connect(struct pg_conn *conn)
{
    struct pgpool *pool = conn->pool;
    if (pool->hostaddr_slot >= 0)
        pool->values[pool->hostaddr_slot] = conn->hostaddr;
    conn->pg = PQconnectStartParams(pool->keywords, pool->values, 0);
    if (conn->pg == NULL || PQstatus(conn->pg) == CONNECTION_BAD) {
        conn->state = CONN_CONNECTING;
        conn_reset(conn, "connect start");
        return;
    }
    conn->state = CONN_CONNECTING;
    if (conn_watch_socket(conn) != 0) {
        conn_reset(conn, "socket");
        return;
    }
    conn_want_write(conn); /* libpq: after PQconnectStart, wait for writability, then poll */
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    (void)req;
    struct pg_conn *conn = data;
    conn->resolve_req = NULL;
    if (errstr != NULL || res == NULL) {
        log_printf(LOG_WARN, "database host name lookup failed: %s", errstr != NULL ? errstr : "no address");
        snprintf(conn->pool->last_error, sizeof(conn->pool->last_error), "host name lookup failed: %s",
                 errstr != NULL ? errstr : "no address");
        conn->state = CONN_CONNECTING;
        conn_reset(conn, NULL);
        return;
    }
    const void *addr = res->ai_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    if (inet_ntop(res->ai_family, addr, conn->hostaddr, sizeof(conn->hostaddr)) == NULL) {
        conn->state = CONN_CONNECTING;
        conn_reset(conn, NULL);
        return;
    }
    conn_begin_connect(conn);
}

static void conn_start(struct pg_conn *conn)
{
    struct pgpool *pool = conn->pool;
    conn->connect_deadline = now_ms(pool) + (uint64_t)pool->cfg.connect_timeout_ms;
    pool_arm_tick(pool);
    if (pool->resolve_host != NULL) {
        conn->state = CONN_RESOLVING;
        conn->resolve_req = h2o_hostinfo_getaddr(
            pool->resolver, h2o_iovec_init(pool->resolve_host, strlen(pool->resolve_host)),
            h2o_iovec_init(pool->resolve_port, strlen(pool->resolve_port)), AF_UNSPEC, SOCK_STREAM,
            IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, conn);
        return;
    }
    conn_begin_connect(conn);
}

/* ---- running queries ---- */

static bool conn_has_prepared(struct pg_conn *conn, const struct pgpool_statement *stmt)
{
    for (int i = 0; i < conn->n_prepared; i++)
        if (conn->prepared[i] == stmt)
            return true;
    return false;
}

static void conn_flush(struct pg_conn *conn)
{
    int r = PQflush(conn->pg);
    if (r < 0)
        conn_reset(conn, "send");
    else if (r == 1)
        conn_want_write(conn);
}

/* One query is one pipeline, so one implicit transaction and one round trip: the timeout for
 * this transaction, the statement's preparation when this connection lacks it, the query, a sync.
 * A transaction-pooling PgBouncer keeps the whole pipeline on one server connection. */
static void conn_run(struct pg_conn *conn, struct pgpool_query *query)
{
    struct pgpool *pool = conn->pool;
    const struct pgpool_statement *stmt = query->stmt;
    conn->query = query;
    conn->query_deadline = query->deadline;
    conn->n_pipe = conn->at_pipe = 0;
    conn->preparing = NULL;
    bool named = stmt != NULL && pool->prepared_statements;
    if (named && !conn_has_prepared(conn, stmt)) {
        if (conn->n_prepared < MAX_PREPARED)
            conn->preparing = stmt;
        else
            named = false;
    }
    if (!PQsendQueryParams(conn->pg, pool->bound_sql, 0, NULL, NULL, NULL, NULL, 0))
        goto fail;
    conn->pipe[conn->n_pipe++] = PIPE_BOUND;
    if (conn->preparing != NULL) {
        if (!PQsendPrepare(conn->pg, stmt->name, stmt->sql, stmt->nparams, NULL))
            goto fail;
        conn->pipe[conn->n_pipe++] = PIPE_PREPARE;
    }
    int ok = named ? PQsendQueryPrepared(conn->pg, stmt->name, query->nparams, query->params,
                                         query->param_lengths, NULL, 0)
                   : PQsendQueryParams(conn->pg, stmt != NULL ? stmt->sql : query->sql, query->nparams, NULL,
                                       query->params, query->param_lengths, NULL, 0);
    if (!ok)
        goto fail;
    conn->pipe[conn->n_pipe++] = PIPE_QUERY;
    if (PQpipelineSync(conn->pg) != 1)
        goto fail;
    conn->state = CONN_BUSY;
    conn_flush(conn);
    return;
fail:
    conn_reset(conn, "send");
}

/* A named statement missing on the server reached (26000), or there already under that name
 * (42P05): the connection goes through a transaction pooler that moves it between server
 * connections. Named statements are off for the pool from now on; the query did not run (the
 * error came at Parse or Bind), so it runs again once, unnamed. */
static bool retry_unnamed(struct pgpool *pool, struct pgpool_query *query, const char *sqlstate)
{
    if (query == NULL || query->stmt == NULL || query->retried || sqlstate == NULL ||
        (strcmp(sqlstate, "26000") != 0 && strcmp(sqlstate, "42P05") != 0))
        return false;
    if (pool->prepared_statements)
        log_printf(LOG_WARN, "database: named prepared statements do not survive here (a transaction pooler "
                             "such as PgBouncer?); using unnamed statements from now on (set "
                             "DB_PREPARED_STATEMENTS=false to start that way)");
    pool->prepared_statements = false;
    query->retried = true;
    h2o_linklist_insert(pool->waiting.next, &query->link); /* first in line */
    pool->n_waiting++;
    return true;
}

/* The pipeline's sync has come back: every result of the query is in. */
static void conn_command_done(struct pg_conn *conn)
{
    struct pgpool *pool = conn->pool;
    bool failed = conn->error != NULL;
    PGresult *res = failed ? conn->error : conn->result;
    PQclear(failed ? conn->result : NULL);
    conn->result = conn->error = NULL;
    conn->preparing = NULL;
    bool ok = !failed && res != NULL;
    const char *sqlstate = failed ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* A changed schema invalidates prepared plans (0A000), a statement went missing (26000) and an
     * admin shutdown ends the session (57P..): start over on a new connection. */
    bool drop = PQstatus(conn->pg) == CONNECTION_BAD ||
                (sqlstate != NULL && (strcmp(sqlstate, "0A000") == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
                                      strcmp(sqlstate, "26000") == 0));
    /* Settle the connection before the callback runs: it may submit the next query at once. */
    struct pgpool_query *query = conn->query;
    conn->query = NULL;
    if (drop)
        conn_reset(conn, NULL);
    else
        conn->state = CONN_IDLE;
    if (retry_unnamed(pool, query, sqlstate))
        query = NULL;
    if (query != NULL)
        query_finish(pool, query,
                     res == NULL ? PGPOOL_ERR_UNAVAILABLE
                     : ok        ? PGPOOL_OK
                                 : PGPOOL_ERR_QUERY,
                     res);
    PQclear(res);
    pool_dispatch(pool);
}

static void conn_read_results(struct pg_conn *conn)
{
    if (!PQconsumeInput(conn->pg)) {
        conn_reset(conn, "read");
        return;
    }
    if (conn->state == CONN_IDLE) {
        /* Unsolicited input on an idle connection: a notice, or the server going away. */
        PGnotify *n;
        while ((n = PQnotifies(conn->pg)) != NULL)
            PQfreemem(n);
        if (PQstatus(conn->pg) == CONNECTION_BAD)
            conn_reset(conn, "server closed the connection");
        return;
    }
    while (!PQisBusy(conn->pg)) {
        PGresult *r = PQgetResult(conn->pg);
        if (r == NULL) { /* the end of one command's results */
            if (++conn->at_pipe > conn->n_pipe) {
                conn_reset(conn, "unexpected end of results");
                return;
            }
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            conn_command_done(conn);
            return;
        }
        enum pipe_cmd cmd = conn->at_pipe < conn->n_pipe ? conn->pipe[conn->at_pipe] : PIPE_QUERY;
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (st == PGRES_FATAL_ERROR && conn->error == NULL) {
            conn->error = r; /* the commands after it come back PGRES_PIPELINE_ABORTED */
            continue;
        }
        if (cmd == PIPE_PREPARE && ok && conn->preparing != NULL && conn->n_prepared < MAX_PREPARED)
            conn->prepared[conn->n_prepared++] = conn->preparing; /* outlives the transaction */
        if (cmd == PIPE_QUERY && ok && conn->result == NULL) {
            conn->result = r; /* only one statement per query is sent; keep its first result */
            continue;
        }
        PQclear(r);
    }
}

static void on_conn_readable(h2o_socket_t *sock, const char *err)
{
    struct pg_conn *conn = sock->data;
    if (err != NULL) {
        conn_reset(conn, "socket error");
        return;
    }
    if (conn->state == CONN_CONNECTING)
        conn_connect_poll(conn);
    else
        conn_read_results(conn);
}

static void on_conn_writable(h2o_socket_t *sock, const char *err)
{
    struct pg_conn *conn = sock->data;
    conn->write_armed = false;
    if (err != NULL) {
        conn_reset(conn, "socket error");
        return;
    }
    if (conn->state == CONN_CONNECTING)
        conn_connect_poll(conn);
    else if (conn->state == CONN_BUSY)
        conn_flush(conn);
}

/* ---- the pool ---- */

static struct pg_conn *pool_find(struct pgpool *pool, enum conn_state state)
{
    for (int i = 0; i < pool->cfg.size; i++)
        if (pool->conns[i].state == state)
            return &pool->conns[i];
    return NULL;
}

static void pool_dispatch(struct pgpool *pool)
{
    struct pg_conn *idle;
    while (!h2o_linklist_is_empty(&pool->waiting) && (idle = pool_find(pool, CONN_IDLE)) != NULL) {
        struct pgpool_query *q = H2O_STRUCT_FROM_MEMBER(struct pgpool_query, link, pool->waiting.next);
        h2o_linklist_unlink(&q->link);
        pool->n_waiting--;
        conn_run(idle, q);
    }
    /* Grow towards demand: one new connection per waiting query, up to the pool size. */
    int connecting = 0;
    for (int i = 0; i < pool->cfg.size; i++)
        if (pool->conns[i].state == CONN_CONNECTING || pool->conns[i].state == CONN_RESOLVING)
            connecting++;
    while (!pool->destroying && pool->n_waiting > connecting && now_ms(pool) >= pool->retry_at) {
        struct pg_conn *down = pool_find(pool, CONN_DOWN);
        if (down == NULL)
            break;
        conn_start(down);
        connecting++;
    }
}

static bool pool_needs_tick(struct pgpool *pool)
{
    if (pool->n_waiting > 0)
        return true;
    for (int i = 0; i < pool->cfg.size; i++) {
        enum conn_state s = pool->conns[i].state;
        if (s == CONN_CONNECTING || s == CONN_RESOLVING || s == CONN_BUSY)
            return true;
    }
    return false;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct pgpool *pool = H2O_STRUCT_FROM_MEMBER(struct pgpool, tick_entry, entry);
    uint64_t now = now_ms(pool);
    for (int i = 0; i < pool->cfg.size; i++) {
        struct pg_conn *conn = &pool->conns[i];
        if ((conn->state == CONN_CONNECTING || conn->state == CONN_RESOLVING) &&
            now >= conn->connect_deadline)
            conn_reset(conn, "connect timeout");
        else if (conn->state == CONN_BUSY && now >= conn->query_deadline + QUERY_GRACE_MS) {
            if (conn->query != NULL) {
                struct pgpool_query *q = conn->query;
                conn->query = NULL;
                q->cb(q->arg, PGPOOL_ERR_TIMEOUT, NULL);
            }
            conn_reset(conn, "query timeout");
        }
    }
    /* Waiting queries past their deadline fail in FIFO order (the oldest first). */
    while (!h2o_linklist_is_empty(&pool->waiting)) {
        struct pgpool_query *q = H2O_STRUCT_FROM_MEMBER(struct pgpool_query, link, pool->waiting.next);
        if (now < q->deadline)
            break;
        h2o_linklist_unlink(&q->link);
        pool->n_waiting--;
        q->cb(q->arg, PGPOOL_ERR_TIMEOUT, NULL);
    }
    pool_dispatch(pool);
    pool_arm_tick(pool);
}

static void pool_arm_tick(struct pgpool *pool)
{
    if (!pool->destroying && !h2o_timeout_is_linked(&pool->tick_entry) && pool_needs_tick(pool))
        h2o_timeout_link(pool->loop, &pool->tick, &pool->tick_entry);
}

struct pgpool *pgpool_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver,
                             const struct pgpool_config *config)
{
    struct pgpool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->loop = loop;
    pool->resolver = resolver;
    pool->cfg = *config;
    pool->backoff_ms = BACKOFF_MIN_MS;
    h2o_linklist_init_anchor(&pool->waiting);
    pool->conninfo = strdup(config->conninfo);
    pool->conns = calloc((size_t)config->size, sizeof(*pool->conns));
    if (pool->conninfo == NULL || pool->conns == NULL || pool_prepare_params(pool) != 0)
        goto fail;
    pool->cfg.conninfo = pool->conninfo;
    pool->prepared_statements = config->prepared_statements;
    for (int i = 0; i < config->size; i++) {
        pool->conns[i].pool = pool;
        pool->conns[i].watched_fd = -1;
    }
    h2o_timeout_init(loop, &pool->tick, TICK_MS);
    pool->tick_entry.cb = on_tick;
    return pool;
fail:
    PQconninfoFree(pool->parsed);
    free(pool->resolve_host);
    free(pool->conns);
    free(pool->conninfo);
    free(pool);
    return NULL;
}

enum pgpool_error pgpool_submit(struct pgpool *pool, struct pgpool_query *query)
{
    if (pool->destroying)
        return PGPOOL_ERR_SHUTDOWN;
    uint64_t now = now_ms(pool);
    query->deadline = now + (uint64_t)pool->cfg.query_timeout_ms;
    query->cancelled = false;
    query->retried = false;
    struct pg_conn *idle = pool_find(pool, CONN_IDLE);
    if (idle != NULL && pool->n_waiting == 0) {
        pool->submitting = query;
        pool->submit_error = PGPOOL_OK;
        conn_run(idle, query);
        pool->submitting = NULL;
        pool_arm_tick(pool);
        return pool->submit_error;
    }
    /* A query that a connection being opened (or about to be) will take does not count as waiting. */
    int opening = 0;
    for (int i = 0; i < pool->cfg.size; i++)
        if (pool->conns[i].state == CONN_DOWN || pool->conns[i].state == CONN_CONNECTING ||
            pool->conns[i].state == CONN_RESOLVING)
            opening++;
    if (pool->n_waiting >= pool->cfg.queue_max + opening)
        return PGPOOL_ERR_QUEUE_FULL;
    /* Fail fast while the database is known to be down and the next attempt is not due. */
    if (!pool_has_live_conn(pool) && pool->ever_failed && !pool->reachable && now < pool->retry_at)
        return PGPOOL_ERR_UNAVAILABLE;
    h2o_linklist_insert(&pool->waiting, &query->link);
    pool->n_waiting++;
    pool->submitting = query;
    pool->submit_error = PGPOOL_OK;
    pool_dispatch(pool);
    pool->submitting = NULL;
    pool_arm_tick(pool);
    return pool->submit_error;
}

void pgpool_cancel(struct pgpool *pool, struct pgpool_query *query)
{
    if (h2o_linklist_is_linked(&query->link)) {
        h2o_linklist_unlink(&query->link);
        pool->n_waiting--;
        return;
    }
    for (int i = 0; i < pool->cfg.size; i++)
        if (pool->conns[i].query == query)
            pool->conns[i].query = NULL; /* the result is read and dropped */
}

void pgpool_destroy(struct pgpool *pool)
{
    if (pool == NULL)
        return;
    pool->destroying = true;
    fail_waiting(pool, PGPOOL_ERR_SHUTDOWN);
    for (int i = 0; i < pool->cfg.size; i++) {
        struct pg_conn *conn = &pool->conns[i];
        if (conn->query != NULL) {
            struct pgpool_query *q = conn->query;
            conn->query = NULL;
            q->cb(q->arg, PGPOOL_ERR_SHUTDOWN, NULL);
        }
        if (conn->resolve_req != NULL)
            h2o_hostinfo_getaddr_cancel(conn->resolve_req);
        conn->resolve_req = NULL;
        conn_close_socket(conn);
        if (conn->pg != NULL)
            PQfinish(conn->pg);
        PQclear(conn->result);
        PQclear(conn->error);
    }
    if (h2o_timeout_is_linked(&pool->tick_entry))
        h2o_timeout_unlink(&pool->tick_entry);
    h2o_timeout_dispose(pool->loop, &pool->tick);
    PQconninfoFree(pool->parsed);
    free(pool->resolve_host);
    free(pool->conns);
    free(pool->conninfo);
    free(pool);
}

void pgpool_stats(const struct pgpool *pool, struct pgpool_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < pool->cfg.size; i++) {
        enum conn_state s = pool->conns[i].state;
        if (s == CONN_IDLE || s == CONN_BUSY)
            out->connections++;
        if (s == CONN_BUSY)
            out->in_use++;
    }
    out->waiting = pool->n_waiting;
    out->reachable = pool->reachable;
}

const char *pgpool_last_error(const struct pgpool *pool)
{
    return pool->reachable || pool->last_error[0] == '\0' ? NULL : pool->last_error;
}
