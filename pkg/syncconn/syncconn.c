#include "syncconn/syncconn.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "base/base.h"
#include "rediscluster/rediscluster.h"
#include "redistls/redistls.h"
#include "url/url.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS   5000

static char *secret_dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void secret_free(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Waits for fd to become ready for `events` until the deadline; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = base_now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        return 1;
    }
}

/* ---- PostgreSQL */

struct syncconn_pg {
    char *url;
    char *application_name;
    int connect_timeout_ms;
    PGconn *conn;
    uint64_t retry_at;
    int backoff_ms;
    char last_error[SYNCCONN_WHY_MAX];
};

struct syncconn_pg *syncconn_pg_new(const char *url, const char *application_name, int connect_timeout_ms)
{
    struct syncconn_pg *pg = calloc(1, sizeof(*pg));
    if (pg == NULL)
        return NULL;
    pg->url = secret_dup(url);
    pg->application_name = strdup(application_name != NULL ? application_name : "bollard");
    pg->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 3000;
    if (pg->url == NULL || pg->application_name == NULL) {
        syncconn_pg_free(pg);
        return NULL;
    }
    return pg;
}

void syncconn_pg_drop(struct syncconn_pg *pg)
{
    if (pg->conn != NULL) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
}

void syncconn_pg_free(struct syncconn_pg *pg)
{
    if (pg == NULL)
        return;
    syncconn_pg_drop(pg);
    secret_free(pg->url);
    free(pg->application_name);
    free(pg);
}

bool syncconn_pg_connected(const struct syncconn_pg *pg)
{
    return pg->conn != NULL;
}

static void pg_failed(struct syncconn_pg *pg, const char *why)
{
    snprintf(pg->last_error, sizeof(pg->last_error), "%s", why != NULL ? why : "");
    syncconn_pg_drop(pg);
    pg->backoff_ms = pg->backoff_ms == 0 ? BACKOFF_FIRST_MS : pg->backoff_ms * 2;
    if (pg->backoff_ms > BACKOFF_MAX_MS)
        pg->backoff_ms = BACKOFF_MAX_MS;
    pg->retry_at = base_now_ms() + (uint64_t)pg->backoff_ms;
}

bool syncconn_pg_ensure(struct syncconn_pg *pg, char *why, size_t cap)
{
    if (pg->conn != NULL)
        return true;
    uint64_t now = base_now_ms();
    if (now < pg->retry_at) {
        /* The same text while it lasts, so callers can log changes only. */
        base_why(why, cap, "%s (reconnecting with backoff)", pg->last_error);
        return false;
    }
    uint64_t deadline = now + (uint64_t)pg->connect_timeout_ms;
    const char *keys[] = {"dbname",           "fallback_application_name",
                          "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", NULL};
    const char *values[] = {pg->url, pg->application_name, "30", "10", "3", NULL};
    /* The URI is expanded by libpq; its host name (if any) is resolved here, synchronously. */
    pg->conn = PQconnectStartParams(keys, values, 1);
    if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(pg->conn != NULL ? PQerrorMessage(pg->conn) : "out of memory", line, sizeof(line));
        base_why(why, cap, "database connection failed: %s", line);
        pg_failed(pg, why);
        return false;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            char line[SYNCCONN_WHY_MAX];
            base_one_line(PQerrorMessage(pg->conn), line, sizeof(line));
            base_why(why, cap, "database connection failed: %s", line);
            pg_failed(pg, why);
            return false;
        }
        int ready = wait_fd(PQsocket(pg->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (ready <= 0) {
            base_why(why, cap, "database connection timed out after %d ms", pg->connect_timeout_ms);
            pg_failed(pg, why);
            return false;
        }
        st = PQconnectPoll(pg->conn);
    }
    if (PQsetnonblocking(pg->conn, 1) != 0) {
        base_why(why, cap, "database connection: cannot switch to non-blocking mode");
        pg_failed(pg, why);
        return false;
    }
    pg->backoff_ms = 0;
    pg->retry_at = 0;
    return true;
}

