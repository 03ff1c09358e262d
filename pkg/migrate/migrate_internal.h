/* Internal to pkg/migrate: the migration run written once (migrate.c) over a small per-dialect
 * interface — PostgreSQL for `bollard migrate` (pg.c: libpq, advisory lock) and SQLite for
 * `bollard dev` (sqlite.c: BEGIN IMMEDIATE is the lock). */
#ifndef BOLLARD_MIGRATE_INTERNAL_H
#define BOLLARD_MIGRATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "log/log.h"
#include "migrate/migrate.h"
#include "schema/schema.h"

enum migrate_mode { MIGRATE_MODE_UP, MIGRATE_MODE_STATUS, MIGRATE_MODE_PLAN };

/* One row of the bookkeeping table (SCHEMA_TABLE). */
struct migrate_applied {
    long version;
    char name[SCHEMA_NAME_MAX];
    char kind[16];
    char checksum[SCHEMA_SHA256_HEX_LEN + 1];
    long floor;
    char applied_at[40]; /* UTC, ISO 8601 with milliseconds */
    double duration_ms;
};

/* The dialect's wording of each finding: the rule is one, the advice differs (a production database
 * is never deleted, a dev file may be). printf formats; each consumes a prefix of the arguments
 * listed, so a text may leave trailing ones out. */
struct migrate_texts {
    const char *diverged;     /* (long version, const char *name) */
    const char *changed;      /* (long version, const char *name, const char *sum_db, const char *sum_bin) */
    const char *out_of_order; /* (long version, const char *name, long db_version) */
    const char *too_new; /* (long db_floor, long level); NULL: "incompatible database: <schema's reason>" */
    const char *up_to_date; /* nothing pending */
    const char *ahead;      /* nothing pending, the database is ahead and compatible */
    const char *applying;   /* (long version, const char *name); NULL: not reported */
    const char *done;       /* after the last migration */
};

struct migrate_run;

/* Every hook returns an exit code of enum migrate_exit and reports its own failures. Hooks between
 * begin and commit may leave the transaction open on failure: the run then calls rollback. */
struct migrate_dialect {
    const struct migrate_texts *texts;
    /* The bookkeeping rows ascending by version into a malloc'ed array (*rows NULL when there are
     * none); a missing table is no rows. */
    enum migrate_exit (*read_applied)(struct migrate_run *r, struct migrate_applied **rows, size_t *n);
    /* Serialises runners for the whole run (then the run reads the rows again under it); NULL when
     * each migration's transaction is the lock (then the run reads the rows again after begin). */
    enum migrate_exit (*lock)(struct migrate_run *r);
    enum migrate_exit (*begin)(struct migrate_run *r);
    /* Runs the migration's SQL; fails (reported) also when the file ended the transaction itself. */
    enum migrate_exit (*run_script)(struct migrate_run *r, const struct schema_migration *m);
    enum migrate_exit (*record)(struct migrate_run *r, const struct schema_migration *m, long floor,
                                double duration_ms);
    enum migrate_exit (*commit)(struct migrate_run *r, const struct schema_migration *m);
    void (*rollback)(struct migrate_run *r);
};

struct migrate_run {
    const struct migrate_dialect *d;
    void *db; /* the dialect's connection */
    enum migrate_mode mode;
    enum schema_phase phase;                   /* up/plan --phase (SQLite: always all) */
    bool json;                                 /* status --json */
    const struct schema_migration *migrations; /* this dialect's set, ascending by version */
    size_t n_migrations;
    struct migrate_applied *applied;
    size_t n_applied;
    long db_version;
    long db_floor;
    size_t *pending; /* indexes into migrations, ascending */
    size_t n_pending;
    size_t n_expand_phase; /* pending[0..n_expand_phase) belong to the expand phase, the rest to contract */
    /* The first error reported (migrate_report), what a failure alert says (pkg/alert); the buffer
     * is the caller's, NULL = not kept. */
    char *first_error;
    size_t first_error_cap;
};

/* Sets up a run of `mode` over `d` and `db`; false when out of memory. */
bool migrate_run_init(struct migrate_run *r, const struct migrate_dialect *d, void *db,
                      enum migrate_mode mode, const struct schema_migration *migrations, size_t n_migrations);
void migrate_run_free(struct migrate_run *r);
/* `up`: verify, then apply each pending migration in its own transaction with its bookkeeping row. */
enum migrate_exit migrate_run_up(struct migrate_run *r);
/* `status` (table of applied and pending, compatibility) or `plan` (the pending SQL) on stdout. */
enum migrate_exit migrate_run_read_only(struct migrate_run *r);

/* `up` reports JSON log lines (it runs as a Job, or inside `bollard dev`); status/plan are for
 * people, so their problems go to stderr as plain lines and stdout keeps only the output. */
void migrate_report(const struct migrate_run *r, enum log_level level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "<tool> <host> pid <pid>": names the runner in applied_by (and PostgreSQL's application_name). */
void migrate_runner_name(const char *tool, char *out, size_t cap);

#endif
