/* pkg/store on SQLite, the SQL half (see store_sqlite_ops.h): one call becomes a few prepared
 * statements on the store's own connection, every value bound as a parameter. The observable
 * results are those of store_pg.c: the same task JSON (keys in the same order, booleans, null,
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC), the same statuses, the same cursor text, and one outbox row
 * per task change in the same transaction as the change.
 *
 * PostgreSQL's types do some checking that SQLite's do not: ids are parsed as uuid there (any
 * spelling PostgreSQL accepts, stored canonical), timestamps as timestamptz, text must be valid
 * UTF-8. Inputs are checked here by the same rules, and a value PostgreSQL refuses with an SQLSTATE
 * of class 22 gives STORE_INVALID here too, as store_pg.c maps it. */
#include "store/store_sqlite_ops.h"
#include "base/base.h"
#include "log/log.h"
#include "schema/schema.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

/* Sleep steps while another connection holds the write lock: short first (locks are held for
 * milliseconds), then a steady poll, always ending at the call's deadline. */
#define BUSY_SLEEP_MAX_MS 16
/* The progress handler runs every this many VM instructions (far below a millisecond of work). */
#define PROGRESS_OPS 1000
/* Bound on opening the file and setting it up (start-up, not on an event loop). */
#define OPEN_TIMEOUT_MS 5000
/* Bound on ending a failed transaction, whatever the call's own deadline was. */
#define ROLLBACK_TIMEOUT_MS 1000
#define TS_MAX              40

#define TASK_COLS "id, title, description, completed, due_at, created_at, updated_at, version"
enum {
    COL_ID,
    COL_TITLE,
    COL_DESCRIPTION,
    COL_COMPLETED,
    COL_DUE_AT,
    COL_CREATED_AT,
    COL_UPDATED_AT,
    COL_VERSION
};

enum stmt {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_HAS_SCHEMA_TABLE,
    ST_OUTBOX_BACKLOG,
    ST_USER_CREATE,
    ST_USER_BY_EMAIL,
    ST_USER_EXISTS,
    ST_TASK_LIST_FIRST,
    ST_TASK_LIST_AFTER,
    ST_TASK_GET,
    ST_TASK_CURRENT,
    ST_TASK_INSERT,
    ST_TASK_UPDATE,
    ST_TASK_TOGGLE,
    ST_TASK_DELETE,
    ST_OUTBOX_INSERT,
    ST_WEBHOOK_COUNT,
    ST_WEBHOOK_INSERT,
    ST_WEBHOOK_LIST,
    ST_WEBHOOK_DELETE,
    ST_CONV_INSERT,
    ST_CONV_FIND,
    ST_CONV_TOUCH,
    ST_MSG_INSERT,
    ST_MSG_RECENT,
    ST_CONV_LIST_FIRST,
    ST_CONV_LIST_AFTER,
    ST_CONV_DELETE,
    N_STMT
};

/* Names match store_pg.c's statement names where there is one, so logs read the same. */
static const struct {
    const char *name;
    const char *sql;
} stmt_sql[] = {
    /* IMMEDIATE: a read-then-write transaction that only asked for the write lock at its first write
     * could fail there with SQLITE_BUSY (SQLite cannot wait for a lock upgrade); asking up front
     * waits in the busy handler instead. */
    [ST_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    /* A read of more than one statement sees one snapshot (WAL): the first read takes it. */
    [ST_BEGIN_READ] = {"begin", "BEGIN DEFERRED"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_HAS_SCHEMA_TABLE] = {"schema_state",
                             "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"},
    /* created_at is in microseconds since the epoch (migrations/sqlite/0003_outbox.sql). */
    [ST_OUTBOX_BACKLOG] = {"outbox_backlog",
                           "SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL "
                           "LIMIT ?1)), coalesce((SELECT ?2 - created_at / 1000 FROM outbox WHERE "
                           "published_at IS NULL ORDER BY id LIMIT 1), 0)"},
    [ST_USER_CREATE] =
        {"user_create",
         "INSERT INTO users (email, password_hash, created_at) VALUES (lower(?1), ?2, ?3) RETURNING id"},
    [ST_USER_BY_EMAIL] = {"user_by_email", "SELECT id, password_hash FROM users WHERE email = lower(?1)"},
    [ST_USER_EXISTS] = {"user_exists", "SELECT 1 FROM users WHERE id = ?1"},
    [ST_TASK_LIST_FIRST] = {"task_list",
                            "SELECT " TASK_COLS " FROM tasks WHERE user_id = ?1 AND (?2 IS NULL OR "
                            "completed = ?2) ORDER BY created_at DESC, id DESC LIMIT ?3"},
    [ST_TASK_LIST_AFTER] = {"task_list",
                            "SELECT " TASK_COLS
                            " FROM tasks WHERE user_id = ?1 AND (?2 IS NULL OR completed = ?2) "
                            "AND (created_at, id) < (?4, ?5) ORDER BY created_at DESC, id DESC LIMIT ?3"},
    [ST_TASK_GET] = {"task_get", "SELECT " TASK_COLS " FROM tasks WHERE user_id = ?1 AND id = ?2"},
    [ST_TASK_CURRENT] = {"task_current",
                         "SELECT version, completed FROM tasks WHERE user_id = ?1 AND id = ?2"},
    [ST_TASK_INSERT] =
        {"task_create",
         "INSERT INTO tasks (user_id, title, description, completed, due_at, created_at, updated_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING " TASK_COLS},
    [ST_TASK_UPDATE] =
        {"task_replace",
         "UPDATE tasks SET title = ?3, description = ?4, completed = ?5, due_at = ?6, updated_at = ?7, "
         "version = version + 1 WHERE user_id = ?1 AND id = ?2 RETURNING " TASK_COLS},
    [ST_TASK_TOGGLE] = {"task_toggle",
                        "UPDATE tasks SET completed = 1 - completed, updated_at = ?3, version = "
                        "version + 1 WHERE user_id = ?1 AND id = ?2 RETURNING " TASK_COLS},
    [ST_TASK_DELETE] = {"task_delete",
                        "DELETE FROM tasks WHERE user_id = ?1 AND id = ?2 RETURNING " TASK_COLS},
    [ST_OUTBOX_INSERT] = {"outbox_insert",
                          "INSERT INTO outbox (user_id, task_id, type, payload, created_at) VALUES "
                          "(?1, ?2, ?3, ?4, ?5)"},
    [ST_WEBHOOK_COUNT] = {"webhook_create", "SELECT count(*) FROM webhook_endpoints WHERE user_id = ?1"},
    [ST_WEBHOOK_INSERT] = {"webhook_create",
                           "INSERT INTO webhook_endpoints (id, user_id, url, events, secret, created_at) "
                           "VALUES (?6, ?1, ?2, ?3, ?4, ?5) RETURNING id, url, events, created_at"},
    [ST_WEBHOOK_LIST] = {"webhook_list",
                         "SELECT id, url, events, created_at FROM webhook_endpoints WHERE user_id = "
                         "?1 ORDER BY created_at, id"},
    [ST_WEBHOOK_DELETE] = {"webhook_delete", "DELETE FROM webhook_endpoints WHERE user_id = ?1 AND id = ?2"},
    [ST_CONV_INSERT] = {"conversation_open",
                        "INSERT INTO conversations (user_id, created_at, updated_at) VALUES "
                        "(?1, ?2, ?2) RETURNING id"},
    [ST_CONV_FIND] = {"conversation_open", "SELECT id FROM conversations WHERE id = ?1 AND user_id = ?2"},
    [ST_CONV_TOUCH] = {"messages_append",
                       "UPDATE conversations SET updated_at = ?3 WHERE id = ?1 AND user_id = ?2"},
    [ST_MSG_INSERT] =
        {"messages_append",
         "INSERT INTO messages (conversation_id, user_id, role, content, tool_calls, tool_call_id, "
         "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id"},
    [ST_MSG_RECENT] = {"messages_recent",
                       "SELECT id, role, content, tool_calls, tool_call_id, created_at FROM (SELECT * FROM "
                       "messages WHERE conversation_id = ?1 AND user_id = ?2 ORDER BY seq DESC LIMIT ?3) "
                       "ORDER BY seq"},
    [ST_CONV_LIST_FIRST] =
        {"conversation_list",
         "SELECT id, created_at, updated_at FROM conversations WHERE user_id = ?1 ORDER BY "
         "created_at DESC, id DESC LIMIT ?2"},
    [ST_CONV_LIST_AFTER] = {"conversation_list",
                            "SELECT id, created_at, updated_at FROM conversations WHERE user_id = ?1 AND "
                            "(created_at, id) < (?3, ?4) ORDER BY created_at DESC, id DESC LIMIT ?2"},
    [ST_CONV_DELETE] = {"conversation_delete", "DELETE FROM conversations WHERE user_id = ?1 AND id = ?2"},
};
_Static_assert(sizeof(stmt_sql) / sizeof(stmt_sql[0]) == N_STMT, "a statement without its SQL");

/* Not kept prepared: the table may not exist yet (see store_pg.c's reason for the same choice). */
static const char sqlite_schema_state_sql[] =
    "SELECT coalesce(max(version), 0), coalesce(max(floor), 0) FROM " SCHEMA_TABLE;

struct sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[N_STMT]; /* prepared on first use and kept */
    long long deadline_ms;       /* of the call running now */
    const int *stopping;
    bool stopped; /* a handler gave up because *stopping was set */
};