PGresult *syncconn_pg_exec(struct syncconn_pg *pg, const char *sql, int nparams, const char *const *params,
                           int timeout_ms, char *why, size_t cap, char *sqlstate)
{
    if (sqlstate != NULL)
        sqlstate[0] = '\0';
    if (!syncconn_pg_ensure(pg, why, cap))
        return NULL;
    uint64_t deadline = base_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
    int sent = params == NULL && nparams == 0
                   ? PQsendQuery(pg->conn, sql)
                   : PQsendQueryParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (sent != 1)
        goto lost;
    /* Non-blocking mode: the statement may not have left the buffer yet. */
    for (;;) {
        int f = PQflush(pg->conn);
        if (f == 0)
            break;
        if (f < 0)
            goto lost;
        int ready = wait_fd(PQsocket(pg->conn), POLLOUT | POLLIN, deadline);
        if (ready == 0)
            goto timed_out;
        if (ready < 0 || PQconsumeInput(pg->conn) != 1)
            goto lost;
    }
    PGresult *last = NULL;
    bool failed = false;
    for (;;) {
        while (PQisBusy(pg->conn)) {
            int ready = wait_fd(PQsocket(pg->conn), POLLIN, deadline);
            if (ready == 0) {
                PQclear(last);
                goto timed_out;
            }
            if (ready < 0 || PQconsumeInput(pg->conn) != 1) {
                PQclear(last);
                goto lost;
            }
        }
        PGresult *r = PQgetResult(pg->conn);
        if (r == NULL)
            break;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (!failed) {
                PQclear(last);
                last = r;
            } else {
                PQclear(r);
            }
            continue;
        }
        if (!failed) {
            failed = true;
            char line[SYNCCONN_WHY_MAX];
            base_one_line(PQresultErrorMessage(r), line, sizeof(line));
            base_why(why, cap, "%s", line[0] != '\0' ? line : PQresStatus(st));
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (sqlstate != NULL && state != NULL)
                snprintf(sqlstate, 6, "%s", state);
        }
        PQclear(r);
    }
    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        PQclear(last);
        goto lost;
    }
    if (failed) {
        PQclear(last);
        return NULL;
    }
    if (last == NULL)
        base_why(why, cap, "the statement returned no result");
    return last;
timed_out:
    /* The server may still be running it; dropping the connection ends it (and its transaction)
     * without PQcancel's blocking round trip. */
    base_why(why, cap, "database statement timed out after %d ms", timeout_ms);
    pg_failed(pg, why);
    return NULL;
lost : {
    char line[SYNCCONN_WHY_MAX];
    base_one_line(PQerrorMessage(pg->conn), line, sizeof(line));
    base_why(why, cap, "database connection lost: %s", line);
    pg_failed(pg, why);
    return NULL;
}
}

/* ---- Redis: hiredis encodes commands (redisFormatCommandArgv) and parses replies (redisReader);
 * the I/O is ours, on a non-blocking socket waited on with poll, so a TLS session (OpenSSL on the
 * same descriptor) and plain TCP take the same path and every wait has a deadline. */

#define REDIS_READ_CHUNK 16384

/* Commands of the current pipeline kept until their replies are read, so that one redirected
 * (MOVED/ASK) can be sent again to the node named. */
struct sent_cmd {
    char *bytes;
    size_t len;
};

struct syncconn_redis {
    struct url_redis url;
    struct rediscluster cluster; /* the node connected to, the nodes known (pkg/rediscluster) */
    bool pinned;                 /* an ASK side connection: stays on the node it was sent to */
    bool stale;                  /* a reply said the slot map changed: reconnect once the pipeline is read */
    struct syncconn_redis *side; /* redirected commands go through it (made on the first redirect) */
    struct sent_cmd *sent;       /* the pipeline's commands in order, `n_sent` of them, from `sent_head` */
    size_t n_sent, sent_head, sent_cap;
    const struct redistls_config *tls;
    int timeout_ms;
    int fd;              /* -1: not connected */
    SSL_CTX *ctx;        /* rediss://: made on the first connection attempt, kept */
    SSL *ssl;            /* rediss:// while connected */
    bool cert_requested; /* this connection's server asked for a client certificate (none set) */
    redisReader *reader;
    struct base_buf out; /* commands appended, not yet written */
    struct syncconn_redis_script *scripts;
    size_t n_scripts;
    uint64_t retry_at;
    int backoff_ms;
    char last_error[SYNCCONN_WHY_MAX];
};

