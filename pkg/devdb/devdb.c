/* devdb: applies the SQLite migrations of `bollard dev` (see devdb.h).
 *
 * The same run as `bollard migrate up` on PostgreSQL, on SQLite's terms: read the bookkeeping table,
 * verify every applied migration against this binary (checksum, diverged history, floor), then apply
 * each pending one in its own transaction together with its bookkeeping row. SQLite's write lock
 * (BEGIN IMMEDIATE) takes the place of the advisory lock: two dev processes starting on one file
 * serialise on it, and the second finds the work done. Every statement is prepared; values are
 * bound, never pasted into SQL. */
#include "devdb/devdb.h"
#include "devdb/embedded.h"
#include "log/log.h"
#include "schema/schema.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* Another dev process migrating the same file holds the write lock for a few milliseconds per
 * migration; waiting this long for it is generous. */
#define BUSY_TIMEOUT_MS 10000

static const char create_table_sql[] =
    "CREATE TABLE IF NOT EXISTS " SCHEMA_TABLE " ("
    " version integer PRIMARY KEY CHECK (version > 0),"
    " name text NOT NULL,"
    " kind text NOT NULL CHECK (kind IN ('expand', 'contract')),"
    " checksum text NOT NULL CHECK (length(checksum) = 64 AND checksum NOT GLOB '*[^0-9a-f]*'),"
    " floor integer NOT NULL CHECK (floor >= 0 AND floor <= version),"
    " applied_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    " duration_ms real NOT NULL,"
    " applied_by text NOT NULL) STRICT";

struct applied {
    long version;
    char name[SCHEMA_NAME_MAX];
    char checksum[SCHEMA_SHA256_HEX_LEN + 1];
    long floor;
};

struct runner {
    sqlite3 *db;
    struct applied *applied; /* ascending by version */
    size_t n_applied;
    long db_version;
    long db_floor;
    size_t *pending; /* indexes into devdb_sqlite_migrations, ascending */
    size_t n_pending;
};

static void report(enum log_level level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(enum log_level level, json_t *fields, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    log_write(level, NULL, msg, fields);
}

/* SQLite's message names the failing SQL or the I/O condition, never the file's path. */
static void report_db_error(const struct runner *r, const char *what)
{
    int code = sqlite3_extended_errcode(r->db);
    const char *hint = "";
    if ((code & 0xff) == SQLITE_FULL)
        hint = " (the disk holding the dev database is full)";
    else if ((code & 0xff) == SQLITE_IOERR)
        hint = " (I/O error on the dev database file)";
    else if ((code & 0xff) == SQLITE_CANTOPEN)
        hint = " (does the directory of the DATABASE_URL path exist and is it writable?)";
    report(LOG_ERROR, json_pack("{s:s,s:i}", "error", sqlite3_errmsg(r->db), "sqlite_code", code), "%s: %s%s",
           what, sqlite3_errmsg(r->db), hint);
}

static double now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Runs one parameterless statement to completion; false (reported) on failure. */
static bool exec1(struct runner *r, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(r->db, sql, -1, 0, &st, NULL);
    if (rc == SQLITE_OK) {
        do
            rc = sqlite3_step(st);
        while (rc == SQLITE_ROW);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        report_db_error(r, what);
        return false;
    }
    return true;
}

static void rollback(struct runner *r)
{
    if (!sqlite3_get_autocommit(r->db))
        (void)exec1(r, "ROLLBACK", "cannot roll back");
}

static bool open_db(struct runner *r, const char *path)
{
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        if (r->db == NULL) {
            report(LOG_ERROR, NULL, "cannot open the dev database: out of memory");
            return false;
        }
        report_db_error(r, "cannot open the dev database");
        return false;
    }
    sqlite3_extended_result_codes(r->db, 1);
    if (sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return false;
    /* WAL lets the API's readers run beside its writer; it is a property of the file and sticks. */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    rc = sqlite3_prepare_v3(r->db, "PRAGMA journal_mode = WAL", -1, 0, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
    }
    rc = sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        report_db_error(r, "cannot read the dev database");
        return false;
    }
    if (!wal)
        report(LOG_WARN, NULL,
               "the dev database could not switch to WAL mode; readers will wait for writers");
    return exec1(r, "PRAGMA foreign_keys = ON", "cannot enable foreign keys");
}

/* The SQLite set must mirror the PostgreSQL one: readiness compares the file's level with this
 * binary's level, which is the PostgreSQL set's. The build already compares file names; this also
 * compares the kind (and so the floor each migration sets). */
static bool mirrors_postgres(void)
{
    size_t n = devdb_sqlite_migration_count, n_pg = schema_migration_count();
    for (size_t i = 0; i < n || i < n_pg; i++) {
        const struct schema_migration *s = i < n ? &devdb_sqlite_migrations[i] : NULL;
        const struct schema_migration *p = schema_migration_at(i);
        const struct schema_migration *any = s != NULL ? s : p;
        if (s == NULL || p == NULL || s->version != p->version || strcmp(s->name, p->name) != 0 ||
            s->kind != p->kind) {
            report(LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)any->version, "name", any->name),
                   "migrations/sqlite does not mirror migrations/ at version %ld (%s): every PostgreSQL "
                   "migration needs a SQLite twin with the same version, name and kind",
                   any->version, any->name);
            return false;
        }
    }
    return true;
}

