/* `bollard dev`'s webhook deliveries (see devdelivery.h). One thread owns everything below: the
 * SQLite connection, the in-memory rows and deliveries, and the curl pool. The main thread only sets
 * `stop` and writes the wake descriptor. */
#include "devdelivery/devdelivery.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "delivery/delivery.h"
#include "log/log.h"

#define SCAN_BATCH       64
#define POLL_MS          100 /* outbox poll interval when it was drained: SQLite has no LISTEN */
#define DB_RETRY_MS      1000
#define DEFER_MS         5000 /* a delivery that could not be started waits this long */
#define BUSY_TIMEOUT_MS  2000 /* the API's writes hold the file's lock for milliseconds */
#define PRUNE_MS         60000
#define RETENTION_DAYS   7
#define UUID_LEN         36
#define TYPE_MAX         32
#define ERROR_LOG_MS     10000 /* one log line per this long for a persisting database error */
#define USER_AGENT       "Bollard-Webhooks/1"
#define ENDPOINT_IDS_MAX 4096 /* the endpoint ids of one row, comma-separated (20 × 37 in practice) */

/* The envelope's parts; endpoints are matched when the row is read, as the worker's relay does. */
static const char scan_sql[] =
    "SELECT o.id, o.event_id, o.type, o.created_at, o.user_id, o.task_id, o.payload, "
    "(SELECT group_concat(id, ',') FROM (SELECT w.id FROM webhook_endpoints w WHERE w.user_id = o.user_id "
    "AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = o.type) ORDER BY w.id)) "
    "FROM outbox o WHERE o.published_at IS NULL AND o.id > ?1 ORDER BY o.id LIMIT ?2";
static const char endpoint_sql[] = "SELECT url, secret FROM webhook_endpoints WHERE id = ?1";
/* At most one row per (event, endpoint), as on PostgreSQL. */
static const char failure_sql[] =
    "INSERT INTO webhook_failures (event_id, endpoint_id, attempts, last_status, last_error) "
    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM webhook_failures "
    "WHERE endpoint_id = ?2 AND event_id = ?1)";
static const char mark_sql[] = "UPDATE outbox SET published_at = ?1 WHERE id = ?2";
/* Only the 1,000 lowest ids are looked at, so a call never scans the table. */
static const char prune_sql[] =
    "DELETE FROM outbox WHERE id IN (SELECT id FROM (SELECT id, created_at, published_at FROM outbox "
    "ORDER BY id LIMIT 1000) WHERE published_at IS NOT NULL AND created_at < ?1)";

struct dev_event {
    bool used;
    long long row_id;
    char event_id[UUID_LEN + 1];
    char type[TYPE_MAX];
    char *body;
    size_t body_len;
    int unsettled; /* deliveries of this row not yet delivered, dead-lettered or dropped */
};

enum dev_job_state { JOB_FREE = 0, JOB_WAITING, JOB_DELIVERING };

struct dev_job {
    enum dev_job_state state;
    int event; /* index into events */
    char endpoint_id[UUID_LEN + 1];
    int attempt; /* number of the next (or running) attempt, 1-based */
    uint64_t due_ms;
};

enum { ST_SCAN, ST_ENDPOINT, ST_FAILURE, ST_MARK, ST_PRUNE, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT };

struct devdelivery {
    const struct config *cfg;
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    struct delivery_pool *pool;
    int wake_fd;
    pthread_t thread;
    atomic_bool stop;
    bool curl_ready;

    long long cursor; /* highest outbox id taken into memory */
    struct dev_event events[DEVDELIVERY_EVENTS_MAX];
    struct dev_job jobs[DEVDELIVERY_JOBS_MAX];
    int free_jobs;
    uint64_t next_scan, next_prune, db_error_logged;
    long long delivered, failed_attempts, dead, dropped;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wall-clock microseconds: the unit of the SQLite schema's timestamps. */
static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void db_error(struct devdelivery *d, const char *what)
{
    uint64_t now = now_ms();
    if (d->db_error_logged != 0 && now - d->db_error_logged < ERROR_LOG_MS)
        return;
    d->db_error_logged = now;
    log_write(LOG_WARN, NULL, "dev webhook delivery: SQLite statement failed; retrying",
              json_pack("{s:s,s:s}", "statement", what, "error", sqlite3_errmsg(d->db)));
}

/* Runs a statement without result rows (after its parameters are bound); resets it either way. */
static bool step_done(struct devdelivery *d, int which, const char *what)
{
    sqlite3_stmt *st = d->stmt[which];
    int rc = sqlite3_step(st);
    bool ok = rc == SQLITE_DONE;
    if (!ok)
        db_error(d, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ok;
}

static void format_time_us(long long us, char *out, size_t cap)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    if (us < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(out, cap, "1970-01-01T00:00:00.000000Z");
        return;
    }
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06lldZ", base, us % 1000000);
}

static const char *column_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t != NULL ? (const char *)t : "";
}

