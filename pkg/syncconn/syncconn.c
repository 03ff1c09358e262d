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

struct syncconn_redis {
    struct url_redis url;
    const struct redistls_config *tls;
    int timeout_ms;
    int fd;              /* -1: not connected */
    SSL_CTX *ctx;        /* rediss://: made on the first connection attempt, kept */
    SSL *ssl;            /* rediss:// while connected */
    bool cert_requested; /* this connection's server asked for a client certificate (none set) */
    redisReader *reader;
    char *out; /* commands appended, not yet written */
    size_t out_len, out_cap;
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

void syncconn_redis_drop(struct syncconn_redis *r)
{
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
    if (r->out != NULL)
        OPENSSL_cleanse(r->out, r->out_cap); /* AUTH may be in it */
    free(r->out);
    r->out = NULL;
    r->out_len = r->out_cap = 0;
}

void syncconn_redis_free(struct syncconn_redis *r)
{
    if (r == NULL)
        return;
    syncconn_redis_drop(r);
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
}

/* One TCP connection to the first address that answers, within the deadline; -1 with the reason. */
static int tcp_connect(const struct url_redis *u, uint64_t deadline, char *why, size_t cap)
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
    ERR_clear_error();
    r->cert_requested = false;
    r->ssl = SSL_new(r->ctx);
    if (r->ssl == NULL || SSL_set_fd(r->ssl, r->fd) != 1 ||
        (!redistls_host_is_ip(r->url.host) && SSL_set_tlsext_host_name(r->ssl, r->url.host) != 1)) {
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
        base_why(why, cap, "redis TLS handshake with %s:%d failed: %s", r->url.host, r->url.port, reason);
        return false;
    }
}

/* Writes every appended byte before the deadline. */
static bool redis_write_all(struct syncconn_redis *r, uint64_t deadline, char *why, size_t cap)
{
    size_t off = 0;
    while (off < r->out_len) {
        size_t want = r->out_len - off;
        if (r->ssl != NULL) {
            ERR_clear_error();
            int n = SSL_write(r->ssl, r->out + off, want > INT_MAX ? INT_MAX : (int)want);
            if (n > 0) {
                off += (size_t)n;
                continue;
            }
            bool timed_out = false;
            if (tls_wait(r, n, deadline, &timed_out))
                continue;
            char reason[SYNCCONN_WHY_MAX];
            if (timed_out)
                base_why(reason, sizeof(reason), "write timed out after %d ms", r->timeout_ms);
            else
                redistls_reason(NULL, "connection lost", reason, sizeof(reason));
            base_why(why, cap, "%s%s", reason, redistls_cert_hint(r->cert_requested));
            return false;
        }
        ssize_t n = send(r->fd, r->out + off, want, MSG_NOSIGNAL);
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
    OPENSSL_cleanse(r->out, r->out_len);
    r->out_len = 0;
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
            char reason[SYNCCONN_WHY_MAX];
            if (timed_out)
                base_why(reason, sizeof(reason), "no reply within %d ms", r->timeout_ms);
            else
                redistls_reason(NULL, "connection lost", reason, sizeof(reason));
            base_why(why, cap, "%s%s", reason, redistls_cert_hint(r->cert_requested));
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
    if (r->out_len > 0 && !redis_write_all(r, deadline, why, cap))
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

static bool redis_append(struct syncconn_redis *r, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return false;
    if (r->out_len + (size_t)len > r->out_cap) {
        size_t cap = r->out_cap == 0 ? 4096 : r->out_cap;
        while (cap < r->out_len + (size_t)len)
            cap *= 2;
        char *grown = malloc(cap);
        if (grown == NULL) {
            OPENSSL_cleanse(cmd, (size_t)len);
            redisFreeCommand(cmd);
            return false;
        }
        if (r->out_len > 0)
            memcpy(grown, r->out, r->out_len);
        if (r->out != NULL)
            OPENSSL_cleanse(r->out, r->out_cap);
        free(r->out);
        r->out = grown;
        r->out_cap = cap;
    }
    memcpy(r->out + r->out_len, cmd, (size_t)len);
    r->out_len += (size_t)len;
    OPENSSL_cleanse(cmd, (size_t)len);
    redisFreeCommand(cmd);
    return true;
}

/* Runs a handshake command on a fresh connection; true when the reply is not an error. */
static bool handshake(struct syncconn_redis *r, int argc, const char **argv, const char *what, char *why,
                      size_t cap)
{
    if (!redis_append(r, argc, argv, NULL)) {
        base_why(why, cap, "redis %s failed: out of memory", what);
        return false;
    }
    char reason[SYNCCONN_WHY_MAX];
    redisReply *reply = redis_next_reply(r, reason, sizeof(reason));
    if (reply == NULL) {
        base_why(why, cap, "redis %s failed: %s", what, reason);
        return false;
    }
    bool ok = reply->type != REDIS_REPLY_ERROR;
    if (!ok) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(reply->str, line, sizeof(line));
        base_why(why, cap, "redis %s refused: %s", what, line);
    }
    freeReplyObject(reply);
    return ok;
}

bool syncconn_redis_ensure(struct syncconn_redis *r, char *why, size_t cap)
{
    if (r->fd >= 0)
        return true;
    uint64_t now = base_now_ms();
    if (now < r->retry_at) {
        base_why(why, cap, "%s (reconnecting with backoff)", r->last_error);
        return false;
    }
    uint64_t deadline = now + (uint64_t)r->timeout_ms;
    char reason[SYNCCONN_WHY_MAX];
    r->fd = tcp_connect(&r->url, deadline, reason, sizeof(reason));
    if (r->fd < 0) {
        base_why(why, cap, "redis not reachable at %s:%d: %s", r->url.host, r->url.port, reason);
        goto fail;
    }
    r->reader = redisReaderCreate();
    if (r->reader == NULL) {
        base_why(why, cap, "redis: out of memory");
        goto fail;
    }
    if (r->url.tls && !tls_handshake(r, deadline, why, cap))
        goto fail;
    if (r->url.password[0] != '\0') {
        const char *argv[3] = {"AUTH", r->url.user[0] != '\0' ? r->url.user : r->url.password,
                               r->url.password};
        if (!handshake(r, r->url.user[0] != '\0' ? 3 : 2, argv, "AUTH", why, cap))
            goto fail;
    }
    if (r->url.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        const char *argv[2] = {"SELECT", db};
        if (!handshake(r, 2, argv, "SELECT", why, cap))
            goto fail;
    }
    for (size_t i = 0; i < r->n_scripts; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", r->scripts[i].source};
        if (!handshake(r, 3, argv, "SCRIPT LOAD", why, cap))
            goto fail;
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
    if (!redis_append(r, argc, argv, argvlen)) {
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
    if (reply->type == REDIS_REPLY_ERROR) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(reply->str, line, sizeof(line));
        base_why(why, cap, "redis: %s", line);
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0)
            syncconn_redis_drop(r); /* SCRIPT FLUSH happened: reconnecting reloads them */
    }
    return reply;
}