static int read_applied(struct runner *r)
{
    free(r->applied);
    r->applied = NULL;
    r->n_applied = 0;
    r->db_version = 0;
    r->db_floor = 0;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = sqlite3_prepare_v3(
        r->db, "SELECT version, name, checksum, floor FROM " SCHEMA_TABLE " ORDER BY version", -1, 0, &st,
        NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_applied == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct applied *grown = realloc(r->applied, ncap * sizeof(*grown));
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            r->applied = grown;
            cap = ncap;
        }
        struct applied *a = &r->applied[r->n_applied++];
        const unsigned char *name = sqlite3_column_text(st, 1);
        const unsigned char *checksum = sqlite3_column_text(st, 2);
        a->version = (long)sqlite3_column_int64(st, 0);
        snprintf(a->name, sizeof(a->name), "%s", name != NULL ? (const char *)name : "");
        snprintf(a->checksum, sizeof(a->checksum), "%s", checksum != NULL ? (const char *)checksum : "");
        a->floor = (long)sqlite3_column_int64(st, 3);
        if (a->floor > r->db_floor)
            r->db_floor = a->floor;
        r->db_version = a->version;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_NOMEM)
            report(LOG_ERROR, NULL, "cannot read " SCHEMA_TABLE ": out of memory");
        else
            report_db_error(r, "cannot read " SCHEMA_TABLE);
        return DEVDB_FAILED;
    }
    return DEVDB_OK;
}

static const struct schema_migration *find_embedded(long version)
{
    for (size_t i = 0; i < devdb_sqlite_migration_count; i++)
        if (devdb_sqlite_migrations[i].version == version)
            return &devdb_sqlite_migrations[i];
    return NULL;
}

static bool is_applied(const struct runner *r, long version)
{
    for (size_t i = 0; i < r->n_applied; i++)
        if (r->applied[i].version == version)
            return true;
    return false;
}

/* Compares the file's history with this binary's and fills r->pending (the rules of pkg/migrate). */
static int analyze(struct runner *r)
{
    int rc = DEVDB_OK;
    long level = schema_binary_level();
    for (size_t i = 0; i < r->n_applied; i++) {
        const struct applied *a = &r->applied[i];
        const struct schema_migration *m = find_embedded(a->version);
        if (m == NULL) {
            /* Above this binary's level it is the rollback case, judged by the floor below. */
            if (a->version <= level) {
                report(LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)a->version, "name", a->name),
                       "applied migration %ld (%s) is not built into this binary: the dev database's history "
                       "diverged; delete the dev database file to start over",
                       a->version, a->name);
                rc = DEVDB_CHECKSUM;
            }
            continue;
        }
        if (strcmp(a->checksum, m->checksum) != 0 || strcmp(a->name, m->name) != 0) {
            report(
                LOG_ERROR,
                json_pack("{s:I,s:s,s:s,s:s}", "version", (json_int_t)a->version, "name", m->name,
                          "checksum_applied", a->checksum, "checksum_binary", m->checksum),
                "checksum mismatch: SQLite migration %ld (%s) was changed after it was applied to the dev "
                "database; put the change in a new migration, or delete the dev database file to start over",
                a->version, m->name);
            rc = DEVDB_CHECKSUM;
        }
    }
    r->n_pending = 0;
    for (size_t i = 0; i < devdb_sqlite_migration_count; i++) {
        const struct schema_migration *m = &devdb_sqlite_migrations[i];
        if (is_applied(r, m->version))
            continue;
        if (m->version < r->db_version) {
            report(
                LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                "migration %ld (%s) is pending but the dev database already has version %ld: out of order; "
                "delete the dev database file to start over",
                m->version, m->name, r->db_version);
            rc = DEVDB_CHECKSUM;
            continue;
        }
        r->pending[r->n_pending++] = i;
    }
    if (rc == DEVDB_OK && r->db_floor > level) {
        report(LOG_ERROR,
               json_pack("{s:I,s:I,s:I}", "db_version", (json_int_t)r->db_version, "db_floor",
                         (json_int_t)r->db_floor, "binary_level", (json_int_t)level),
               "the dev database's compatibility floor (%ld) is above this binary's level (%ld): a newer "
               "build applied a contract migration; use that build or delete the dev database file",
               r->db_floor, level);
        rc = DEVDB_INCOMPATIBLE;
    }
    return rc;
}

/* Runs a migration's statements one by one (prepared in turn, as sqlite3_exec would, but with
 * every failure reported). */