/* The envelope receivers get: the keys of the worker's relay, in the same order. */
static char *envelope(sqlite3_stmt *st, size_t *len)
{
    char created[40];
    format_time_us(sqlite3_column_int64(st, 3), created, sizeof(created));
    json_error_t err;
    json_t *data = json_loads(column_text(st, 6), JSON_DECODE_ANY, &err);
    if (data == NULL)
        return NULL;
    json_t *env = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", column_text(st, 1), "type", column_text(st, 2),
                            "created_at", created, "user_id", column_text(st, 4), "task_id",
                            column_text(st, 5), "data", data);
    if (env == NULL)
        return NULL;
    char *body = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    if (body != NULL)
        *len = strlen(body);
    return body;
}

static int free_event_slot(const struct devdelivery *d)
{
    for (int i = 0; i < DEVDELIVERY_EVENTS_MAX; i++)
        if (!d->events[i].used)
            return i;
    return -1;
}

static struct dev_job *free_job(struct devdelivery *d)
{
    for (int i = 0; i < DEVDELIVERY_JOBS_MAX; i++)
        if (d->jobs[i].state == JOB_FREE)
            return &d->jobs[i];
    return NULL;
}

static int count_ids(const char *list)
{
    if (*list == '\0')
        return 0;
    int n = 1;
    for (const char *p = list; *p != '\0'; p++)
        n += *p == ',';
    return n;
}

/* Takes one outbox row (at the scan statement's current row) into memory. False when there is no
 * room for it yet: it stays in the table for a later scan. */
static bool take_row(struct devdelivery *d, sqlite3_stmt *st, uint64_t now)
{
    const char *ids = column_text(st, 7);
    int n = count_ids(ids);
    int slot = free_event_slot(d);
    if (slot < 0 || n > d->free_jobs || strlen(ids) >= ENDPOINT_IDS_MAX)
        return false;
    struct dev_event *e = &d->events[slot];
    size_t len = 0;
    char *body = n > 0 ? envelope(st, &len) : NULL;
    if (n > 0 && body == NULL) {
        /* The schema only admits valid JSON payloads; should one still fail, it must not hold up every
         * later row, so it is passed over, loudly. */
        log_write(LOG_ERROR, NULL, "dev webhook delivery: cannot build an event's envelope; not delivered",
                  json_pack("{s:s}", "event_id", column_text(st, 1)));
        n = 0;
        ids = "";
    }
    memset(e, 0, sizeof(*e));
    e->used = true;
    e->row_id = sqlite3_column_int64(st, 0);
    snprintf(e->event_id, sizeof(e->event_id), "%s", column_text(st, 1));
    snprintf(e->type, sizeof(e->type), "%s", column_text(st, 2));
    e->body = body;
    e->body_len = len;
    char copy[ENDPOINT_IDS_MAX];
    snprintf(copy, sizeof(copy), "%s", ids);
    char *save = NULL;
    for (char *id = strtok_r(copy, ",", &save); id != NULL; id = strtok_r(NULL, ",", &save)) {
        struct dev_job *j = free_job(d);
        if (j == NULL)
            break; /* cannot happen: n <= free_jobs */
        memset(j, 0, sizeof(*j));
        j->state = JOB_WAITING;
        j->event = slot;
        snprintf(j->endpoint_id, sizeof(j->endpoint_id), "%s", id);
        j->attempt = 1;
        j->due_ms = now;
        d->free_jobs--;
        e->unsettled++;
    }
    return true;
}

static void scan(struct devdelivery *d, uint64_t now)
{
    sqlite3_stmt *st = d->stmt[ST_SCAN];
    int taken = 0, rc = SQLITE_OK;
    bool room = true;
    if (sqlite3_bind_int64(st, 1, d->cursor) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, SCAN_BATCH) != SQLITE_OK) {
        db_error(d, "scan");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!take_row(d, st, now)) {
            room = false;
            break;
        }
        d->cursor = sqlite3_column_int64(st, 0);
        taken++;
    }
    if (room && rc != SQLITE_DONE)
        db_error(d, "scan");
done:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    /* A full batch means more rows may be waiting: read on at once, unless memory is full. */
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        d->next_scan = now + DB_RETRY_MS;
    else
        d->next_scan = taken == SCAN_BATCH && room ? now : now + POLL_MS;
}