static long long realtime_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool must_stop(struct sqlite_conn *c)
{
    if (c->stopping != NULL && __atomic_load_n(c->stopping, __ATOMIC_ACQUIRE) != 0) {
        c->stopped = true;
        return true;
    }
    return false;
}

/* Another connection (another event loop's store, or a second process) holds the lock. */
static int on_busy(void *arg, int count)
{
    struct sqlite_conn *c = arg;
    if (must_stop(c))
        return 0;
    long long left = c->deadline_ms - (long long)base_now_ms();
    if (left <= 0)
        return 0;
    int ms = count < 4 ? 1 << count : BUSY_SLEEP_MAX_MS;
    if (ms > left)
        ms = (int)left;
    sqlite3_sleep(ms);
    return 1;
}

/* Non-zero interrupts the running statement (SQLITE_INTERRUPT). */
static int on_progress(void *arg)
{
    struct sqlite_conn *c = arg;
    return must_stop(c) || (long long)base_now_ms() > c->deadline_ms;
}

/* ---- values: PostgreSQL's input rules for uuid and timestamptz, and its output format ---- */

/* The spellings PostgreSQL's uuid type accepts: 32 hex digits, optionally in braces, with an
 * optional hyphen after any group of four digits. Writes the canonical lower-case 8-4-4-4-12 form. */
static bool uuid_canonical(const char *in, char out[BASE_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (in == NULL)
        return false;
    const char *p = in;
    bool braces = *p == '{';
    if (braces)
        p++;
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        int hi = base_hex_value(p[0]), lo = hi >= 0 ? base_hex_value(p[1]) : -1;
        if (hi < 0 || lo < 0)
            return false;
        p += 2;
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[hi];
        out[o++] = hex[lo];
        if (*p == '-' && i % 2 == 1 && i < 15)
            p++;
    }
    if (braces && *p++ != '}')
        return false;
    out[o] = '\0';
    return *p == '\0';
}

/* Well-formed UTF-8 as PostgreSQL's server encoding requires it: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static bool valid_utf8(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p != '\0') {
        unsigned char b = *p;
        int n;
        unsigned long cp, min;
        if (b < 0x80) {
            p++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            n = 1, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            n = 2, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            n = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

static bool is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(long y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (years counted from March so
 * that the leap day is the last day of its year). */
static long long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (long long)era * 146097 + doe - 719468;
}

static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* RFC 3339 (what the API validated) into microseconds since the epoch, with PostgreSQL's limits:
 * hour 24 only as 24:00:00, second 60 rolls over, fractions rounded to microseconds as
 * timestamptz does, offsets as ±HH, ±HHMM or ±HH:MM. */
static bool parse_timestamp(const char *s, long long *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
        return false;
    long long frac_us = 0;
    if (*p == '.') {
        char buf[64];
        size_t n = 1;
        buf[0] = '.';
        for (p++; isdigit((unsigned char)*p); p++)
            if (n < sizeof(buf) - 1)
                buf[n++] = *p;
        if (n == 1)
            return false;
        buf[n] = '\0';
        frac_us = (long long)rint(strtod(buf, NULL) * 1e6);
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (!digits(&p, 2, &oh))
            return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &om))
                return false;
        } else if (isdigit((unsigned char)*p) && !digits(&p, 2, &om)) {
            return false;
        }
    } else {
        return false;
    }
    if (*p != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || mi > 59 ||
        sec > 60 || h > 24 || (h == 24 && (mi > 0 || sec > 0 || frac_us > 0)) || oh > 15 || om > 59)
        return false;
    long long secs = days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + sec;
    secs -= sign * (oh * 3600LL + om * 60LL);
    *out = secs * 1000000 + frac_us;
    return true;
}

/* PostgreSQL's to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'). */
static bool format_timestamp(long long us, char out[TS_MAX])
{
    long long frac = us % 1000000;
    if (frac < 0)
        frac += 1000000;
    time_t secs = (time_t)((us - frac) / 1000000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL)
        return false;
    int n = snprintf(out, TS_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return n > 0 && n < TS_MAX;
}

/* ---- statements ---- */

static sqlite3_stmt *prepared(struct sqlite_conn *c, enum stmt id, int *rc)
{
    if (c->stmts[id] == NULL) {
        /* PERSISTENT: kept for the connection's life; SQLite re-prepares it itself after a schema change. */
        *rc = sqlite3_prepare_v3(c->db, stmt_sql[id].sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id], NULL);
        if (*rc != SQLITE_OK) {
            sqlite3_finalize(c->stmts[id]);
            c->stmts[id] = NULL;
            return NULL;
        }
    }
    *rc = SQLITE_OK;
    return c->stmts[id];
}