static bool run_script(struct runner *r, const struct schema_migration *m)
{
    const char *p = m->sql, *end = m->sql + m->sql_len;
    while (p < end) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v3(r->db, p, (int)(end - p), 0, &st, &tail);
        if (rc != SQLITE_OK) {
            report_db_error(r, "migration failed");
            return false;
        }
        if (st == NULL) { /* only whitespace or comments left */
            if (tail == NULL || tail <= p)
                break;
            p = tail;
            continue;
        }
        do
            rc = sqlite3_step(st);
        while (rc == SQLITE_ROW);
        if (rc != SQLITE_DONE) {
            report_db_error(r, "migration failed");
            sqlite3_finalize(st);
            return false;
        }
        sqlite3_finalize(st);
        p = tail;
    }
    return true;
}

static void applied_by(char *out, size_t cap)
{
    char host[64];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown-host");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, cap, "bollard-dev %.30s pid %ld", host, (long)getpid());
}

/* Under the write lock: the floor now, and whether another process applied `version` meanwhile. */
static bool locked_state(struct runner *r, long version, long *floor, bool *already)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(
        r->db, "SELECT coalesce(max(floor), 0), coalesce(max(version = ?1), 0) FROM " SCHEMA_TABLE, -1, 0,
        &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *floor = (long)sqlite3_column_int64(st, 0);
        *already = sqlite3_column_int64(st, 1) != 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        report_db_error(r, "cannot read " SCHEMA_TABLE);
        return false;
    }
    return true;
}

static bool record(struct runner *r, const struct schema_migration *m, long floor, double duration_ms)
{
    char by[128];
    applied_by(by, sizeof(by));
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v3(r->db,
                           "INSERT INTO " SCHEMA_TABLE " (version, name, kind, checksum, floor, duration_ms, "
                           "applied_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, 0, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, m->version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, schema_kind_name(m->kind), -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 4, m->checksum, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, floor);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, 6, duration_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 7, by, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        report_db_error(r, "cannot record the migration");
        return false;
    }
    return true;
}

/* One migration and its bookkeeping row in one transaction: applied and recorded, or neither. */
static int apply_one(struct runner *r, const struct schema_migration *m, bool *skipped)
{
    *skipped = false;
    if (!exec1(r, "BEGIN IMMEDIATE", "cannot lock the dev database"))
        return DEVDB_FAILED;
    long floor = 0;
    bool already = false;
    if (!locked_state(r, m->version, &floor, &already))
        goto fail;
    if (already) {
        *skipped = true;
        return exec1(r, "COMMIT", "cannot end the transaction") ? DEVDB_OK : DEVDB_FAILED;
    }
    double started = now_ms();
    if (!run_script(r, m))
        goto fail;
    if (sqlite3_get_autocommit(r->db)) {
        report(LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
               "migration %ld (%s) ended its own transaction (BEGIN/COMMIT in the file); not recorded",
               m->version, m->name);
        return DEVDB_FAILED;
    }
    long new_floor = schema_floor_after(floor, m);
    double duration_ms = now_ms() - started;
    if (!record(r, m, new_floor, duration_ms))
        goto fail;
    if (!exec1(r, "COMMIT", "cannot commit the migration"))
        goto fail;
    report(LOG_INFO,
           json_pack("{s:I,s:s,s:s,s:f,s:I}", "version", (json_int_t)m->version, "name", m->name, "kind",
                     schema_kind_name(m->kind), "duration_ms", duration_ms, "floor", (json_int_t)new_floor),
           "applied migration %ld (%s)", m->version, m->name);
    return DEVDB_OK;
fail:
    rollback(r);
    return DEVDB_FAILED;
}

enum devdb_status devdb_migrate(const char *path)
{
    struct runner r = {0};
    int rc = DEVDB_FAILED;
    if (!mirrors_postgres())
        return DEVDB_FAILED;
    r.pending = calloc(devdb_sqlite_migration_count + 1, sizeof(*r.pending));
    if (r.pending == NULL)
        goto cleanup;
    if (!open_db(&r, path))
        goto cleanup;
    if (!exec1(&r, create_table_sql, "cannot create " SCHEMA_TABLE))
        goto cleanup;
    rc = read_applied(&r);
    if (rc == DEVDB_OK)
        rc = analyze(&r);
    if (rc != DEVDB_OK)
        goto cleanup;
    size_t applied = 0;
    for (size_t i = 0; i < r.n_pending; i++) {
        bool skipped = false;
        rc = apply_one(&r, &devdb_sqlite_migrations[r.pending[i]], &skipped);
        if (rc != DEVDB_OK)
            goto cleanup;
        applied += skipped ? 0 : 1;
    }
    rc = read_applied(&r);
    if (rc != DEVDB_OK)
        goto cleanup;
    report(LOG_INFO,
           json_pack("{s:i,s:I,s:I,s:I}", "applied", (int)applied, "db_version", (json_int_t)r.db_version,
                     "db_floor", (json_int_t)r.db_floor, "binary_level", (json_int_t)schema_binary_level()),
           applied > 0 ? "dev database migrated" : "dev database is up to date; nothing to do");
cleanup:
    if (r.db != NULL && sqlite3_close(r.db) != SQLITE_OK)
        report(LOG_WARN, NULL, "closing the dev database failed");
    free(r.applied);
    free(r.pending);
    return (enum devdb_status)rc;
}