struct syncconn_redis *syncconn_redis_new(const char *url, int timeout_ms, const struct redistls_config *tls,
                                          struct syncconn_redis_script *scripts, size_t n_scripts)
{
    struct syncconn_redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->fd = -1;
    if (!url_redis_parse(url, &r->url)) {
        syncconn_redis_free(r);
        return NULL;
    }
    rediscluster_init(&r->cluster, &r->url);
    r->tls = tls;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    r->scripts = scripts;
    r->n_scripts = n_scripts;
    for (size_t i = 0; i < n_scripts; i++) {
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)scripts[i].source, strlen(scripts[i].source), digest);
        for (int k = 0; k < SHA_DIGEST_LENGTH; k++)
            snprintf(scripts[i].sha + 2 * k, 3, "%02x", digest[k]);
    }
    return r;
}

static void sent_clear(struct syncconn_redis *r)
{
    for (size_t i = r->sent_head; i < r->n_sent; i++) {
        OPENSSL_cleanse(r->sent[i].bytes, r->sent[i].len); /* AUTH never goes here, but be safe */
        free(r->sent[i].bytes);
    }
    r->n_sent = r->sent_head = 0;
}

void syncconn_redis_drop(struct syncconn_redis *r)
{
    sent_clear(r);
    r->stale = false;
    if (r->ssl != NULL) {
        SSL_free(r->ssl); /* no close_notify: the connection may be mid-reply or dead */
        r->ssl = NULL;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    if (r->reader != NULL) {
        redisReaderFree(r->reader);
        r->reader = NULL;
    }
    base_buf_free(&r->out); /* AUTH may be in it */
}

void syncconn_redis_free(struct syncconn_redis *r)
{
    if (r == NULL)
        return;
    syncconn_redis_drop(r);
    syncconn_redis_free(r->side);
    free(r->sent);
    SSL_CTX_free(r->ctx);
    OPENSSL_cleanse(&r->url, sizeof(r->url));
    free(r);
}

bool syncconn_redis_connected(const struct syncconn_redis *r)
{
    return r->fd >= 0;
}

int syncconn_redis_fd(const struct syncconn_redis *r)
{
    return r->fd;
}

bool syncconn_redis_reply_buffered(const struct syncconn_redis *r)
{
    if (r->fd < 0)
        return false;
    if (r->ssl != NULL && SSL_pending(r->ssl) > 0)
        return true;
    /* hiredis keeps unparsed input in buf[pos..len) */
    return r->reader != NULL && r->reader->len > r->reader->pos;
}

static void redis_failed(struct syncconn_redis *r, const char *why)
{
    snprintf(r->last_error, sizeof(r->last_error), "%s", why != NULL ? why : "");
    syncconn_redis_drop(r);
    r->backoff_ms = r->backoff_ms == 0 ? BACKOFF_FIRST_MS : r->backoff_ms * 2;
    if (r->backoff_ms > BACKOFF_MAX_MS)
        r->backoff_ms = BACKOFF_MAX_MS;
    r->retry_at = base_now_ms() + (uint64_t)r->backoff_ms;
    if (!r->pinned)
        rediscluster_next(&r->cluster); /* a failover: another node knows the new master */
}

/* One TCP connection to the first address that answers, within the deadline; -1 with the reason. */
static int tcp_connect(const struct rediscluster_node *u, uint64_t deadline, char *why, size_t cap)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", u->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    /* getaddrinfo is not bounded by the deadline (as with libpq); the worker's threads may block. */
    int gai = getaddrinfo(u->host, port, &hints, &res);
    if (gai != 0) {
        base_why(why, cap, "%s", gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    base_why(why, cap, "no address");
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            base_why(why, cap, "%s", strerror(errno));
            continue;
        }
        int err = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                int ready = wait_fd(fd, POLLOUT, deadline);
                socklen_t len = sizeof(err);
                if (ready == 0)
                    err = ETIMEDOUT;
                else if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                    err = errno != 0 ? errno : EIO;
            }
        }
        if (err == 0) {
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* latency only */
            break;
        }
        base_why(why, cap, "%s", err == ETIMEDOUT ? "connection timed out" : strerror(err));
        close(fd);
        fd = -1;
        if (base_now_ms() >= deadline)
            break;
    }
    freeaddrinfo(res);
    return fd;
}