static void release(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s == NULL ? sqlite3_bind_null(st, i) : sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* The statement with two text parameters bound and its first step taken: *rc is that step's result,
 * or the code of the call that failed before it. */
static sqlite3_stmt *stepped2(struct sqlite_conn *c, enum stmt id, const char *p1, const char *p2, int *rc)
{
    sqlite3_stmt *st = prepared(c, id, rc);
    if (st != NULL)
        *rc = bind_text(st, 1, p1);
    if (*rc == SQLITE_OK)
        *rc = bind_text(st, 2, p2);
    if (*rc == SQLITE_OK)
        *rc = sqlite3_step(st);
    return st;
}

static int bind_int_or_null(sqlite3_stmt *st, int i, const long long *v)
{
    return v == NULL ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, *v);
}

/* "true"/"false" (what store.c passes) as SQLite's 1/0; anything else (NULL) binds NULL. */
static int bind_bool_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s != NULL && strcmp(s, "true") == 0)
        return sqlite3_bind_int(st, i, 1);
    if (s != NULL && strcmp(s, "false") == 0)
        return sqlite3_bind_int(st, i, 0);
    return sqlite3_bind_null(st, i);
}

static char *column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    if (text == NULL)
        return NULL;
    return base_memdup(text, (size_t)sqlite3_column_bytes(st, col));
}

/* Maps a failed SQLite call to the status store_pg.c gives for the same situation, and logs what an
 * operator needs (disk full and I/O errors by name: they are what breaks a developer's machine). */
static void fail(struct sqlite_conn *c, struct sqlite_outcome *out, const char *name, int rc)
{
    int primary = rc & 0xff;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        out->status = STORE_CONFLICT;
        return;
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) { /* store_pg.c's 23503: the only foreign keys are users' */
        out->status = STORE_NO_USER;
        return;
    }
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_INTERRUPT) {
        out->status = c->stopped ? STORE_UNAVAILABLE : STORE_TIMEOUT;
        return;
    }
    out->status = STORE_ERROR;
    /* A full disk or a failing write is the environment, not the request: 503 + Retry-After, as a
     * PostgreSQL out of resources (SQLSTATE class 53) is. The change was rolled back either way. */
    if (primary == SQLITE_FULL || primary == SQLITE_IOERR)
        out->status = STORE_UNAVAILABLE;
    const char *msg = "database statement failed";
    if (primary == SQLITE_FULL)
        msg = "SQLite database or disk is full: the change was rolled back; free space on the volume holding "
              "the "
              "dev database";
    else if (primary == SQLITE_IOERR)
        msg = "SQLite I/O error on the dev database file: the change was rolled back";
    else if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
        msg = "the SQLite dev database file is damaged or not a database";
    else if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || primary == SQLITE_PERM)
        msg = "the SQLite dev database file cannot be written";
    else if (primary == SQLITE_NOMEM)
        msg = "SQLite ran out of memory";
    log_write(LOG_ERROR, NULL, msg,
              json_pack("{s:s,s:i,s:s,s:s}", "statement", name, "sqlite_code", rc, "sqlite_error",
                        sqlite3_errstr(rc), "error", sqlite3_errmsg(c->db)));
}

/* A value the PostgreSQL types refuse (SQLSTATE class 22 there, e.g. 22P02 for a uuid, 22007 for a
 * timestamp): STORE_INVALID, the client's value and not a fault, so not logged (as store_pg.c). */
static void fail_invalid(struct sqlite_outcome *out)
{
    out->status = STORE_INVALID;
}

static void fail_other(struct sqlite_outcome *out, const char *name, const char *what)
{
    out->status = STORE_ERROR;
    log_write(LOG_ERROR, NULL, "database statement failed",
              json_pack("{s:s,s:s}", "statement", name, "error", what));
}

static void fail_memory(struct sqlite_outcome *out, const char *name)
{
    fail_other(out, name, "out of memory");
}

/* Steps a statement that returns no rows (or whose rows are not needed) to its end. */
static bool run_simple(struct sqlite_conn *c, struct sqlite_outcome *out, enum stmt id)
{
    int rc;
    sqlite3_stmt *st = prepared(c, id, &rc);
    if (st != NULL) {
        do
            rc = sqlite3_step(st);
        while (rc == SQLITE_ROW);
    }
    if (rc != SQLITE_DONE)
        fail(c, out, stmt_sql[id].name, rc);
    release(st);
    return rc == SQLITE_DONE;
}

/* Ends a failed write transaction (SQLite may have rolled it back already, e.g. after SQLITE_FULL).
 * The call's deadline and the stop request no longer apply: a rollback must not be interrupted, or
 * the connection would stay inside the transaction for every later call. */
static void rollback_if_open(struct sqlite_conn *c)
{
    if (sqlite3_get_autocommit(c->db))
        return;
    c->deadline_ms = (long long)base_now_ms() + ROLLBACK_TIMEOUT_MS;
    c->stopping = NULL;
    struct sqlite_outcome ignored = {0};
    if (!run_simple(c, &ignored, ST_ROLLBACK))
        log_printf(LOG_ERROR, "SQLite rollback failed: %s", sqlite3_errmsg(c->db));
}

/* Called when a call for user_id found nothing, inside the call's transaction (so on the snapshot
 * that found nothing): sets STORE_NO_USER when the user itself is gone (its token outlived it, as
 * store_pg.c's NO_USER_ROW and USER_EXISTS tell), else `otherwise`. */