static void settle_job(struct devdelivery *d, struct dev_job *j)
{
    d->events[j->event].unsettled--;
    memset(j, 0, sizeof(*j));
    d->free_jobs++;
}

/* The endpoint's URL and secret (copies; the caller wipes the secret): 1 found, 0 deleted, -1 error. */
static int endpoint_lookup(struct devdelivery *d, const char *id, char **url, char **secret)
{
    sqlite3_stmt *st = d->stmt[ST_ENDPOINT];
    int result = -1;
    if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
        goto done;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        result = 0;
    } else if (rc == SQLITE_ROW) {
        *url = strdup(column_text(st, 0));
        *secret = strdup(column_text(st, 1));
        result = *url != NULL && *secret != NULL ? 1 : -1;
    }
done:
    if (result < 0)
        db_error(d, "endpoint lookup");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}

static void wipe_free(char *secret)
{
    if (secret == NULL)
        return;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

static void start_one(struct devdelivery *d, struct dev_job *j, uint64_t now)
{
    char *url = NULL, *secret = NULL;
    int found = endpoint_lookup(d, j->endpoint_id, &url, &secret);
    struct dev_event *e = &d->events[j->event];
    if (found < 0) {
        j->due_ms = now + DB_RETRY_MS;
        goto out;
    }
    if (found == 0) {
        log_write(LOG_INFO, NULL, "endpoint no longer exists; delivery dropped",
                  json_pack("{s:s,s:s}", "event_id", e->event_id, "endpoint_id", j->endpoint_id));
        d->dropped++;
        settle_job(d, j);
        goto out;
    }
    struct delivery_request req = {.url = url,
                                   .secret = secret,
                                   .event_id = e->event_id,
                                   .event_type = e->type,
                                   .attempt = j->attempt,
                                   .body = e->body,
                                   .body_len = e->body_len,
                                   .user = j};
    char why[DELIVERY_ERROR_MAX];
    if (!delivery_start(d->pool, &req, why, sizeof(why))) {
        log_write(LOG_ERROR, NULL, "cannot start a delivery; deferred", json_pack("{s:s}", "error", why));
        j->due_ms = now + DEFER_MS;
        goto out;
    }
    j->state = JOB_DELIVERING;
out:
    free(url);
    wipe_free(secret);
}

static void start_due(struct devdelivery *d, uint64_t now)
{
    for (int i = 0; i < DEVDELIVERY_JOBS_MAX && delivery_in_flight(d->pool) < d->cfg->worker_concurrency;
         i++) {
        struct dev_job *j = &d->jobs[i];
        if (j->state == JOB_WAITING && j->due_ms <= now)
            start_one(d, j, now);
    }
}

static void record_failure(struct devdelivery *d, const struct dev_job *j, const struct delivery_result *res)
{
    sqlite3_stmt *st = d->stmt[ST_FAILURE];
    const struct dev_event *e = &d->events[j->event];
    bool bound =
        sqlite3_bind_text(st, 1, e->event_id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, j->endpoint_id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int(st, 3, j->attempt) == SQLITE_OK &&
        (res->status > 0 ? sqlite3_bind_int64(st, 4, res->status) : sqlite3_bind_null(st, 4)) == SQLITE_OK &&
        sqlite3_bind_text(st, 5, res->error[0] != '\0' ? res->error : "failed", -1, SQLITE_STATIC) ==
            SQLITE_OK;
    if (!bound) {
        db_error(d, "record failure");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return;
    }
    /* The log line below is the record when the table cannot take it. */
    step_done(d, ST_FAILURE, "record failure");
}

static void settle_result(struct devdelivery *d, const struct delivery_result *res, uint64_t now)
{
    struct dev_job *j = res->user;
    if (j == NULL)
        return;
    const struct dev_event *e = &d->events[j->event];
    long delay = 0;
    switch (delivery_judge(res, j->attempt, d->cfg->webhook_max_attempts, &delay)) {
    case DELIVERY_VERDICT_DONE:
        d->delivered++;
        settle_job(d, j);
        return;
    case DELIVERY_VERDICT_RETRY:
        d->failed_attempts++;
        log_write(LOG_WARN, NULL, "delivery failed; retrying",
                  json_pack("{s:s,s:s,s:i,s:I,s:I,s:s}", "event_id", e->event_id, "endpoint_id",
                            j->endpoint_id, "attempt", j->attempt, "status", (json_int_t)res->status,
                            "retry_in_ms", (json_int_t)delay, "error", res->error));
        j->attempt++;
        j->due_ms = now + (uint64_t)delay;
        j->state = JOB_WAITING;
        return;
    case DELIVERY_VERDICT_DEAD:
        d->failed_attempts++;
        d->dead++;
        log_write(LOG_WARN, NULL, "delivery failed for good; dead-lettered in webhook_failures",
                  json_pack("{s:s,s:s,s:i,s:I,s:s}", "event_id", e->event_id, "endpoint_id", j->endpoint_id,
                            "attempts", j->attempt, "status", (json_int_t)res->status, "error", res->error));
        record_failure(d, j, res);
        settle_job(d, j);
        return;
    }
}

/* Stamps published_at on every row whose deliveries have all settled (one transaction), and frees
 * them. A row that cannot be stamped now keeps its slot and is tried again next time. */
static void mark_settled(struct devdelivery *d)
{
    bool any = false;
    for (int i = 0; i < DEVDELIVERY_EVENTS_MAX && !any; i++)
        any = d->events[i].used && d->events[i].unsettled == 0;
    if (!any || !step_done(d, ST_BEGIN, "begin"))
        return;
    sqlite3_stmt *st = d->stmt[ST_MARK];
    long long stamp = now_us();
    for (int i = 0; i < DEVDELIVERY_EVENTS_MAX; i++) {
        struct dev_event *e = &d->events[i];
        if (!e->used || e->unsettled != 0)
            continue;
        if (sqlite3_bind_int64(st, 1, stamp) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, e->row_id) != SQLITE_OK || !step_done(d, ST_MARK, "mark published"))
            goto rollback;
    }
    if (!step_done(d, ST_COMMIT, "commit"))
        goto rollback;
    for (int i = 0; i < DEVDELIVERY_EVENTS_MAX; i++) {
        struct dev_event *e = &d->events[i];
        if (e->used && e->unsettled == 0) {
            free(e->body);
            memset(e, 0, sizeof(*e));
        }
    }
    return;
rollback:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    step_done(d, ST_ROLLBACK, "rollback");
}

static void prune(struct devdelivery *d, uint64_t now)
{
    d->next_prune = now + PRUNE_MS;
    sqlite3_stmt *st = d->stmt[ST_PRUNE];
    if (sqlite3_bind_int64(st, 1, now_us() - (long long)RETENTION_DAYS * 86400 * 1000000) != SQLITE_OK) {
        db_error(d, "prune");
        sqlite3_reset(st);
        return;
    }
    step_done(d, ST_PRUNE, "prune");
}

/* How long the loop may wait: until the next due retry or scan, at most POLL_MS. */
static int wait_budget(const struct devdelivery *d, uint64_t now, bool stopping)
{
    uint64_t until = now + POLL_MS;
    if (!stopping) {
        if (d->next_scan < until)
            until = d->next_scan;
        for (int i = 0; i < DEVDELIVERY_JOBS_MAX; i++)
            if (d->jobs[i].state == JOB_WAITING && d->jobs[i].due_ms < until)
                until = d->jobs[i].due_ms;
    }
    return until > now ? (int)(until - now) : 0;
}

static void drain_wake(struct devdelivery *d)
{
    uint64_t value;
    ssize_t n = read(d->wake_fd, &value, sizeof(value));
    (void)n; /* non-blocking: EAGAIN when another read took it */
}

static void *delivery_thread(void *arg)
{
    struct devdelivery *d = arg;
    uint64_t stop_deadline = 0;
    for (;;) {
        uint64_t now = now_ms();
        bool stopping = atomic_load(&d->stop);
        if (stopping && stop_deadline == 0) {
            uint64_t budget = (uint64_t)d->cfg->shutdown_timeout_seconds * 1000;
            stop_deadline = now + (budget < DEVDELIVERY_STOP_MS ? budget : DEVDELIVERY_STOP_MS);
            if (delivery_in_flight(d->pool) > 0)
                log_write(LOG_INFO, NULL, "dev webhook delivery: finishing in-flight deliveries",
                          json_pack("{s:i}", "in_flight", delivery_in_flight(d->pool)));
        }
        if (stopping && (delivery_in_flight(d->pool) == 0 || now >= stop_deadline))
            break;
        if (!stopping) {
            if (now >= d->next_scan)
                scan(d, now);
            start_due(d, now);
            if (now >= d->next_prune)
                prune(d, now);
        }
        int wait = wait_budget(d, now, stopping);
        if (stopping && stop_deadline - now < (uint64_t)wait)
            wait = (int)(stop_deadline - now);
        struct curl_waitfd wake = {.fd = d->wake_fd, .events = CURL_WAIT_POLLIN, .revents = 0};
        if (!delivery_wait(d->pool, &wake, 1, wait)) {
            log_write(LOG_ERROR, NULL, "dev webhook delivery: waiting on transfers failed", NULL);
            poll(NULL, 0, wait); /* bounded pause instead of a busy loop */
        }
        if (wake.revents != 0)
            drain_wake(d);
        now = now_ms();
        struct delivery_result res;
        while (delivery_next_result(d->pool, &res))
            settle_result(d, &res, now);
        mark_settled(d);
    }
    void *users[DEVDELIVERY_JOBS_MAX];
    size_t aborted = delivery_abort_all(d->pool, users, DEVDELIVERY_JOBS_MAX);
    if (aborted > 0)
        log_write(LOG_WARN, NULL,
                  "dev webhook delivery: stop deadline; unfinished deliveries are sent again "
                  "on the next start",
                  json_pack("{s:i}", "aborted", (int)aborted));
    log_write(LOG_INFO, NULL, "dev webhook delivery stopped",
              json_pack("{s:I,s:I,s:I,s:I}", "delivered", (json_int_t)d->delivered, "failed_attempts",
                        (json_int_t)d->failed_attempts, "dead", (json_int_t)d->dead, "dropped",
                        (json_int_t)d->dropped));
    return NULL;
}

static void release(struct devdelivery *d)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(d->stmt[i]);
    if (d->db != NULL)
        sqlite3_close(d->db);
    delivery_pool_free(d->pool);
    if (d->curl_ready)
        curl_global_cleanup();
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    for (int i = 0; i < DEVDELIVERY_EVENTS_MAX; i++)
        free(d->events[i].body);
    free(d);
}