/* Waits for what OpenSSL asked for (ret: the failed call's return); false: an error or the deadline. */
static bool tls_wait(struct syncconn_redis *r, int ret, uint64_t deadline, bool *timed_out)
{
    int e = SSL_get_error(r->ssl, ret);
    short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0)
        return false;
    int ready = wait_fd(r->fd, events, deadline);
    *timed_out = ready == 0;
    return ready > 0;
}

static bool tls_handshake(struct syncconn_redis *r, uint64_t deadline, char *why, size_t cap)
{
    char reason[SYNCCONN_WHY_MAX];
    if (r->ctx == NULL) {
        r->ctx = redistls_ctx_new(r->tls, r->url.host, &r->cert_requested, reason, sizeof(reason));
        if (r->ctx == NULL) {
            base_why(why, cap, "redis TLS: %s", reason);
            return false;
        }
    }
    const struct rediscluster_node *node = rediscluster_target(&r->cluster);
    ERR_clear_error();
    r->cert_requested = false;
    if (!redistls_ctx_expect_host(r->ctx, node->host)) {
        ERR_clear_error();
        base_why(why, cap, "redis TLS: cannot set the expected certificate name");
        return false;
    }
    r->ssl = SSL_new(r->ctx);
    if (r->ssl == NULL || SSL_set_fd(r->ssl, r->fd) != 1 ||
        (!redistls_host_is_ip(node->host) && SSL_set_tlsext_host_name(r->ssl, node->host) != 1)) {
        ERR_clear_error();
        base_why(why, cap, "redis TLS: cannot set up the session");
        return false;
    }
    for (;;) {
        ERR_clear_error();
        int ret = SSL_connect(r->ssl);
        if (ret == 1)
            return true;
        bool timed_out = false;
        if (tls_wait(r, ret, deadline, &timed_out))
            continue;
        if (timed_out)
            base_why(reason, sizeof(reason), "timed out after %d ms", r->timeout_ms);
        else
            redistls_reason(r->ssl, "the server closed the connection", reason, sizeof(reason));
        base_why(why, cap, "redis TLS handshake with %s:%d failed: %s", node->host, node->port, reason);
        return false;
    }
}

/* The reason a TLS read or write failed: its timeout (`timeout_what` and the bound) or what OpenSSL
 * says, with the hint for a server that asked for a client certificate none was set for. */
static void tls_failure(const struct syncconn_redis *r, bool timed_out, const char *timeout_what, char *why,
                        size_t cap)
{
    char reason[SYNCCONN_WHY_MAX];
    if (timed_out)
        base_why(reason, sizeof(reason), "%s %d ms", timeout_what, r->timeout_ms);
    else
        redistls_reason(NULL, "connection lost", reason, sizeof(reason));
    base_why(why, cap, "%s%s", reason, redistls_cert_hint(r->cert_requested));
}

/* Writes every appended byte before the deadline. */
static bool redis_write_all(struct syncconn_redis *r, uint64_t deadline, char *why, size_t cap)
{
    size_t off = 0;
    while (off < r->out.len) {
        size_t want = r->out.len - off;
        if (r->ssl != NULL) {
            ERR_clear_error();
            int n = SSL_write(r->ssl, r->out.bytes + off, want > INT_MAX ? INT_MAX : (int)want);
            if (n > 0) {
                off += (size_t)n;
                continue;
            }
            bool timed_out = false;
            if (tls_wait(r, n, deadline, &timed_out))
                continue;
            tls_failure(r, timed_out, "write timed out after", why, cap);
            return false;
        }
        ssize_t n = send(r->fd, r->out.bytes + off, want, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = wait_fd(r->fd, POLLOUT, deadline);
            if (ready > 0)
                continue;
            base_why(why, cap, "%s", ready == 0 ? "write timed out" : "connection lost");
            return false;
        }
        base_why(why, cap, "%s", n < 0 ? strerror(errno) : "connection lost");
        return false;
    }
    base_buf_reset(&r->out);
    return true;
}