static void nothing_found(struct sqlite_conn *c, struct sqlite_outcome *out, const char *user_id,
                          enum store_status otherwise)
{
    int rc;
    sqlite3_stmt *st = prepared(c, ST_USER_EXISTS, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        out->status = otherwise;
    else if (rc == SQLITE_DONE)
        out->status = STORE_NO_USER;
    else
        fail(c, out, stmt_sql[ST_USER_EXISTS].name, rc);
    release(st);
}

/* The task object of store_pg.c's TASK_JSON from the current row (columns TASK_COLS). */
static json_t *task_object(sqlite3_stmt *st)
{
    char created[TS_MAX], updated[TS_MAX], due[TS_MAX];
    const char *id = (const char *)sqlite3_column_text(st, COL_ID);
    size_t id_len = (size_t)sqlite3_column_bytes(st, COL_ID);
    const char *title = (const char *)sqlite3_column_text(st, COL_TITLE);
    size_t title_len = (size_t)sqlite3_column_bytes(st, COL_TITLE);
    const char *description = (const char *)sqlite3_column_text(st, COL_DESCRIPTION);
    size_t description_len = (size_t)sqlite3_column_bytes(st, COL_DESCRIPTION);
    bool has_due = sqlite3_column_type(st, COL_DUE_AT) != SQLITE_NULL;
    if (id == NULL || title == NULL || description == NULL ||
        !format_timestamp(sqlite3_column_int64(st, COL_CREATED_AT), created) ||
        !format_timestamp(sqlite3_column_int64(st, COL_UPDATED_AT), updated) ||
        (has_due && !format_timestamp(sqlite3_column_int64(st, COL_DUE_AT), due)))
        return NULL;
    return json_pack("{s:s%,s:s%,s:s%,s:b,s:o,s:s,s:s}", "id", id, id_len, "title", title, title_len,
                     "description", description, description_len, "completed",
                     sqlite3_column_int(st, COL_COMPLETED) != 0, "due_at",
                     has_due ? json_string(due) : json_null(), "created_at", created, "updated_at", updated);
}

static char *dump(json_t *value, size_t *len)
{
    char *text = value != NULL ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(value);
    if (text != NULL && len != NULL)
        *len = strlen(text);
    return text;
}

/* A list's page into out (the items; next_cursor when the look-ahead row exists); takes the page. */
static void page_done(struct sqlite_outcome *out, const char *name, json_t *page, long rows, long limit,
                      const char *cursor)
{
    bool more = rows > limit && limit > 0;
    out->json = dump(page, &out->json_len);
    if (more)
        out->next_cursor = strdup(cursor);
    if (out->json == NULL || (more && out->next_cursor == NULL))
        fail_memory(out, name);
}

/* ---- operations ---- */

static void op_schema_state(struct sqlite_conn *c, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_HAS_SCHEMA_TABLE].name;
    int rc;
    sqlite3_stmt *st = prepared(c, ST_HAS_SCHEMA_TABLE, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, SCHEMA_TABLE, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    bool exists = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
    if (rc != SQLITE_ROW)
        fail(c, out, name, rc);
    release(st);
    if (rc != SQLITE_ROW)
        return;
    if (!exists) { /* migrations never ran: the same answer as PostgreSQL's 42P01 */
        out->schema_missing = true;
        return;
    }
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v3(c->db, sqlite_schema_state_sql, -1, 0, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->schema_version = sqlite3_column_int64(q, 0);
        out->schema_floor = sqlite3_column_int64(q, 1);
    } else {
        fail(c, out, name, rc);
    }
    sqlite3_finalize(q);
}

static void op_outbox_backlog(struct sqlite_conn *c, struct sqlite_outcome *out)
{
    op_schema_state(c, out);
    if (out->status != STORE_OK || out->schema_missing) {
        out->schema_missing = false; /* not migrated yet: nothing waits */
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int rc;
    sqlite3_stmt *st = prepared(c, ST_OUTBOX_BACKLOG, &rc);
    if (st != NULL)
        rc = sqlite3_bind_int64(st, 1, STORE_OUTBOX_COUNT_MAX);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->outbox_unpublished = sqlite3_column_int64(st, 0);
        out->outbox_oldest_age_ms = sqlite3_column_int64(st, 1);
    } else {
        fail(c, out, stmt_sql[ST_OUTBOX_BACKLOG].name, rc);
    }
    release(st);
}

static void op_user_create(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_USER_CREATE].name;
    int rc;
    sqlite3_stmt *st = prepared(c, ST_USER_CREATE, &rc);
    if (st != NULL)
        rc = bind_text(st, 1, args[0]);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, args[1]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, realtime_us());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->user_id = column_dup(st, 0);
        rc = sqlite3_step(st); /* to the end: the row is written by the first step already */
    }
    if (rc != SQLITE_DONE)
        fail(c, out, name, rc);
    else if (out->user_id == NULL)
        fail_memory(out, name);
    release(st);
}

static void op_user_by_email(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_USER_BY_EMAIL].name;
    int rc;
    sqlite3_stmt *st = prepared(c, ST_USER_BY_EMAIL, &rc);
    if (st != NULL)
        rc = bind_text(st, 1, args[0]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->user_id = column_dup(st, 0);
        out->password_hash = column_dup(st, 1);
        if (out->user_id == NULL || out->password_hash == NULL)
            fail_memory(out, name);
    } else if (rc == SQLITE_DONE) {
        out->status = STORE_NOT_FOUND;
    } else {
        fail(c, out, name, rc);
    }
    release(st);
}

/* args: user_id, completed, cursor micros, cursor uuid, limit. One row more than the page tells
 * whether there is a next page, as the PostgreSQL statement's count(*) > limit does. */
static void op_task_list(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_TASK_LIST_FIRST].name;
    char user_id[BASE_UUID_LEN + 1], after_id[BASE_UUID_LEN + 1];
    bool has_cursor = args[2] != NULL;
    long long after_us = 0;
    if (!uuid_canonical(args[0], user_id) || (has_cursor && !uuid_canonical(args[3], after_id))) {
        fail_invalid(out);
        return;
    }
    if (has_cursor) {
        errno = 0;
        char *end = NULL;
        after_us = strtoll(args[2], &end, 10);
        /* PostgreSQL turns the position into epoch + n * interval '1 microsecond', computed in double
         * precision: past 2^63 as a double it is "interval out of range" (class 22) there. */
        if (errno != 0 || end == args[2] || *end != '\0' || (double)after_us >= 9223372036854775808.0) {
            fail_invalid(out);
            return;
        }
    }
    long limit = args[4] != NULL ? strtol(args[4], NULL, 10) : -1;
    if (limit < 0 || limit > INT32_MAX - 1) {
        fail_invalid(out);
        return;
    }
    json_t *page = json_array();
    if (page == NULL) {
        fail_memory(out, name);
        return;
    }
    int rc;
    sqlite3_stmt *st = prepared(c, has_cursor ? ST_TASK_LIST_AFTER : ST_TASK_LIST_FIRST, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = bind_bool_text(st, 2, args[1]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1);
    if (rc == SQLITE_OK && has_cursor)
        rc = sqlite3_bind_int64(st, 4, after_us);
    if (rc == SQLITE_OK && has_cursor)
        rc = sqlite3_bind_text(st, 5, after_id, -1, SQLITE_TRANSIENT);
    long rows = 0;
    char cursor[64] = "";
    bool oom = false;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        if (++rows > limit)
            continue; /* the look-ahead row: only its existence matters */
        json_t *task = task_object(st);
        if (task == NULL || json_array_append_new(page, task) != 0) {
            oom = true;
            break;
        }
        if (rows == limit)
            snprintf(cursor, sizeof(cursor), "%lld.%s", (long long)sqlite3_column_int64(st, COL_CREATED_AT),
                     (const char *)sqlite3_column_text(st, COL_ID));
    }
    if (oom)
        fail_memory(out, name);
    else if (rc != SQLITE_DONE)
        fail(c, out, name, rc);
    else if (rows == 0)
        nothing_found(c, out, user_id, STORE_OK); /* an empty page, or no such user */
    if (out->status == STORE_OK) {
        page_done(out, name, page, rows, limit, cursor);
        page = NULL;
    }
    json_decref(page);
    release(st);
}

