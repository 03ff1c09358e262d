#include "syncconn/syncconn.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/base.h"
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

/* ---- Redis */

struct syncconn_redis {
    struct url_redis url;
    int timeout_ms;
    redisContext *c;
    struct syncconn_redis_script *scripts;
    size_t n_scripts;
    uint64_t retry_at;
    int backoff_ms;
    char last_error[SYNCCONN_WHY_MAX];
};

struct syncconn_redis *syncconn_redis_new(const char *url, int timeout_ms,
                                          struct syncconn_redis_script *scripts, size_t n_scripts)
{
    struct syncconn_redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    if (!url_redis_parse(url, &r->url)) {
        syncconn_redis_free(r);
        return NULL;
    }
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
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

void syncconn_redis_free(struct syncconn_redis *r)
{
    if (r == NULL)
        return;
    syncconn_redis_drop(r);
    OPENSSL_cleanse(&r->url, sizeof(r->url));
    free(r);
}

bool syncconn_redis_connected(const struct syncconn_redis *r)
{
    return r->c != NULL;
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

/* Runs a handshake command on a fresh connection; true when the reply is not an error. */
static bool handshake(redisContext *c, int argc, const char **argv, const char *what, char *why, size_t cap)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, NULL);
    if (reply == NULL) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(c->errstr, line, sizeof(line));
        base_why(why, cap, "redis %s failed: %s", what, line);
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

redisContext *syncconn_redis_get(struct syncconn_redis *r, char *why, size_t cap)
{
    if (r->c != NULL)
        return r->c;
    uint64_t now = base_now_ms();
    if (now < r->retry_at) {
        base_why(why, cap, "%s (reconnecting with backoff)", r->last_error);
        return NULL;
    }
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000, .tv_usec = (r->timeout_ms % 1000) * 1000};
    r->c = redisConnectWithTimeout(r->url.host, r->url.port, tv);
    if (r->c == NULL || r->c->err) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(r->c != NULL ? r->c->errstr : "out of memory", line, sizeof(line));
        base_why(why, cap, "redis not reachable at %s:%d: %s", r->url.host, r->url.port, line);
        redis_failed(r, why);
        return NULL;
    }
    if (redisSetTimeout(r->c, tv) != REDIS_OK) {
        base_why(why, cap, "redis: cannot set the command timeout");
        redis_failed(r, why);
        return NULL;
    }
    if (r->url.password[0] != '\0') {
        const char *argv[3] = {"AUTH", r->url.user[0] != '\0' ? r->url.user : r->url.password,
                               r->url.password};
        if (!handshake(r->c, r->url.user[0] != '\0' ? 3 : 2, argv, "AUTH", why, cap)) {
            redis_failed(r, why);
            return NULL;
        }
    }
    if (r->url.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        const char *argv[2] = {"SELECT", db};
        if (!handshake(r->c, 2, argv, "SELECT", why, cap)) {
            redis_failed(r, why);
            return NULL;
        }
    }
    for (size_t i = 0; i < r->n_scripts; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", r->scripts[i].source};
        if (!handshake(r->c, 3, argv, "SCRIPT LOAD", why, cap)) {
            redis_failed(r, why);
            return NULL;
        }
    }
    r->backoff_ms = 0;
    r->retry_at = 0;
    return r->c;
}

redisReply *syncconn_redis_command(struct syncconn_redis *r, int argc, const char **argv,
                                   const size_t *argvlen, char *why, size_t cap)
{
    redisContext *c = syncconn_redis_get(r, why, cap);
    if (c == NULL)
        return NULL;
    redisReply *reply = redisCommandArgv(c, argc, argv, argvlen);
    if (reply == NULL) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(c->errstr, line, sizeof(line));
        base_why(why, cap, "redis command failed: %s", line[0] != '\0' ? line : "connection lost");
        redis_failed(r, why);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char line[SYNCCONN_WHY_MAX];
        base_one_line(reply->str, line, sizeof(line));
        base_why(why, cap, "redis: %s", line);
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0)
            syncconn_redis_drop(r); /* SCRIPT FLUSH happened: reconnecting reloads them */
    }
    return reply;
}
