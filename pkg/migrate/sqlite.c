/* migrate: the SQLite dialect, for `bollard dev` (migrate_sqlite in migrate.h).
 *
 * The SQLite twin set (migrations/sqlite, embedded at build time) goes through the same run as
 * `bollard migrate up`, with the same bookkeeping table, checksums and floor. SQLite's write lock
 * (BEGIN IMMEDIATE) takes the place of the advisory lock: it is taken per migration, so two dev
 * processes starting on one file serialise on it and the second finds the work done. Every
 * statement is prepared; values are bound, never pasted into SQL. */
#include "migrate/migrate.h"
#include "migrate/migrate_internal.h"
#include "migrate/sqlite_embedded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Another dev process migrating the same file holds the write lock for a few milliseconds per
 * migration; waiting this long for it is generous. */
#define BUSY_TIMEOUT_MS 10000

struct lite {
    sqlite3 *db;
    char applied_by[128];
};

static const struct migrate_texts sqlite_texts = {
    .diverged =
        "applied migration %ld (%s) is not built into this binary: the dev database's history diverged; "
        "delete the dev database file to start over",
    .changed =
        "checksum mismatch: SQLite migration %ld (%s) was changed after it was applied to the dev database; "
        "put the change in a new migration, or delete the dev database file to start over",
    .out_of_order =
        "migration %ld (%s) is pending but the dev database already has version %ld: out of order; "
        "delete the dev database file to start over",
    .too_new =
        "the dev database's compatibility floor (%ld) is above this binary's level (%ld): a newer build "
        "applied a contract migration; use that build or delete the dev database file",
    .up_to_date = "dev database is up to date; nothing to do",
    .ahead = "dev database is up to date; nothing to do",
    .applying = NULL,
    .done = "dev database migrated",
};

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

/* SQLite's message names the failing SQL or the I/O condition, never the file's path. */
static void report_db_error(const struct migrate_run *r, sqlite3 *db, const char *what)
{
    int code = sqlite3_extended_errcode(db);
    const char *hint = "";
    if ((code & 0xff) == SQLITE_FULL)
        hint = " (the disk holding the dev database is full)";
    else if ((code & 0xff) == SQLITE_IOERR)
        hint = " (I/O error on the dev database file)";
    else if ((code & 0xff) == SQLITE_CANTOPEN)
        hint = " (does the directory of the DATABASE_URL path exist and is it writable?)";
    migrate_report(r, LOG_ERROR, json_pack("{s:s,s:i}", "error", sqlite3_errmsg(db), "sqlite_code", code),
                   "%s: %s%s", what, sqlite3_errmsg(db), hint);
}

/* Runs SQL without result rows to completion (every statement of it); false (reported) on failure. */
static bool exec1(const struct migrate_run *r, sqlite3 *db, const char *sql, const char *what)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return true;
    report_db_error(r, db, what);
    return false;
}

static enum migrate_exit exec_status(struct migrate_run *r, const char *sql, const char *what)
{
    const struct lite *l = r->db;
    return exec1(r, l->db, sql, what) ? MIGRATE_EXIT_OK : MIGRATE_EXIT_FAILED;
}

static bool open_db(struct migrate_run *r, struct lite *l, const char *path)
{
    int rc = sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        if (l->db == NULL)
            migrate_report(r, LOG_ERROR, NULL, "cannot open the dev database: out of memory");
        else
            report_db_error(r, l->db, "cannot open the dev database");
        return false;
    }
    sqlite3_extended_result_codes(l->db, 1);
    if (sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return false;
    /* WAL lets the API's readers run beside its writer; it is a property of the file and sticks. */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    rc = sqlite3_prepare_v3(l->db, "PRAGMA journal_mode = WAL", -1, 0, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
    }
    rc = sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        report_db_error(r, l->db, "cannot read the dev database");
        return false;
    }
    if (!wal)
        migrate_report(r, LOG_WARN, NULL,
                       "the dev database could not switch to WAL mode; readers will wait for writers");
    return exec1(r, l->db, "PRAGMA foreign_keys = ON", "cannot enable foreign keys") &&
           exec1(r, l->db, create_table_sql, "cannot create " SCHEMA_TABLE);
}

/* The SQLite set must mirror the PostgreSQL one: readiness compares the file's level with this
 * binary's level, which is the PostgreSQL set's. The build already compares file names; this also
 * compares the kind (and so the floor each migration sets). */
static bool mirrors_postgres(const struct migrate_run *r)
{
    size_t n = migrate_sqlite_migration_count, n_pg = schema_migration_count();
    for (size_t i = 0; i < n || i < n_pg; i++) {
        const struct schema_migration *s = i < n ? &migrate_sqlite_migrations[i] : NULL;
        const struct schema_migration *p = schema_migration_at(i);
        const struct schema_migration *any = s != NULL ? s : p;
        if (s == NULL || p == NULL || s->version != p->version || strcmp(s->name, p->name) != 0 ||
            s->kind != p->kind) {
            migrate_report(
                r, LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)any->version, "name", any->name),
                "migrations/sqlite does not mirror migrations/ at version %ld (%s): every PostgreSQL "
                "migration needs a SQLite twin with the same version, name and kind",
                any->version, any->name);
            return false;
        }
    }
    return true;
}