struct devdelivery *devdelivery_start(const struct config *cfg, const char *path)
{
    struct devdelivery *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->cfg = cfg;
    d->wake_fd = -1;
    d->free_jobs = DEVDELIVERY_JOBS_MAX;
    atomic_init(&d->stop, false);
    const char *what = "libcurl";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto fail;
    d->curl_ready = true;
    struct delivery_options opts = {.timeout_ms = cfg->webhook_timeout_ms,
                                    .allow_private = cfg->webhook_allow_private,
                                    .user_agent = USER_AGENT};
    d->pool = delivery_pool_new(cfg->worker_concurrency, &opts);
    if (d->pool == NULL)
        goto fail;
    what = "eventfd";
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->wake_fd < 0)
        goto fail;
    what = "SQLite";
    /* NOMUTEX: only the delivery thread uses the connection once it runs. */
    if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto fail;
    static const char *const sql[ST_COUNT] = {
        [ST_SCAN] = scan_sql,   [ST_ENDPOINT] = endpoint_sql, [ST_FAILURE] = failure_sql,
        [ST_MARK] = mark_sql,   [ST_PRUNE] = prune_sql,       [ST_BEGIN] = "BEGIN IMMEDIATE",
        [ST_COMMIT] = "COMMIT", [ST_ROLLBACK] = "ROLLBACK",
    };
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(d->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->stmt[i], NULL) != SQLITE_OK)
            goto fail;
    /* The server's main thread waits for SIGTERM/SIGINT with sigtimedwait: none may land on this
     * thread, which inherits the mask in force when it is created. */
    sigset_t all, old;
    sigfillset(&all);
    what = "thread";
    if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
        goto fail;
    int rc = pthread_create(&d->thread, NULL, delivery_thread, d);
    int restored = pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    if (restored != 0) /* only with an invalid mask, which `old` is not */
        log_printf(LOG_WARN, "dev webhook delivery: could not restore the signal mask");
    log_write(LOG_INFO, NULL, "dev webhook delivery started (in process, off the outbox; no Redis)",
              json_pack("{s:i,s:i,s:i,s:b}", "concurrency", cfg->worker_concurrency, "max_attempts",
                        cfg->webhook_max_attempts, "timeout_ms", cfg->webhook_timeout_ms, "allow_private",
                        cfg->webhook_allow_private));
    return d;
fail:
    log_write(LOG_ERROR, NULL, "dev webhook delivery: cannot start",
              json_pack("{s:s,s:s}", "failed", what,
                        d->db != NULL ? sqlite3_errmsg(d->db) : (errno != 0 ? strerror(errno) : "unknown")));
    release(d);
    return NULL;
}

void devdelivery_stop(struct devdelivery *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stop, true);
    uint64_t one = 1;
    if (write(d->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        /* The loop also wakes within POLL_MS on its own. */
    }
    pthread_join(d->thread, NULL);
    release(d);
}