/* Reads what arrived (at least a byte) into the reader before the deadline. */
static bool redis_read_some(struct syncconn_redis *r, uint64_t deadline, char *why, size_t cap)
{
    char buf[REDIS_READ_CHUNK];
    for (;;) {
        if (r->ssl != NULL) {
            ERR_clear_error();
            int n = SSL_read(r->ssl, buf, sizeof(buf));
            if (n > 0) {
                if (redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK)
                    goto oom;
                return true;
            }
            bool timed_out = false;
            if (tls_wait(r, n, deadline, &timed_out))
                continue;
            tls_failure(r, timed_out, "no reply within", why, cap);
            return false;
        }
        ssize_t n = recv(r->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            if (redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK)
                goto oom;
            return true;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = wait_fd(r->fd, POLLIN, deadline);
            if (ready > 0)
                continue;
            if (ready == 0)
                base_why(why, cap, "no reply within %d ms", r->timeout_ms);
            else
                base_why(why, cap, "connection lost");
            return false;
        }
        base_why(why, cap, "%s", n < 0 ? strerror(errno) : "connection lost");
        return false;
    }
oom:
    OPENSSL_cleanse(buf, sizeof(buf));
    base_why(why, cap, "out of memory");
    return false;
}

/* The next reply (writing what is appended first), or NULL with the bare reason; the connection is
 * not dropped here. */
static redisReply *redis_next_reply(struct syncconn_redis *r, char *why, size_t cap)
{
    uint64_t deadline = base_now_ms() + (uint64_t)r->timeout_ms;
    if (r->out.len > 0 && !redis_write_all(r, deadline, why, cap))
        return NULL;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
            char line[SYNCCONN_WHY_MAX];
            base_one_line(r->reader->errstr, line, sizeof(line));
            base_why(why, cap, "protocol error: %s", line);
            return NULL;
        }
        if (reply != NULL)
            return reply;
        if (!redis_read_some(r, deadline, why, cap))
            return NULL;
    }
}

/* Encodes one command into the output; `keep`: a caller's command, remembered until its reply is
 * read (a redirect sends it again). The connection's own commands (AUTH …) are never kept. */
static bool redis_append(struct syncconn_redis *r, int argc, const char **argv, const size_t *argvlen,
                         bool keep)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return false;
    bool ok = true;
    if (keep) {
        if (r->n_sent == r->sent_cap) {
            size_t cap = r->sent_cap == 0 ? 16 : r->sent_cap * 2;
            struct sent_cmd *grown = realloc(r->sent, cap * sizeof(*grown));
            ok = grown != NULL;
            if (ok) {
                r->sent = grown;
                r->sent_cap = cap;
            }
        }
        char *copy = ok ? malloc((size_t)len) : NULL;
        ok = copy != NULL;
        if (ok) {
            memcpy(copy, cmd, (size_t)len);
            r->sent[r->n_sent++] = (struct sent_cmd){.bytes = copy, .len = (size_t)len};
        }
    }
    ok = ok && base_buf_append(&r->out, cmd, (size_t)len);
    OPENSSL_cleanse(cmd, (size_t)len);
    redisFreeCommand(cmd);
    return ok;
}

/* Runs a handshake command on a fresh connection; its reply (caller frees) or NULL with the reason. */
static redisReply *handshake_reply(struct syncconn_redis *r, int argc, const char **argv, const char *what,
                                   char *why, size_t cap)
{
    if (!redis_append(r, argc, argv, NULL, false)) {
        base_why(why, cap, "redis %s failed: out of memory", what);
        return NULL;
    }
    char reason[SYNCCONN_WHY_MAX];
    redisReply *reply = redis_next_reply(r, reason, sizeof(reason));
    if (reply == NULL)
        base_why(why, cap, "redis %s failed: %s", what, reason);
    return reply;
}

/* Runs a handshake command on a fresh connection; true when the reply is not an error. */
static bool handshake(struct syncconn_redis *r, int argc, const char **argv, const char *what, char *why,
                      size_t cap)
{
    redisReply *reply = handshake_reply(r, argc, argv, what, why, cap);
    if (reply == NULL)
        return false;
    bool ok = reply->type != REDIS_REPLY_ERROR;
    if (!ok) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(reply->str, line, sizeof(line));
        base_why(why, cap, "redis %s refused: %s", what, line);
    }
    freeReplyObject(reply);
    return ok;
}

/* One connection to the target: TCP, TLS, AUTH, SELECT, the slot map (not on a pinned connection),
 * the scripts. 1 ready; 0 failed (reason set); 2 the slot map names another master for the home
 * slot: the target is now that node and the connection is dropped. */