static void op_task_get(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_TASK_GET].name;
    char user_id[BASE_UUID_LEN + 1], task_id[BASE_UUID_LEN + 1];
    if (!uuid_canonical(args[0], user_id) || !uuid_canonical(args[1], task_id)) {
        fail_invalid(out);
        return;
    }
    int rc;
    sqlite3_stmt *st = stepped2(c, ST_TASK_GET, user_id, task_id, &rc);
    if (rc == SQLITE_ROW) {
        out->version = sqlite3_column_int64(st, COL_VERSION);
        out->json = dump(task_object(st), &out->json_len);
        if (out->json == NULL)
            fail_memory(out, name);
    } else if (rc == SQLITE_DONE) {
        nothing_found(c, out, user_id, STORE_NOT_FOUND);
    } else {
        fail(c, out, name, rc);
    }
    release(st);
}

/* ---- task writes: BEGIN IMMEDIATE, the change, its outbox row, COMMIT ---- */

struct write {
    struct sqlite_conn *c;
    struct sqlite_outcome *out;
    enum op_kind { W_CREATE, W_REPLACE, W_TOGGLE, W_DELETE } kind;
    const char *name;
    char user_id[BASE_UUID_LEN + 1];
    char task_id[BASE_UUID_LEN + 1];
    long long now_us;
};

/* The row's current version and completion; false with the status set when the call must stop
 * here (no such task, or If-Match differs: the answers of store_pg.c's fill_conditional). */
static bool check_current(struct write *w, const char *if_match, bool *was_completed)
{
    int rc;
    sqlite3_stmt *st = prepared(w->c, ST_TASK_CURRENT, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, w->user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, w->task_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    bool go = false;
    if (rc == SQLITE_ROW) {
        long long version = sqlite3_column_int64(st, 0);
        *was_completed = sqlite3_column_int(st, 1) != 0;
        errno = 0;
        long long wanted = if_match != NULL ? strtoll(if_match, NULL, 10) : version;
        if (errno != 0)
            fail_invalid(w->out);
        else if (wanted != version) {
            w->out->status = STORE_PRECONDITION_FAILED;
            w->out->version = version; /* the current version: the 412's ETag */
        } else
            go = true;
    } else if (rc == SQLITE_DONE) {
        nothing_found(w->c, w->out, w->user_id, STORE_NOT_FOUND);
    } else {
        fail(w->c, w->out, stmt_sql[ST_TASK_CURRENT].name, rc);
    }
    release(st);
    return go;
}

static bool insert_outbox(struct write *w, const char *type, const char *payload)
{
    int rc;
    sqlite3_stmt *st = prepared(w->c, ST_OUTBOX_INSERT, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, w->user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, w->task_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 4, payload, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, w->now_us);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        fail(w->c, w->out, stmt_sql[ST_OUTBOX_INSERT].name, rc);
    release(st);
    return rc == SQLITE_DONE;
}

/* Binds the statement of the write's kind; args as store.c documents them per operation. */
static int bind_write(struct write *w, sqlite3_stmt *st, char *const *args, const long long *due)
{
    int rc = SQLITE_OK;
    switch (w->kind) {
    case W_CREATE: /* user_id, title, description, completed, due_at */
        rc = sqlite3_bind_text(st, 1, w->user_id, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 2, args[1]);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 3, args[2]);
        if (rc == SQLITE_OK)
            rc = bind_bool_text(st, 4, args[3]);
        if (rc == SQLITE_OK)
            rc = bind_int_or_null(st, 5, due);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 6, w->now_us);
        return rc;
    case W_REPLACE: /* user_id, task_id, title, description, completed, due_at, if_match */
        rc = bind_text(st, 3, args[2]);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 4, args[3]);
        if (rc == SQLITE_OK)
            rc = bind_bool_text(st, 5, args[4]);
        if (rc == SQLITE_OK)
            rc = bind_int_or_null(st, 6, due);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 7, w->now_us);
        break;
    case W_TOGGLE: /* user_id, task_id, if_match */
        rc = sqlite3_bind_int64(st, 3, w->now_us);
        break;
    case W_DELETE:
        break;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, w->user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, w->task_id, -1, SQLITE_TRANSIENT);
    return rc;
}

static void op_task_write(struct sqlite_conn *c, enum store_op op, char *const *args,
                          struct sqlite_outcome *out)
{
    static const enum stmt stmt_of[] = {[W_CREATE] = ST_TASK_INSERT,
                                        [W_REPLACE] = ST_TASK_UPDATE,
                                        [W_TOGGLE] = ST_TASK_TOGGLE,
                                        [W_DELETE] = ST_TASK_DELETE};
    struct write w = {.c = c, .out = out, .now_us = realtime_us()};
    const char *if_match = NULL, *due_text = NULL;
    switch (op) {
    case STORE_OP_TASK_CREATE:
        w.kind = W_CREATE;
        due_text = args[4];
        break;
    case STORE_OP_TASK_REPLACE:
        w.kind = W_REPLACE;
        due_text = args[5];
        if_match = args[6];
        break;
    case STORE_OP_TASK_TOGGLE:
        w.kind = W_TOGGLE;
        if_match = args[2];
        break;
    default:
        w.kind = W_DELETE;
        if_match = args[2];
        break;
    }
    w.name = stmt_sql[stmt_of[w.kind]].name;
    long long due_us = 0;
    if (!uuid_canonical(args[0], w.user_id) || (w.kind != W_CREATE && !uuid_canonical(args[1], w.task_id))) {
        fail_invalid(out);
        return;
    }
    if (due_text != NULL && !parse_timestamp(due_text, &due_us)) {
        fail_invalid(out);
        return;
    }
    if (!run_simple(c, out, ST_BEGIN))
        return;
    bool was_completed = false;
    char *payload = NULL;
    sqlite3_stmt *st = NULL;
    if (w.kind != W_CREATE && !check_current(&w, if_match, &was_completed))
        goto rollback;
    int rc;
    st = prepared(c, stmt_of[w.kind], &rc);
    if (st != NULL)
        rc = bind_write(&w, st, args, due_text != NULL ? &due_us : NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        /* The row was there under the write lock a moment ago, so DONE cannot happen; an error can. */
        fail(c, out, w.name, rc == SQLITE_DONE ? SQLITE_ERROR : rc);
        goto rollback;
    }
    bool completed = sqlite3_column_int(st, COL_COMPLETED) != 0;
    long long version = sqlite3_column_int64(st, COL_VERSION);
    size_t payload_len = 0;
    payload = dump(task_object(st), &payload_len);
    if (w.kind == W_CREATE) {
        const char *id = (const char *)sqlite3_column_text(st, COL_ID);
        snprintf(w.task_id, sizeof(w.task_id), "%s", id != NULL ? id : "");
    }
    rc = sqlite3_step(st); /* to the end: the change itself was made by the first step */
    if (rc != SQLITE_DONE) {
        fail(c, out, w.name, rc);
        goto rollback;
    }
    release(st);
    st = NULL;
    if (payload == NULL) {
        fail_memory(out, w.name);
        goto rollback;
    }
    const char *type = "task.updated";
    if (w.kind == W_CREATE)
        type = "task.created";
    else if (w.kind == W_DELETE)
        type = "task.deleted";
    else if (completed && (w.kind == W_TOGGLE || !was_completed))
        type = "task.completed";
    if (!insert_outbox(&w, type, payload) || !run_simple(c, out, ST_COMMIT))
        goto rollback;
    if (w.kind != W_DELETE) {
        out->json = payload;
        out->json_len = payload_len;
        out->version = version;
        payload = NULL;
    }
    free(payload);
    return;
rollback:
    release(st);
    free(payload);
    rollback_if_open(c);
}