static void copy_text(char *out, size_t cap, const unsigned char *text)
{
    snprintf(out, cap, "%s", text != NULL ? (const char *)text : "");
}

static enum migrate_exit lite_read_applied(struct migrate_run *r, struct migrate_applied **rows, size_t *n)
{
    const struct lite *l = r->db;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = sqlite3_prepare_v3(
        l->db,
        "SELECT version, name, kind, checksum, floor, applied_at, duration_ms FROM " SCHEMA_TABLE
        " ORDER BY version",
        -1, 0, &st, NULL);
    while ((rc == SQLITE_OK || rc == SQLITE_ROW) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct migrate_applied *grown = realloc(*rows, ncap * sizeof(*grown));
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            *rows = grown;
            cap = ncap;
        }
        struct migrate_applied *a = &(*rows)[(*n)++];
        a->version = (long)sqlite3_column_int64(st, 0);
        copy_text(a->name, sizeof(a->name), sqlite3_column_text(st, 1));
        copy_text(a->kind, sizeof(a->kind), sqlite3_column_text(st, 2));
        copy_text(a->checksum, sizeof(a->checksum), sqlite3_column_text(st, 3));
        a->floor = (long)sqlite3_column_int64(st, 4);
        copy_text(a->applied_at, sizeof(a->applied_at), sqlite3_column_text(st, 5));
        a->duration_ms = sqlite3_column_double(st, 6);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return MIGRATE_EXIT_OK;
    if (rc == SQLITE_NOMEM)
        migrate_report(r, LOG_ERROR, NULL, "cannot read " SCHEMA_TABLE ": out of memory");
    else
        report_db_error(r, l->db, "cannot read " SCHEMA_TABLE);
    return MIGRATE_EXIT_FAILED;
}

static enum migrate_exit lite_begin(struct migrate_run *r)
{
    return exec_status(r, "BEGIN IMMEDIATE", "cannot lock the dev database");
}

static enum migrate_exit lite_run_script(struct migrate_run *r, const struct schema_migration *m)
{
    const struct lite *l = r->db;
    if (!exec1(r, l->db, m->sql, "migration failed"))
        return MIGRATE_EXIT_FAILED;
    if (sqlite3_get_autocommit(l->db)) {
        migrate_report(
            r, LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
            "migration %ld (%s) ended its own transaction (BEGIN/COMMIT in the file); not recorded",
            m->version, m->name);
        return MIGRATE_EXIT_FAILED;
    }
    return MIGRATE_EXIT_OK;
}

static enum migrate_exit lite_record(struct migrate_run *r, const struct schema_migration *m, long floor,
                                     double duration_ms)
{
    const struct lite *l = r->db;
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v3(l->db,
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
        rc = sqlite3_bind_text(st, 7, l->applied_by, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        report_db_error(r, l->db, "cannot record the migration");
        return MIGRATE_EXIT_FAILED;
    }
    return MIGRATE_EXIT_OK;
}

static enum migrate_exit lite_commit(struct migrate_run *r, const struct schema_migration *m)
{
    (void)m;
    return exec_status(r, "COMMIT", "cannot commit the migration");
}

static void lite_rollback(struct migrate_run *r)
{
    const struct lite *l = r->db;
    if (!sqlite3_get_autocommit(l->db))
        (void)exec1(r, l->db, "ROLLBACK", "cannot roll back");
}

static const struct migrate_dialect sqlite_dialect = {
    .texts = &sqlite_texts,
    .read_applied = lite_read_applied,
    .lock = NULL, /* BEGIN IMMEDIATE of each migration */
    .begin = lite_begin,
    .run_script = lite_run_script,
    .record = lite_record,
    .commit = lite_commit,
    .rollback = lite_rollback,
};

enum migrate_exit migrate_sqlite(const char *path)
{
    struct lite l = {0};
    struct migrate_run r;
    enum migrate_exit rc = MIGRATE_EXIT_FAILED;
    migrate_runner_name("bollard-dev", l.applied_by, sizeof(l.applied_by));
    if (!migrate_run_init(&r, &sqlite_dialect, &l, MIGRATE_MODE_UP, migrate_sqlite_migrations,
                          migrate_sqlite_migration_count))
        goto cleanup;
    if (mirrors_postgres(&r) && open_db(&r, &l, path))
        rc = migrate_run_up(&r);
cleanup:
    if (l.db != NULL && sqlite3_close(l.db) != SQLITE_OK)
        migrate_report(&r, LOG_WARN, NULL, "closing the dev database failed");
    migrate_run_free(&r);
    return rc;
}