static int connect_target(struct syncconn_redis *r, uint64_t deadline, char *why, size_t cap)
{
    const struct rediscluster_node *node = rediscluster_target(&r->cluster);
    char reason[SYNCCONN_WHY_MAX];
    r->fd = tcp_connect(node, deadline, reason, sizeof(reason));
    if (r->fd < 0) {
        base_why(why, cap, "redis not reachable at %s:%d: %s", node->host, node->port, reason);
        return 0;
    }
    r->reader = redisReaderCreate();
    if (r->reader == NULL) {
        base_why(why, cap, "redis: out of memory");
        return 0;
    }
    if (r->url.tls && !tls_handshake(r, deadline, why, cap))
        return 0;
    if (r->url.password[0] != '\0') {
        const char *argv[3] = {"AUTH", r->url.user[0] != '\0' ? r->url.user : r->url.password,
                               r->url.password};
        if (!handshake(r, r->url.user[0] != '\0' ? 3 : 2, argv, "AUTH", why, cap))
            return 0;
    }
    if (r->url.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        const char *argv[2] = {"SELECT", db};
        if (!handshake(r, 2, argv, "SELECT", why, cap))
            return 0;
    }
    if (!r->pinned) {
        /* A server without cluster support (or a user not allowed CLUSTER) answers with an error:
         * standalone. */
        redisReply *map =
            handshake_reply(r, 2, (const char **)rediscluster_slots_argv, "CLUSTER SLOTS", why, cap);
        if (map == NULL)
            return 0;
        int moved = rediscluster_apply_slots(&r->cluster, map);
        freeReplyObject(map);
        if (moved < 0) {
            base_why(why, cap, "redis: CLUSTERDOWN: no master serves the slot of %s", REDISCLUSTER_TAG);
            return 0;
        }
        if (moved > 0) {
            syncconn_redis_drop(r);
            return 2;
        }
    }
    for (size_t i = 0; i < r->n_scripts; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", r->scripts[i].source};
        if (!handshake(r, 3, argv, "SCRIPT LOAD", why, cap))
            return 0;
    }
    return 1;
}

bool syncconn_redis_ensure(struct syncconn_redis *r, char *why, size_t cap)
{
    if (r->fd >= 0 && r->stale && r->sent_head == r->n_sent)
        syncconn_redis_drop(r); /* the slot map changed: read it again now (no backoff: not a failure) */
    if (r->fd >= 0)
        return true;
    uint64_t now = base_now_ms();
    if (now < r->retry_at) {
        base_why(why, cap, "%s (reconnecting with backoff)", r->last_error);
        return false;
    }
    for (int hop = 1;; hop++) {
        int st = connect_target(r, base_now_ms() + (uint64_t)r->timeout_ms, why, cap);
        if (st == 1)
            break;
        if (st == 0)
            goto fail;
        if (hop == REDISCLUSTER_HOPS_MAX) {
            base_why(why, cap, "redis: the cluster's slot maps named %d different masters in a row", hop);
            goto fail;
        }
    }
    r->backoff_ms = 0;
    r->retry_at = 0;
    return true;
fail:
    redis_failed(r, why);
    return false;
}

bool syncconn_redis_append(struct syncconn_redis *r, int argc, const char **argv, const size_t *argvlen,
                           char *why, size_t cap)
{
    if (!syncconn_redis_ensure(r, why, cap))
        return false;
    if (!redis_append(r, argc, argv, argvlen, true)) {
        base_why(why, cap, "redis: cannot queue the command (out of memory)");
        return false;
    }
    return true;
}

bool syncconn_redis_send(struct syncconn_redis *r, char *why, size_t cap)
{
    if (r->fd < 0) {
        base_why(why, cap, "redis: not connected");
        return false;
    }
    char reason[SYNCCONN_WHY_MAX];
    if (!redis_write_all(r, base_now_ms() + (uint64_t)r->timeout_ms, reason, sizeof(reason))) {
        base_why(why, cap, "redis command failed: %s", reason);
        redis_failed(r, why);
        return false;
    }
    return true;
}

/* A redirected command sent again, through the side connection pinned to the node named (after
 * ASKING for an ASK); its reply, or NULL when that node cannot be reached. */