/* ---- webhook endpoints ---- */

/* {"id", "url", "events", "created_at"} as store_pg.c's json_build_object; the secret never leaves. */
static json_t *webhook_object(sqlite3_stmt *st)
{
    char created[TS_MAX];
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *url = (const char *)sqlite3_column_text(st, 1);
    size_t url_len = (size_t)sqlite3_column_bytes(st, 1);
    const char *events = (const char *)sqlite3_column_text(st, 2);
    size_t events_len = (size_t)sqlite3_column_bytes(st, 2);
    if (id == NULL || url == NULL || events == NULL ||
        !format_timestamp(sqlite3_column_int64(st, 3), created))
        return NULL;
    json_t *list = json_loadb(events, events_len, 0, NULL);
    if (list == NULL)
        return NULL;
    return json_pack("{s:s,s:s%,s:o,s:s}", "id", id, "url", url, url_len, "events", list, "created_at",
                     created);
}

/* PostgreSQL's ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) as a JSON array of strings: not
 * JSON, or not an array, is refused as there (class 22); elements become their text. */
static char *events_text(const char *events_json, bool *invalid)
{
    *invalid = false;
    json_t *in = events_json != NULL ? json_loads(events_json, JSON_DECODE_ANY, NULL) : NULL;
    if (in == NULL || !json_is_array(in)) {
        json_decref(in);
        *invalid = true;
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (in, i, e) {
        json_t *text = NULL;
        if (json_is_string(e)) {
            text = json_stringn(json_string_value(e), json_string_length(e));
        } else if (json_is_null(e)) {
            text = json_null();
        } else {
            char *dumped = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
            text = dumped != NULL ? json_string(dumped) : NULL;
            free(dumped);
        }
        if (out == NULL || text == NULL || json_array_append_new(out, text) != 0) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
    json_decref(in);
    return dump(out, NULL);
}

/* args: user_id, url, events_json, secret, max_per_user. The count and the insert share one write
 * transaction, so two creates cannot both take the last free place. */
static void op_webhook_create(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_WEBHOOK_INSERT].name;
    char user_id[BASE_UUID_LEN + 1];
    bool invalid = false;
    if (!uuid_canonical(args[0], user_id)) {
        fail_invalid(out);
        return;
    }
    char *events = events_text(args[2], &invalid);
    if (events == NULL) {
        if (invalid)
            fail_invalid(out);
        else
            fail_memory(out, name);
        return;
    }
    long max = args[4] != NULL ? strtol(args[4], NULL, 10) : 0;
    /* The SQLite twin of 0004 has no id default (PostgreSQL's is gen_random_uuid()): made here. */
    char webhook_id[BASE_UUID_LEN + 1];
    sqlite3_stmt *st = NULL;
    if (!base_uuid_v4(webhook_id)) {
        fail_other(out, name, "no random bytes for an id");
        goto done;
    }
    if (!run_simple(c, out, ST_BEGIN))
        goto done;
    int rc;
    st = prepared(c, ST_WEBHOOK_COUNT, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fail(c, out, name, rc);
        goto rollback;
    }
    bool full = sqlite3_column_int64(st, 0) >= max;
    release(st);
    st = NULL;
    if (full) {
        out->status = STORE_CONFLICT; /* the per-user limit: store_pg.c's "no row" */
        goto rollback;
    }
    st = prepared(c, ST_WEBHOOK_INSERT, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, args[1]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, events, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, args[3]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, realtime_us());
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 6, webhook_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->json = dump(webhook_object(st), &out->json_len);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        fail(c, out, name, rc);
        goto rollback;
    }
    release(st);
    st = NULL;
    if (out->json == NULL) {
        fail_memory(out, name);
        goto rollback;
    }
    if (run_simple(c, out, ST_COMMIT))
        goto done;
rollback:
    release(st);
    st = NULL;
    rollback_if_open(c);
done:
    free(events);
}

static void op_webhook_list(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_WEBHOOK_LIST].name;
    char user_id[BASE_UUID_LEN + 1];
    if (!uuid_canonical(args[0], user_id)) {
        fail_invalid(out);
        return;
    }
    json_t *list = json_array();
    if (list == NULL) {
        fail_memory(out, name);
        return;
    }
    int rc;
    sqlite3_stmt *st = prepared(c, ST_WEBHOOK_LIST, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    bool oom = false;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        json_t *w = webhook_object(st);
        if (w == NULL || json_array_append_new(list, w) != 0) {
            oom = true;
            break;
        }
    }
    if (oom)
        fail_memory(out, name);
    else if (rc != SQLITE_DONE)
        fail(c, out, name, rc);
    else if (json_array_size(list) == 0)
        nothing_found(c, out, user_id, STORE_OK); /* none yet, or no such user */
    if (out->status == STORE_OK) {
        out->json = dump(list, &out->json_len);
        list = NULL;
        if (out->json == NULL)
            fail_memory(out, name);
    }
    json_decref(list);
    release(st);
}

static void op_webhook_delete(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_WEBHOOK_DELETE].name;
    char user_id[BASE_UUID_LEN + 1], webhook_id[BASE_UUID_LEN + 1];
    if (!uuid_canonical(args[0], user_id) || !uuid_canonical(args[1], webhook_id)) {
        fail_invalid(out);
        return;
    }
    /* A transaction: when nothing was deleted, whether the user exists is asked of the same state. */
    if (!run_simple(c, out, ST_BEGIN))
        return;
    int rc;
    sqlite3_stmt *st = stepped2(c, ST_WEBHOOK_DELETE, user_id, webhook_id, &rc);
    if (rc != SQLITE_DONE)
        fail(c, out, name, rc);
    else if (sqlite3_changes(c->db) == 0)
        nothing_found(c, out, user_id, STORE_NOT_FOUND);
    release(st);
    if (out->status == STORE_OK)
        run_simple(c, out, ST_COMMIT);
    rollback_if_open(c); /* nothing was changed, or the commit failed */
}

/* ---- the assistant's conversations (store_pg.c's conversation_* and messages_* statements) ---- */

/* args: user_id, conversation_id (NULL: a new one). row_id = the conversation's id. */
static void op_conversation_open(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_CONV_INSERT].name;
    char user_id[BASE_UUID_LEN + 1], conv_id[BASE_UUID_LEN + 1];
    bool create = args[1] == NULL;
    if (!uuid_canonical(args[0], user_id) || (!create && !uuid_canonical(args[1], conv_id))) {
        fail_invalid(out);
        return;
    }
    int rc;
    sqlite3_stmt *st = prepared(c, create ? ST_CONV_INSERT : ST_CONV_FIND, &rc);
    if (st != NULL && create) {
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, realtime_us());
    } else if (st != NULL) {
        rc = sqlite3_bind_text(st, 1, conv_id, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->row_id = column_dup(st, 0);
        rc = sqlite3_step(st);
        if (out->row_id == NULL)
            fail_memory(out, name);
    } else if (rc == SQLITE_DONE) {
        out->status = STORE_NOT_FOUND;
    }
    if (rc != SQLITE_DONE)
        fail(c, out, name, rc);
    release(st);
}

