/* The SQLite dialect of the outbox (see outbox.h): the file of `bollard dev`. Timestamps are wall-clock
 * microseconds, as in the SQLite schema. */
#include "outbox/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS 2000 /* the API's writes hold the file's lock for milliseconds */

/* The envelope: the keys of the PostgreSQL dialect's, in the same order. */
static const char scan_sql[] =
    "SELECT o.id, o.event_id, o.type, json_object('id', o.event_id, 'type', o.type, 'created_at', "
    "strftime('%Y-%m-%dT%H:%M:%S', o.created_at / 1000000, 'unixepoch') || printf('.%06dZ', o.created_at % "
    "1000000), 'user_id', o.user_id, 'task_id', o.task_id, 'data', json(o.payload)), "
    "coalesce((SELECT group_concat(id, ',') FROM (SELECT w.id FROM webhook_endpoints w WHERE w.user_id = "
    "o.user_id AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = o.type) ORDER BY w.id)), '') "
    "FROM outbox o WHERE o.published_at IS NULL AND o.id > ?1 ORDER BY o.id LIMIT ?2";
static const char mark_sql[] = "UPDATE outbox SET published_at = ?1 WHERE id = ?2";
/* Only the 1,000 lowest ids are looked at, so a call never scans the table. */
static const char prune_sql[] =
    "DELETE FROM outbox WHERE id IN (SELECT id FROM (SELECT id, created_at, published_at FROM outbox "
    "ORDER BY id LIMIT 1000) WHERE published_at IS NOT NULL AND created_at < ?1)";
static const char endpoint_sql[] = "SELECT id, url, secret FROM webhook_endpoints WHERE id = ?1";
/* At most one row per (event, endpoint), as on PostgreSQL. */
static const char failure_sql[] =
    "INSERT INTO webhook_failures (event_id, endpoint_id, attempts, last_status, last_error) "
    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM webhook_failures "
    "WHERE endpoint_id = ?2 AND event_id = ?1)";

enum { ST_SCAN, ST_MARK, ST_PRUNE, ST_ENDPOINT, ST_FAILURE, ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT };

struct sqlite_outbox {
    struct outbox base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Steps a bound statement to its end (rows are passed to fn, if any); resets it either way. */
static bool run(struct sqlite_outbox *o, int which, void (*fn)(sqlite3_stmt *, void *), void *user, char *why,
                size_t cap)
{
    sqlite3_stmt *st = o->st[which];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn != NULL)
            fn(st, user);
    if (rc != SQLITE_DONE)
        base_why(why, cap, "%s", sqlite3_errmsg(o->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE;
}

static bool schema_ok(struct outbox *base, char *why, size_t cap)
{
    (void)base, (void)why, (void)cap;
    return true; /* `bollard dev` migrated the file before anything else started */
}

static const char *text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t != NULL ? (const char *)t : "";
}

struct taking {
    struct outbox_rows *rows;
    bool short_of_memory; /* the rows after it wait for the next read (the cursor stops before them) */
};

static void take_row(sqlite3_stmt *st, void *user)
{
    struct taking *t = user;
    struct outbox_rows *rows = t->rows;
    char **s = (char **)rows->result + rows->n * 4;
    for (int i = 0; i < 4 && !t->short_of_memory; i++)
        t->short_of_memory = (s[i] = strdup(text(st, i + 1))) == NULL;
    if (t->short_of_memory)
        return;
    rows->events[rows->n++] = (struct queue_event){.row_id = sqlite3_column_int64(st, 0),
                                                   .event_id = s[0],
                                                   .type = s[1],
                                                   .body = s[2],
                                                   .body_len = strlen(s[2]),
                                                   .endpoints = s[3]};
}

static enum outbox_status read_rows(struct outbox *base, long long after, int limit, struct outbox_rows *rows,
                                    char *why, size_t cap)
{
    struct sqlite_outbox *o = (struct sqlite_outbox *)base;
    rows->events = calloc((size_t)limit, sizeof(*rows->events));
    rows->result = calloc((size_t)limit * 4 + 4, sizeof(char *));
    if (rows->events == NULL || rows->result == NULL) {
        base_why(why, cap, "out of memory");
        return OUTBOX_ERR_DB;
    }
    if (sqlite3_bind_int64(o->st[ST_SCAN], 1, after) != SQLITE_OK ||
        sqlite3_bind_int(o->st[ST_SCAN], 2, limit) != SQLITE_OK) {
        base_why(why, cap, "%s", sqlite3_errmsg(o->db));
        return OUTBOX_ERR_DB;
    }
    struct taking taking = {rows, false};
    return run(o, ST_SCAN, take_row, &taking, why, cap) ? OUTBOX_OK : OUTBOX_ERR_DB;
}

static void rows_free(struct outbox_rows *rows)
{
    char **s = rows->result;
    for (int i = 0; s != NULL && i < (rows->n + 1) * 4; i++)
        free(s[i]);
    free(s);
    free(rows->events);
}

/* One transaction for the lot. */
static bool mark(struct outbox *base, const long long *ids, int n, char *why, size_t cap)
{
    struct sqlite_outbox *o = (struct sqlite_outbox *)base;
    if (!run(o, ST_BEGIN, NULL, NULL, why, cap))
        return false;
    long long stamp = now_us();
    for (int i = 0; i < n; i++) {
        if (sqlite3_bind_int64(o->st[ST_MARK], 1, stamp) != SQLITE_OK ||
            sqlite3_bind_int64(o->st[ST_MARK], 2, ids[i]) != SQLITE_OK ||
            !run(o, ST_MARK, NULL, NULL, why, cap))
            goto rollback;
    }
    if (run(o, ST_COMMIT, NULL, NULL, why, cap))
        return true;
rollback:
    sqlite3_reset(o->st[ST_MARK]);
    sqlite3_clear_bindings(o->st[ST_MARK]);
    char ignored[BASE_WHY_MAX];
    run(o, ST_ROLLBACK, NULL, NULL, ignored, sizeof(ignored));
    return false;
}

static bool commit(struct outbox *base, char *why, size_t cap)
{
    (void)base, (void)why, (void)cap;
    return true; /* a read holds no transaction here */
}

static void rollback(struct outbox *base)
{
    (void)base;
}

static long prune(struct outbox *base, char *why, size_t cap)
{
    struct sqlite_outbox *o = (struct sqlite_outbox *)base;
    long long cutoff = now_us() - (long long)OUTBOX_RETENTION_DAYS * 86400 * 1000000;
    if (sqlite3_bind_int64(o->st[ST_PRUNE], 1, cutoff) != SQLITE_OK ||
        !run(o, ST_PRUNE, NULL, NULL, why, cap))
        return -1;
    return (long)sqlite3_changes(o->db);
}

struct found {
    outbox_endpoint_fn fn;
    void *user;
};

static void found_one(sqlite3_stmt *st, void *user)
{
    struct found *f = user;
    f->fn(f->user, text(st, 0), text(st, 1), text(st, 2));
}

static bool endpoints(struct outbox *base, const char *const *ids, int n, outbox_endpoint_fn fn, void *user,
                      char *why, size_t cap)
{
    struct sqlite_outbox *o = (struct sqlite_outbox *)base;
    struct found f = {fn, user};
    for (int i = 0; i < n; i++)
        if (sqlite3_bind_text(o->st[ST_ENDPOINT], 1, ids[i], -1, SQLITE_STATIC) != SQLITE_OK ||
            !run(o, ST_ENDPOINT, found_one, &f, why, cap))
            return false;
    return true;
}

static bool record_failure(struct outbox *base, const char *event_id, const char *endpoint_id, int attempts,
                           long status, const char *error, char *why, size_t cap)
{
    struct sqlite_outbox *o = (struct sqlite_outbox *)base;
    sqlite3_stmt *st = o->st[ST_FAILURE];
    bool bound = sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_text(st, 2, endpoint_id, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_int(st, 3, attempts) == SQLITE_OK &&
                 (status > 0 ? sqlite3_bind_int64(st, 4, status) : sqlite3_bind_null(st, 4)) == SQLITE_OK &&
                 sqlite3_bind_text(st, 5, error, -1, SQLITE_STATIC) == SQLITE_OK;
    if (!bound) {
        base_why(why, cap, "%s", sqlite3_errmsg(o->db));
        sqlite3_clear_bindings(st);
        return false;
    }
    return run(o, ST_FAILURE, NULL, NULL, why, cap);
}

static void sqlite_free(struct outbox *base)
{
    struct sqlite_outbox *o = (struct sqlite_outbox *)base;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(o->st[i]);
    sqlite3_close(o->db);
    free(o);
}

static const struct outbox_ops sqlite_ops = {
    .schema_ok = schema_ok,
    .read = read_rows,
    .rows_free = rows_free,
    .mark = mark,
    .commit = commit,
    .rollback = rollback,
    .prune = prune,
    .endpoints = endpoints,
    .record_failure = record_failure,
    .free = sqlite_free,
};

struct outbox *outbox_sqlite_new(const char *path, char *why, size_t cap)
{
    struct sqlite_outbox *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        base_why(why, cap, "out of memory");
        return NULL;
    }
    o->base.ops = &sqlite_ops;
    static const char *const sql[ST_COUNT] = {
        [ST_SCAN] = scan_sql,         [ST_MARK] = mark_sql,       [ST_PRUNE] = prune_sql,
        [ST_ENDPOINT] = endpoint_sql, [ST_FAILURE] = failure_sql, [ST_BEGIN] = "BEGIN IMMEDIATE",
        [ST_COMMIT] = "COMMIT",       [ST_ROLLBACK] = "ROLLBACK",
    };
    /* NOMUTEX: one thread uses an instance. */
    bool ok = sqlite3_open_v2(path, &o->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
              sqlite3_busy_timeout(o->db, BUSY_TIMEOUT_MS) == SQLITE_OK;
    for (int i = 0; ok && i < ST_COUNT; i++)
        ok = sqlite3_prepare_v3(o->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &o->st[i], NULL) == SQLITE_OK;
    if (!ok) {
        base_why(why, cap, "%s", o->db != NULL ? sqlite3_errmsg(o->db) : "out of memory");
        sqlite_free(&o->base);
        return NULL;
    }
    return &o->base;
}