static redisReply *resend(struct syncconn_redis *r, const struct sent_cmd *cmd,
                          enum rediscluster_redirect kind, const struct rediscluster_node *to)
{
    char why[SYNCCONN_WHY_MAX];
    if (r->side == NULL) {
        r->side = calloc(1, sizeof(*r->side));
        if (r->side == NULL)
            return NULL;
        r->side->fd = -1;
        r->side->url = r->url;
        r->side->tls = r->tls;
        r->side->timeout_ms = r->timeout_ms;
        r->side->scripts = r->scripts; /* SHA-1s already computed */
        r->side->n_scripts = r->n_scripts;
        r->side->pinned = true;
        rediscluster_init(&r->side->cluster, &r->url);
    }
    struct syncconn_redis *side = r->side;
    if (rediscluster_retarget(&side->cluster, to->host, to->port))
        syncconn_redis_drop(side);
    if (!syncconn_redis_ensure(side, why, sizeof(why)))
        return NULL;
    static const char *const asking[] = {"ASKING"};
    if ((kind == REDISCLUSTER_ASK && !redis_append(side, 1, (const char **)asking, NULL, false)) ||
        !base_buf_append(&side->out, cmd->bytes, cmd->len)) {
        syncconn_redis_drop(side);
        return NULL;
    }
    if (kind == REDISCLUSTER_ASK) {
        redisReply *ok = redis_next_reply(side, why, sizeof(why));
        if (ok == NULL) {
            redis_failed(side, why);
            return NULL;
        }
        freeReplyObject(ok);
    }
    redisReply *reply = redis_next_reply(side, why, sizeof(why));
    if (reply == NULL)
        redis_failed(side, why);
    return reply;
}

/* Follows MOVED and ASK (at most REDISCLUSTER_REDIRECTS_MAX each command): a MOVED also makes its node
 * this connection's target, reconnected to once the pipeline is read; a retryable cluster state makes
 * it read the slot map again. Returns the reply to hand out (the last redirect when it cannot go on). */
static redisReply *follow(struct syncconn_redis *r, redisReply *reply, const struct sent_cmd *cmd)
{
    for (int n = 0; n < REDISCLUSTER_REDIRECTS_MAX; n++) {
        struct rediscluster_node to;
        enum rediscluster_redirect kind = rediscluster_redirect_parse(reply, &to);
        if (kind == REDISCLUSTER_NONE) {
            if (rediscluster_retryable(reply) && !r->pinned)
                r->stale = true;
            return reply;
        }
        r->cluster.enabled = true;
        if (kind == REDISCLUSTER_MOVED && !r->pinned && rediscluster_retarget(&r->cluster, to.host, to.port))
            r->stale = true;
        if (cmd == NULL || r->pinned)
            return reply; /* a pinned (side) connection leaves the redirect to its owner */
        redisReply *again = resend(r, cmd, kind, &to);
        if (again == NULL)
            return reply;
        freeReplyObject(reply);
        reply = again;
    }
    return reply;
}

redisReply *syncconn_redis_reply(struct syncconn_redis *r, char *why, size_t cap)
{
    if (r->fd < 0) {
        base_why(why, cap, "redis: not connected");
        return NULL;
    }
    char reason[SYNCCONN_WHY_MAX];
    redisReply *reply = redis_next_reply(r, reason, sizeof(reason));
    if (reply == NULL) {
        base_why(why, cap, "redis command failed: %s", reason);
        redis_failed(r, why);
        return NULL;
    }
    struct sent_cmd cmd = {0};
    if (r->sent_head < r->n_sent)
        cmd = r->sent[r->sent_head++];
    if (r->sent_head == r->n_sent)
        r->sent_head = r->n_sent = 0;
    reply = follow(r, reply, cmd.bytes != NULL ? &cmd : NULL);
    if (cmd.bytes != NULL) {
        OPENSSL_cleanse(cmd.bytes, cmd.len);
        free(cmd.bytes);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(reply->str, line, sizeof(line));
        base_why(why, cap, "redis: %s", line);
    }
    return reply;
}

redisReply *syncconn_redis_command(struct syncconn_redis *r, int argc, const char **argv,
                                   const size_t *argvlen, char *why, size_t cap)
{
    if (!syncconn_redis_append(r, argc, argv, argvlen, why, cap))
        return NULL;
    redisReply *reply = syncconn_redis_reply(r, why, cap);
    if (reply == NULL)
        return NULL;
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0)
        syncconn_redis_drop(r); /* SCRIPT FLUSH happened: reconnecting reloads them */
    return reply;
}