static int bind_message(sqlite3_stmt *st, const char *conv_id, const char *user_id, json_t *m, long long now)
{
    json_t *calls = json_object_get(m, "tool_calls");
    char *calls_text =
        calls != NULL && !json_is_null(calls) ? json_dumps(calls, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = sqlite3_bind_text(st, 1, conv_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, user_id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, json_string_value(json_object_get(m, "role")));
    if (rc == SQLITE_OK) {
        const char *content = json_string_value(json_object_get(m, "content"));
        rc = bind_text(st, 4, content != NULL ? content : "");
    }
    if (rc == SQLITE_OK)
        rc = bind_text(st, 5, calls_text);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 6, json_string_value(json_object_get(m, "tool_call_id")));
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 7, now);
    free(calls_text);
    return rc;
}

/* args: user_id, conversation_id, messages_json. One transaction: touch, then each message in order. */
static void op_messages_append(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_MSG_INSERT].name;
    char user_id[BASE_UUID_LEN + 1], conv_id[BASE_UUID_LEN + 1];
    if (!uuid_canonical(args[0], user_id) || !uuid_canonical(args[1], conv_id)) {
        fail_invalid(out);
        return;
    }
    json_t *list = args[2] != NULL ? json_loads(args[2], 0, NULL) : NULL;
    if (!json_is_array(list)) {
        json_decref(list);
        fail_invalid(out);
        return;
    }
    long long now = realtime_us();
    sqlite3_stmt *st = NULL;
    int rc;
    if (!run_simple(c, out, ST_BEGIN))
        goto done;
    st = prepared(c, ST_CONV_TOUCH, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, conv_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        fail(c, out, name, rc);
        goto rollback;
    }
    release(st);
    st = NULL;
    if (sqlite3_changes(c->db) == 0) {
        out->status = STORE_NOT_FOUND;
        goto rollback;
    }
    size_t i;
    json_t *m;
    json_array_foreach (list, i, m) {
        st = prepared(c, ST_MSG_INSERT, &rc);
        if (st != NULL)
            rc = bind_message(st, conv_id, user_id, m, now);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            free(out->row_id);
            out->row_id = column_dup(st, 0);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE) {
            fail(c, out, name, rc);
            goto rollback;
        }
        release(st);
        st = NULL;
        if (out->row_id == NULL) {
            fail_memory(out, name);
            goto rollback;
        }
    }
    if (out->row_id == NULL) {
        out->status = STORE_NOT_FOUND; /* as store_pg.c: no message, no id */
        goto rollback;
    }
    if (run_simple(c, out, ST_COMMIT))
        goto done;
rollback:
    release(st);
    rollback_if_open(c);
done:
    json_decref(list);
}

/* args: user_id, conversation_id, limit */
static void op_messages_recent(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_MSG_RECENT].name;
    char user_id[BASE_UUID_LEN + 1], conv_id[BASE_UUID_LEN + 1];
    if (!uuid_canonical(args[0], user_id) || !uuid_canonical(args[1], conv_id)) {
        fail_invalid(out);
        return;
    }
    int rc;
    sqlite3_stmt *st = stepped2(c, ST_CONV_FIND, conv_id, user_id, &rc);
    bool found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail(c, out, name, rc);
    release(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return;
    if (!found) {
        out->status = STORE_NOT_FOUND;
        return;
    }
    json_t *list = json_array();
    if (list == NULL) {
        fail_memory(out, name);
        return;
    }
    st = prepared(c, ST_MSG_RECENT, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, conv_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, args[2] != NULL ? strtoll(args[2], NULL, 10) : 0);
    bool oom = false;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        char created[TS_MAX];
        const char *calls = (const char *)sqlite3_column_text(st, 3);
        const char *call_id = (const char *)sqlite3_column_text(st, 4);
        json_t *calls_json = calls != NULL ? json_loads(calls, 0, NULL) : json_null();
        json_t *m = NULL;
        if (calls_json != NULL && format_timestamp(sqlite3_column_int64(st, 5), created))
            m = json_pack("{s:s,s:s,s:s,s:O,s:o,s:s}", "id", (const char *)sqlite3_column_text(st, 0), "role",
                          (const char *)sqlite3_column_text(st, 1), "content",
                          (const char *)sqlite3_column_text(st, 2), "tool_calls", calls_json, "tool_call_id",
                          call_id != NULL ? json_string(call_id) : json_null(), "created_at", created);
        json_decref(calls_json);
        if (m == NULL || json_array_append_new(list, m) != 0) {
            oom = true;
            break;
        }
    }
    if (oom) {
        fail_memory(out, name);
    } else if (rc != SQLITE_DONE) {
        fail(c, out, name, rc);
    } else {
        out->json = dump(list, &out->json_len);
        list = NULL;
        if (out->json == NULL)
            fail_memory(out, name);
    }
    json_decref(list);
    release(st);
}

/* args: user_id, cursor micros, cursor uuid, limit (op_task_list's paging) */
static void op_conversation_list(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_CONV_LIST_FIRST].name;
    char user_id[BASE_UUID_LEN + 1], after_id[BASE_UUID_LEN + 1];
    bool has_cursor = args[1] != NULL;
    if (!uuid_canonical(args[0], user_id) || (has_cursor && !uuid_canonical(args[2], after_id))) {
        fail_invalid(out);
        return;
    }
    long long after_us = has_cursor ? strtoll(args[1], NULL, 10) : 0;
    long limit = args[3] != NULL ? strtol(args[3], NULL, 10) : 0;
    json_t *page = json_array();
    if (page == NULL) {
        fail_memory(out, name);
        return;
    }
    int rc;
    sqlite3_stmt *st = prepared(c, has_cursor ? ST_CONV_LIST_AFTER : ST_CONV_LIST_FIRST, &rc);
    if (st != NULL)
        rc = sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
    if (rc == SQLITE_OK && has_cursor)
        rc = sqlite3_bind_int64(st, 3, after_us);
    if (rc == SQLITE_OK && has_cursor)
        rc = sqlite3_bind_text(st, 4, after_id, -1, SQLITE_TRANSIENT);
    long rows = 0;
    char cursor[64] = "";
    bool oom = false;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        if (++rows > limit)
            continue;
        char created[TS_MAX], updated[TS_MAX];
        json_t *conv = NULL;
        if (format_timestamp(sqlite3_column_int64(st, 1), created) &&
            format_timestamp(sqlite3_column_int64(st, 2), updated))
            conv = json_pack("{s:s,s:s,s:s}", "id", (const char *)sqlite3_column_text(st, 0), "created_at",
                             created, "updated_at", updated);
        if (conv == NULL || json_array_append_new(page, conv) != 0) {
            oom = true;
            break;
        }
        if (rows == limit)
            snprintf(cursor, sizeof(cursor), "%lld.%s", (long long)sqlite3_column_int64(st, 1),
                     (const char *)sqlite3_column_text(st, 0));
    }
    if (oom) {
        fail_memory(out, name);
    } else if (rc != SQLITE_DONE) {
        fail(c, out, name, rc);
    } else {
        page_done(out, name, page, rows, limit, cursor);
        page = NULL;
    }
    json_decref(page);
    release(st);
}

static void op_conversation_delete(struct sqlite_conn *c, char *const *args, struct sqlite_outcome *out)
{
    const char *name = stmt_sql[ST_CONV_DELETE].name;
    char user_id[BASE_UUID_LEN + 1], conv_id[BASE_UUID_LEN + 1];
    if (!uuid_canonical(args[0], user_id) || !uuid_canonical(args[1], conv_id)) {
        fail_invalid(out);
        return;
    }
    int rc;
    sqlite3_stmt *st = stepped2(c, ST_CONV_DELETE, user_id, conv_id, &rc);
    if (rc != SQLITE_DONE)
        fail(c, out, name, rc);
    else if (sqlite3_changes(c->db) == 0)
        out->status = STORE_NOT_FOUND;
    release(st);
}

/* ---- the connection ---- */

void sqlite_conn_run(struct sqlite_conn *c, enum store_op op, char *const args[STORE_MAX_ARGS],
                     long long deadline_ms, const int *stopping, struct sqlite_outcome *out)
{
    memset(out, 0, sizeof(*out));
    out->status = STORE_OK;
    c->deadline_ms = deadline_ms;
    c->stopping = stopping;
    c->stopped = false;
    /* A transaction left open by a call whose rollback failed would swallow this one. */
    rollback_if_open(c);
    c->deadline_ms = deadline_ms;
    c->stopping = stopping;
    /* PostgreSQL refuses text that is not UTF-8 (SQLSTATE 22021) before running anything. */
    for (int i = 0; i < STORE_MAX_ARGS; i++) {
        if (args[i] != NULL && !valid_utf8(args[i])) {
            fail_invalid(out);
            return;
        }
    }
    switch (op) {
    case STORE_OP_SCHEMA_STATE:
        op_schema_state(c, out);
        break;
    case STORE_OP_OUTBOX_BACKLOG:
        op_outbox_backlog(c, out);
        break;
    case STORE_OP_USER_CREATE:
        op_user_create(c, args, out);
        break;
    case STORE_OP_USER_BY_EMAIL:
        op_user_by_email(c, args, out);
        break;
    /* Reads of a user's rows run in a read transaction: when they find nothing, the question whether
     * the user exists (nothing_found) is answered from the same snapshot. It has nothing to commit. */
    case STORE_OP_TASK_LIST:
        if (run_simple(c, out, ST_BEGIN_READ))
            op_task_list(c, args, out);
        rollback_if_open(c);
        break;
    case STORE_OP_TASK_GET:
        if (run_simple(c, out, ST_BEGIN_READ))
            op_task_get(c, args, out);
        rollback_if_open(c);
        break;
    case STORE_OP_TASK_CREATE:
    case STORE_OP_TASK_REPLACE:
    case STORE_OP_TASK_TOGGLE:
    case STORE_OP_TASK_DELETE:
        op_task_write(c, op, args, out);
        break;
    case STORE_OP_WEBHOOK_CREATE:
        op_webhook_create(c, args, out);
        break;
    case STORE_OP_WEBHOOK_LIST:
        if (run_simple(c, out, ST_BEGIN_READ))
            op_webhook_list(c, args, out);
        rollback_if_open(c);
        break;
    case STORE_OP_WEBHOOK_DELETE:
        op_webhook_delete(c, args, out);
        break;
    case STORE_OP_CONVERSATION_OPEN:
        op_conversation_open(c, args, out);
        break;
    case STORE_OP_MESSAGES_APPEND:
        op_messages_append(c, args, out);
        break;
    case STORE_OP_MESSAGES_RECENT:
        op_messages_recent(c, args, out);
        break;
    case STORE_OP_CONVERSATION_LIST:
        op_conversation_list(c, args, out);
        break;
    case STORE_OP_CONVERSATION_DELETE:
        op_conversation_delete(c, args, out);
        break;
    }
    /* Only what the status promises travels back (a 412's current version included). */
    if (out->status != STORE_OK) {
        enum store_status status = out->status;
        long long version = status == STORE_PRECONDITION_FAILED ? out->version : 0;
        sqlite_outcome_free(out);
        out->status = status;
        out->version = version;
    }
}

void sqlite_outcome_free(struct sqlite_outcome *o)
{
    free(o->row_id);
    free(o->json);
    free(o->user_id);
    free(o->password_hash);
    free(o->next_cursor);
    memset(o, 0, sizeof(*o));
}

static bool setup(struct sqlite_conn *c)
{
    struct sqlite_outcome ignored = {0};
    sqlite3_stmt *st = NULL;
    /* WAL: readers (other loops' stores) never wait for the writer; it is a property of the file. */
    int rc = sqlite3_prepare_v3(c->db, "PRAGMA journal_mode = WAL", -1, 0, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (mode == NULL || strcmp((const char *)mode, "wal") != 0)
            log_printf(LOG_WARN,
                       "the SQLite database did not switch to WAL mode; reads will wait for writes");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* foreign_keys is per connection; synchronous=NORMAL is durable across a crash of this process in
     * WAL mode (only a power loss can undo the last commits), which fits a developer's database. */
    static const char *const pragmas[] = {"PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL"};
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
        rc = sqlite3_prepare_v3(c->db, pragmas[i], -1, 0, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc != SQLITE_OK)
        fail(c, &ignored, "open", rc);
    return rc == SQLITE_OK;
}

struct sqlite_conn *sqlite_conn_open(const char *path)
{
    struct sqlite_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    /* NOMUTEX: one thread at a time uses a connection (the store's own), so SQLite's own per-
     * connection mutex would only add cost. */
    int rc =
        sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_write(LOG_ERROR, NULL, "cannot open the SQLite database (DATABASE_URL)",
                  json_pack("{s:i,s:s}", "sqlite_code", rc, "error",
                            c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc)));
        goto fail;
    }
    if (sqlite3_extended_result_codes(c->db, 1) != SQLITE_OK ||
        sqlite3_busy_handler(c->db, on_busy, c) != SQLITE_OK)
        goto fail;
    sqlite3_progress_handler(c->db, PROGRESS_OPS, on_progress, c);
    c->deadline_ms = (long long)base_now_ms() + OPEN_TIMEOUT_MS;
    if (!setup(c))
        goto fail;
    return c;
fail:
    sqlite_conn_close(c);
    return NULL;
}

void sqlite_conn_close(struct sqlite_conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < N_STMT; i++)
        sqlite3_finalize(c->stmts[i]);
    if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
        log_printf(LOG_WARN, "closing the SQLite database failed: %s", sqlite3_errmsg(c->db));
    free(c);
}
