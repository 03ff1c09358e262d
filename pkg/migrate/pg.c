/* migrate: the PostgreSQL dialect and `bollard migrate [up|status|plan]`.
 *
 * Connect (retrying for MIGRATE_CONNECT_TIMEOUT_SECONDS), then the run of migrate.c. The lock is a
 * session advisory lock (bounded by MIGRATE_LOCK_TIMEOUT_SECONDS) held for the whole run; every
 * statement is bounded by MIGRATE_STATEMENT_TIMEOUT_SECONDS; SIGTERM/SIGINT cancel the running
 * statement and roll the current migration back. */
#include "migrate/migrate.h"
#include "migrate/migrate_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "alert/alert.h"
#include "base/base.h"
#include "kube/kube.h"

/* Session advisory lock key ("bollard" in ASCII). Advisory locks are per database. */
#define MIGRATE_LOCK_KEY 0x626f6c6c617264LL
/* Table-lock waits of a migration's DDL are kept short so that application queries queued behind
 * the DDL are not stalled for long; a migration that times out on them is retried (whole
 * transaction) until MIGRATE_LOCK_TIMEOUT_SECONDS have passed. */
#define DDL_LOCK_TIMEOUT_MS    5000
#define CONNECT_BACKOFF_MIN_MS 100
#define CONNECT_BACKOFF_MAX_MS 2000
/* Also the longest gap between two progress lines while the database is not reachable. */
#define CONNECT_ATTEMPT_MAX_S    5
#define ROLLOUT_POLL_MS          2000
#define ROLLOUT_WAIT_DEFAULT_S   180
#define MIGRATE_WAIT_ROLLOUT_MAX 4 /* --wait-rollout given at most this often (the texts say 4) */
_Static_assert(MIGRATE_WAIT_ROLLOUT_MAX == 4, "the usage texts name the bound");
#define CONNECT_SAY_EVERY_MS 2000 /* status/plan: a waiting line at most this often */
#define DDL_RETRY_BACKOFF_MS 500
#define SQL_MAX              1024
#define TEXT_MAX             512

#define SQLSTATE_UNDEFINED_TABLE "42P01"
#define SQLSTATE_LOCK_NOT_AVAIL  "55P03"

/* Set by the SIGTERM/SIGINT handler; the handler also cancels the running query through
 * active_cancel (PQcancel is async-signal-safe). */
static volatile sig_atomic_t interrupted;
static PGcancel *volatile active_cancel;

struct pg {
    const struct config *cfg;
    PGconn *conn;
    bool locked;
    char appname[64];
};

static const struct migrate_texts pg_texts = {
    .diverged = "applied migration %ld (%s) is not built into this binary: the migration history diverged; "
                "refusing to run",
    .changed =
        "checksum mismatch: migration %ld (%s) was changed after it was applied (database %.12s..., this "
        "binary %.12s...); restore the applied file and put the change in a new migration; refusing to run",
    .out_of_order =
        "migration %ld (%s) is pending but the database already has version %ld: out of order, the "
        "migration history diverged; refusing to run",
    .too_new = NULL,
    .up_to_date = "database is up to date; nothing to do",
    .ahead = "database is ahead of this binary and compatible with it; nothing to do",
    .applying = "applying migration %ld (%s)",
    .done = "migrations applied",
};

static enum migrate_exit failed(void)
{
    return interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
}

static const char *sqlstate_of(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

/* false when interrupted by SIGTERM/SIGINT */
static bool sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return !interrupted;
}

/* ---- signals */

static void on_signal(int sig)
{
    (void)sig;
    int saved_errno = errno;
    if (interrupted)
        _exit(MIGRATE_EXIT_INTERRUPTED); /* a second signal: stop waiting for the rollback */
    interrupted = 1;
    PGcancel *cancel = active_cancel;
    if (cancel != NULL) {
        char errbuf[256];
        (void)PQcancel(cancel, errbuf, sizeof(errbuf));
    }
    errno = saved_errno;
}

/* Swaps the cancel object with the signals blocked, so the handler never sees a freed one. */
static void set_active_cancel(PGconn *conn)
{
    PGcancel *next = conn != NULL ? PQgetCancel(conn) : NULL;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    PGcancel *prev = active_cancel;
    active_cancel = next;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (prev != NULL)
        PQfreeCancel(prev);
}

static bool install_signals(struct sigaction *old_term, struct sigaction *old_int)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps and waits return at once */
    interrupted = 0;
    return sigaction(SIGTERM, &sa, old_term) == 0 && sigaction(SIGINT, &sa, old_int) == 0;
}

/* ---- connection */

/* Server notices (e.g. "relation already exists, skipping") would otherwise go to stderr raw. */
static void on_notice(void *arg, const PGresult *res)
{
    const struct migrate_run *r = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    bool warning = severity != NULL && strcmp(severity, "WARNING") == 0;
    char text[TEXT_MAX];
    base_one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), text, sizeof(text));
    migrate_report(r, warning ? LOG_WARN : LOG_DEBUG,
                   json_pack("{s:s}", "severity", severity != NULL ? severity : "?"), "postgres: %s", text);
}

static enum migrate_exit connect_with_retry(struct migrate_run *r)
{
    struct pg *pg = r->db;
    const struct config *cfg = pg->cfg;
    /* The read-only commands answer a person at a terminal: they give up sooner by default. */
    bool read_only = r->mode != MIGRATE_MODE_UP;
    int timeout_s =
        read_only ? cfg->migrate_status_connect_timeout_seconds : cfg->migrate_connect_timeout_seconds;
    const char *timeout_var =
        read_only ? "MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS" : "MIGRATE_CONNECT_TIMEOUT_SECONDS";
    uint64_t started = base_now_ms(), last_said = 0;
    uint64_t deadline = started + (uint64_t)timeout_s * 1000;
    long backoff = CONNECT_BACKOFF_MIN_MS;
    for (int attempt = 1;; attempt++) {
        if (interrupted)
            return MIGRATE_EXIT_INTERRUPTED;
        uint64_t now = base_now_ms();
        long attempt_s = now < deadline ? (long)((deadline - now) / 1000) + 1 : 1;
        if (attempt_s > CONNECT_ATTEMPT_MAX_S)
            attempt_s = CONNECT_ATTEMPT_MAX_S;
        char timeout_text[24];
        snprintf(timeout_text, sizeof(timeout_text), "%ld", attempt_s);
        /* expand_dbname: the URL is the connection string; application_name only when it sets
         * none itself. MIGRATE_DATABASE_URL, when given, goes past a transaction pooler: the run
         * holds a session advisory lock and session settings. */
        const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
        const char *url = cfg->migrate_database_url != NULL ? cfg->migrate_database_url : cfg->database_url;
        const char *values[] = {url, pg->appname, timeout_text, NULL};
        PGconn *conn = PQconnectdbParams(keys, values, 1);
        if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
            pg->conn = conn;
            PQsetNoticeReceiver(conn, on_notice, r);
            set_active_cancel(conn);
            if (attempt > 1)
                migrate_report(r, LOG_INFO, json_pack("{s:i}", "attempts", attempt), "database reachable");
            return MIGRATE_EXIT_OK;
        }
        char why[TEXT_MAX];
        base_one_line(conn != NULL ? PQerrorMessage(conn) : "out of memory", why, sizeof(why));
        PQfinish(conn);
        uint64_t now_ms = base_now_ms();
        if (now_ms + (uint64_t)backoff >= deadline) {
            migrate_report(r, LOG_ERROR, json_pack("{s:i,s:s}", "attempts", attempt, "error", why),
                           "database not reachable within %s=%d: %s", timeout_var, timeout_s, why);
            return MIGRATE_EXIT_UNREACHABLE;
        }
        /* libpq's message names host and port, never the password. `up` logs every attempt (JSON);
         * status and plan, whose stdout is their answer, say it on stderr every few seconds. */
        migrate_report(r, LOG_INFO,
                       json_pack("{s:i,s:s,s:i,s:I}", "attempt", attempt, "error", why, "retry_in_ms",
                                 (int)backoff, "elapsed_ms", (json_int_t)(now_ms - started)),
                       "database not reachable yet; retrying");
        if (read_only && (last_said == 0 || now_ms - last_said >= CONNECT_SAY_EVERY_MS)) {
            fprintf(stderr, "bollard migrate: waiting for the database (attempt %d, %.1f s of %d s): %s\n",
                    attempt, (double)(now_ms - started) / 1000.0, timeout_s, why);
            last_said = now_ms;
        }
        if (!sleep_ms(backoff))
            return MIGRATE_EXIT_INTERRUPTED;
        backoff = backoff * 2 > CONNECT_BACKOFF_MAX_MS ? CONNECT_BACKOFF_MAX_MS : backoff * 2;
    }
}

static void report_db_error(const struct migrate_run *r, const char *what, const PGresult *res)
{
    const struct pg *pg = r->db;
    char why[TEXT_MAX];
    base_one_line(res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn), why, sizeof(why));
    if (why[0] == '\0')
        base_one_line(PQerrorMessage(pg->conn), why, sizeof(why));
    migrate_report(r, LOG_ERROR, json_pack("{s:s,s:s}", "sqlstate", sqlstate_of(res), "error", why), "%s: %s",
                   what, why);
}

/* Runs a statement without result rows; false (reported) on failure. */
static bool command(struct migrate_run *r, const char *sql, const char *what)
{
    struct pg *pg = r->db;
    PGresult *res = PQexec(pg->conn, sql);
    bool ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        report_db_error(r, what, res);
    PQclear(res);
    return ok;
}

/* ---- the bookkeeping table */

static const char create_table_sql[] = "CREATE TABLE IF NOT EXISTS " SCHEMA_TABLE " ("
                                       " version bigint PRIMARY KEY CHECK (version > 0),"
                                       " name text NOT NULL,"
                                       " kind text NOT NULL CHECK (kind IN ('expand', 'contract')),"
                                       " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
                                       " floor bigint NOT NULL CHECK (floor >= 0 AND floor <= version),"
                                       " applied_at timestamptz NOT NULL DEFAULT now(),"
                                       " duration_ms double precision NOT NULL,"
                                       " applied_by text NOT NULL)";

static const char select_applied_sql[] =
    "SELECT version, name, kind, checksum, floor,"
    " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), duration_ms"
    " FROM " SCHEMA_TABLE " ORDER BY version";

static enum migrate_exit pg_read_applied(struct migrate_run *r, struct migrate_applied **rows, size_t *n)
{
    struct pg *pg = r->db;
    PGresult *res = PQexec(pg->conn, select_applied_sql);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        bool missing = strcmp(sqlstate_of(res), SQLSTATE_UNDEFINED_TABLE) == 0;
        enum migrate_exit rc = missing ? MIGRATE_EXIT_OK : failed();
        if (!missing && !interrupted)
            report_db_error(r, "cannot read " SCHEMA_TABLE, res);
        PQclear(res);
        /* A failed statement outside a transaction leaves the session usable. */
        return rc;
    }
    size_t count = (size_t)PQntuples(res);
    *rows = count > 0 ? calloc(count, sizeof(**rows)) : NULL;
    if (count > 0 && *rows == NULL) {
        PQclear(res);
        migrate_report(r, LOG_ERROR, NULL, "cannot read " SCHEMA_TABLE ": out of memory");
        return MIGRATE_EXIT_FAILED;
    }
    for (size_t i = 0; i < count; i++) {
        struct migrate_applied *a = &(*rows)[i];
        int row = (int)i;
        a->version = strtol(PQgetvalue(res, row, 0), NULL, 10);
        snprintf(a->name, sizeof(a->name), "%s", PQgetvalue(res, row, 1));
        snprintf(a->kind, sizeof(a->kind), "%s", PQgetvalue(res, row, 2));
        snprintf(a->checksum, sizeof(a->checksum), "%s", PQgetvalue(res, row, 3));
        a->floor = strtol(PQgetvalue(res, row, 4), NULL, 10);
        snprintf(a->applied_at, sizeof(a->applied_at), "%s", PQgetvalue(res, row, 5));
        a->duration_ms = strtod(PQgetvalue(res, row, 6), NULL);
    }
    *n = count;
    PQclear(res);
    return MIGRATE_EXIT_OK;
}

/* ---- the lock */

static void lock_key_parts(unsigned *hi, unsigned *lo)
{
    *hi = (unsigned)((unsigned long long)MIGRATE_LOCK_KEY >> 32);
    *lo = (unsigned)((unsigned long long)MIGRATE_LOCK_KEY & 0xffffffffULL);
}

/* Names the session holding the lock, for the operator (pid, application, user, address, age). */
static void describe_holder(struct migrate_run *r, char *out, size_t cap)
{
    struct pg *pg = r->db;
    unsigned hi, lo;
    lock_key_parts(&hi, &lo);
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql),
             "SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(a.usename::text, '?'),"
             " coalesce(host(a.client_addr), 'local socket'),"
             " coalesce(extract(epoch FROM now() - a.backend_start)::bigint, 0),"
             " coalesce(a.state, '?')"
             " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
             " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %u AND l.objid = %u"
             " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = "
             "current_database())",
             hi, lo);
    PGresult *res = PQexec(pg->conn, sql);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        snprintf(out, cap, "pid %s (application \"%s\", user %s, from %s, connected %s s ago, %s)",
                 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                 PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
    } else {
        snprintf(out, cap, "a session this user cannot see (or one that just released it)");
    }
    PQclear(res);
}

static enum migrate_exit take_lock(struct migrate_run *r)
{
    struct pg *pg = r->db;
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
    PGresult *res = PQexec(pg->conn, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        enum migrate_exit rc = failed();
        report_db_error(r, "cannot take the migration lock", res);
        PQclear(res);
        return rc;
    }
    bool got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got) {
        pg->locked = true;
        return MIGRATE_EXIT_OK;
    }

    char holder[TEXT_MAX];
    describe_holder(r, holder, sizeof(holder));
    int wait_s = pg->cfg->migrate_lock_timeout_seconds;
    migrate_report(r, LOG_INFO, json_pack("{s:s,s:i}", "holder", holder, "timeout_s", wait_s),
                   "another migration runner holds the lock: %s; waiting up to %d s", holder, wait_s);
    /* The server bounds the wait (lock_timeout applies to advisory locks), so nothing is left
     * waiting in the database when we give up. statement_timeout is lifted for the wait so that
     * only lock_timeout decides when to give up. */
    snprintf(sql, sizeof(sql), "SET lock_timeout = '%ds'; SET statement_timeout = 0", wait_s);
    if (!command(r, sql, "cannot set lock_timeout"))
        return failed();
    /* A signal that came during the SET cancelled nothing that is still running: do not start a
     * wait of MIGRATE_LOCK_TIMEOUT_SECONDS after it. */
    if (interrupted)
        return MIGRATE_EXIT_INTERRUPTED;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
    res = PQexec(pg->conn, sql);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        pg->locked = true;
        migrate_report(r, LOG_INFO, NULL, "migration lock acquired");
        return MIGRATE_EXIT_OK;
    }
    enum migrate_exit rc;
    if (interrupted) {
        rc = MIGRATE_EXIT_INTERRUPTED;
    } else if (strcmp(sqlstate_of(res), SQLSTATE_LOCK_NOT_AVAIL) == 0) {
        describe_holder(r, holder, sizeof(holder));
        migrate_report(
            r, LOG_ERROR, json_pack("{s:s,s:i}", "holder", holder, "timeout_s", wait_s),
            "gave up waiting for the migration lock after MIGRATE_LOCK_TIMEOUT_SECONDS=%d; held by %s "
            "(behind PgBouncer in transaction pooling, an orphaned lock can stay on a pooled server "
            "connection: point the migration at PostgreSQL directly)",
            wait_s, holder);
        rc = MIGRATE_EXIT_LOCK_TIMEOUT;
    } else {
        report_db_error(r, "cannot take the migration lock", res);
        rc = MIGRATE_EXIT_FAILED;
    }
    PQclear(res);
    return rc;
}

/* The lock, then the DDL timeouts and the bookkeeping table (created only when there is work). */
static enum migrate_exit pg_lock(struct migrate_run *r)
{
    struct pg *pg = r->db;
    enum migrate_exit rc = take_lock(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d; SET statement_timeout = '%ds'", DDL_LOCK_TIMEOUT_MS,
             pg->cfg->migrate_statement_timeout_seconds);
    if (!command(r, sql, "cannot set timeouts") ||
        !command(r, create_table_sql, "cannot create " SCHEMA_TABLE))
        return failed();
    return MIGRATE_EXIT_OK;
}

static void release_lock(struct migrate_run *r)
{
    struct pg *pg = r->db;
    if (!pg->locked || pg->conn == NULL)
        return;
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK_KEY);
    PGresult *res = PQexec(pg->conn, sql);
    /* Closing the session releases it in any case; an explicit unlock matters behind poolers. */
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
        report_db_error(r, "cannot release the migration lock (closing the session releases it)", res);
    PQclear(res);
    pg->locked = false;
}

/* ---- applying */

/* 1-based line of a 1-based character position (PG_DIAG_STATEMENT_POSITION counts characters). */
static long line_of_position(const char *sql, size_t len, long position)
{
    long line = 1, chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)sql[i];
        if ((c & 0xc0) == 0x80)
            continue; /* UTF-8 continuation byte */
        if (++chars >= position)
            break;
        if (c == '\n')
            line++;
    }
    return line;
}

static void pg_rollback(struct migrate_run *r)
{
    struct pg *pg = r->db;
    PGTransactionStatusType st = PQtransactionStatus(pg->conn);
    if (st == PQTRANS_INTRANS || st == PQTRANS_INERROR)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
}

static void report_migration_error(struct migrate_run *r, const struct schema_migration *m,
                                   const PGresult *res)
{
    struct pg *pg = r->db;
    char why[TEXT_MAX], detail[TEXT_MAX];
    base_one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), why, sizeof(why));
    if (why[0] == '\0')
        base_one_line(PQerrorMessage(pg->conn), why, sizeof(why));
    base_one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL), detail, sizeof(detail));
    const char *position = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    long line = position != NULL ? line_of_position(m->sql, m->sql_len, strtol(position, NULL, 10)) : 0;
    char where[48] = "";
    if (line > 0)
        snprintf(where, sizeof(where), " at line %ld", line);
    json_t *fields = json_pack("{s:I,s:s,s:s,s:s,s:s}", "version", (json_int_t)m->version, "name", m->name,
                               "sqlstate", sqlstate_of(res), "error", why, "detail", detail);
    if (fields != NULL && line > 0)
        json_object_set_new(fields, "line", json_integer(line));
    migrate_report(r, LOG_ERROR, fields,
                   "migration %ld (%s) failed%s: %s%s%s; rolled back, nothing of it was applied", m->version,
                   m->name, where, why, detail[0] != '\0' ? " -- " : "", detail);
}

static enum migrate_exit pg_begin(struct migrate_run *r)
{
    if (interrupted)
        return MIGRATE_EXIT_INTERRUPTED;
    return command(r, "BEGIN", "cannot begin a transaction") ? MIGRATE_EXIT_OK : failed();
}

/* A DDL lock wait past DDL_LOCK_TIMEOUT_MS rolls the whole transaction back and runs it again
 * (until MIGRATE_LOCK_TIMEOUT_SECONDS), so application queries are never stalled for long. */
static enum migrate_exit pg_run_script(struct migrate_run *r, const struct schema_migration *m)
{
    struct pg *pg = r->db;
    uint64_t retry_deadline = base_now_ms() + (uint64_t)pg->cfg->migrate_lock_timeout_seconds * 1000;
    for (int attempt = 1;; attempt++) {
        enum migrate_exit rc = attempt > 1 ? pg_begin(r) : MIGRATE_EXIT_OK;
        if (rc != MIGRATE_EXIT_OK)
            return rc;
        PGresult *res = PQexec(pg->conn, m->sql);
        ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            PQclear(res);
            break;
        }
        bool lock_timeout = strcmp(sqlstate_of(res), SQLSTATE_LOCK_NOT_AVAIL) == 0;
        pg_rollback(r);
        if (interrupted) {
            PQclear(res);
            migrate_report(r, LOG_WARN,
                           json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                           "interrupted while applying migration %ld (%s); rolled back", m->version, m->name);
            return MIGRATE_EXIT_INTERRUPTED;
        }
        if (lock_timeout && base_now_ms() + DDL_RETRY_BACKOFF_MS < retry_deadline) {
            PQclear(res);
            migrate_report(
                r, LOG_WARN,
                json_pack("{s:I,s:s,s:i}", "version", (json_int_t)m->version, "name", m->name, "attempt",
                          attempt),
                "migration %ld (%s) waited %d ms for a table lock held by application queries; rolled "
                "back, retrying",
                m->version, m->name, DDL_LOCK_TIMEOUT_MS);
            if (!sleep_ms(DDL_RETRY_BACKOFF_MS))
                return MIGRATE_EXIT_INTERRUPTED;
            continue;
        }
        report_migration_error(r, m, res);
        PQclear(res);
        return MIGRATE_EXIT_FAILED;
    }
    if (PQtransactionStatus(pg->conn) != PQTRANS_INTRANS) {
        /* Its own COMMIT/ROLLBACK would have broken the all-or-nothing guarantee. */
        migrate_report(
            r, LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
            "migration %ld (%s) ended the runner's transaction itself (COMMIT/ROLLBACK in the file); "
            "migrations must not control transactions; it was NOT recorded",
            m->version, m->name);
        return MIGRATE_EXIT_FAILED;
    }
    return MIGRATE_EXIT_OK;
}

static enum migrate_exit pg_record(struct migrate_run *r, const struct schema_migration *m, long floor,
                                   double duration_ms)
{
    struct pg *pg = r->db;
    char version_text[24], floor_text[24], duration_text[32];
    snprintf(version_text, sizeof(version_text), "%ld", m->version);
    snprintf(floor_text, sizeof(floor_text), "%ld", floor);
    snprintf(duration_text, sizeof(duration_text), "%.3f", duration_ms);
    const char *params[] = {version_text,  m->name,    schema_kind_name(m->kind), m->checksum, floor_text,
                            duration_text, pg->appname};
    PGresult *res =
        PQexecParams(pg->conn,
                     "INSERT INTO " SCHEMA_TABLE " (version, name, kind, checksum, floor, duration_ms, "
                     "applied_by) VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6::double precision, $7)",
                     7, NULL, params, NULL, NULL, 0);
    bool ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        report_db_error(r, "cannot record the migration", res);
    PQclear(res);
    return ok ? MIGRATE_EXIT_OK : failed();
}

static enum migrate_exit pg_commit(struct migrate_run *r, const struct schema_migration *m)
{
    if (interrupted) {
        pg_rollback(r);
        migrate_report(r, LOG_WARN,
                       json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                       "interrupted before committing migration %ld (%s); rolled back", m->version, m->name);
        return MIGRATE_EXIT_INTERRUPTED;
    }
    return command(r, "COMMIT", "cannot commit the migration") ? MIGRATE_EXIT_OK : failed();
}

static const struct migrate_dialect pg_dialect = {
    .texts = &pg_texts,
    .read_applied = pg_read_applied,
    .lock = pg_lock,
    .begin = pg_begin,
    .run_script = pg_run_script,
    .record = pg_record,
    .commit = pg_commit,
    .rollback = pg_rollback,
};

/* ---- entry point */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bollard migrate [up [--phase P] [--wait-rollout DEPLOYMENT]|status [--json]|plan "
            "[--phase P]]\n"
            "  up (default)  apply pending migrations, each in its own transaction, then exit\n"
            "  status        applied and pending migrations (pending ones by phase) and the compatibility\n"
            "  plan          print the SQL of pending migrations by phase; applies nothing\n"
            "  --phase expand|contract|all (default all): expand applies the pending migrations up to, not\n"
            "      including, the first pending contract (before a rollout: the floor stays); contract\n"
            "      applies all the rest (once no pod of the previous version serves)\n"
            "  --wait-rollout DEPLOYMENT  (up, in a pod) first wait until that Deployment of the pod's\n"
            "      namespace has rolled out (the Kubernetes API with the pod's service account); up to 4\n"
            "      times, waited for in order within the one timeout\n"
            "  --wait-rollout-timeout SECONDS (default %d), --kube-dir DIR (default %s)\n"
            "This binary carries %zu migration%s (level %ld; its code needs %ld).\n"
            "With ALERT_WEBHOOK_URL set, a failed `up` posts a signed alert (within 5 s) and still exits\n"
            "with its own code.\n"
            "Exit codes: 0 ok or nothing to do; 1 migration failed (rolled back); 2 checksum mismatch or\n"
            "diverged history; 3 database incompatible with this binary (floor above its level);\n"
            "4 database unreachable; 5 lock wait timed out; 6 interrupted (rolled back); 7 --phase expand\n"
            "refused: an expand this binary needs follows a pending contract; 8 --wait-rollout: not rolled\n"
            "out in time (or the API refused); 64 usage; 78 invalid configuration.\n",
            ROLLOUT_WAIT_DEFAULT_S, KUBE_DEFAULT_CREDENTIALS_DIR, schema_migration_count(),
            schema_migration_count() == 1 ? "" : "s", schema_binary_level(), schema_needed_level());
}

struct migrate_args {
    enum migrate_mode mode;
    enum schema_phase phase;
    bool json;
    const char *wait_rollout[MIGRATE_WAIT_ROLLOUT_MAX]; /* Deployment names, in order */
    int n_wait_rollout;
    int wait_timeout_s;
    const char *kube_dir;
};

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past a separate value. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* A Deployment name: a DNS-1123 subdomain (it goes into the API path). */
static bool is_k8s_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

static bool usage_error(const char *fmt, const char *arg, int *exit_code)
{
    fprintf(stderr, "bollard migrate: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    *exit_code = MIGRATE_EXIT_USAGE;
    return false;
}

/* Reads argv into *a; false when the command ends here with *exit_code (usage, --help). */
static bool parse_args(int argc, char **argv, struct migrate_args *a, int *exit_code)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "--help") != 0 && strcmp(argv[i], "-h") != 0 && argv[i][0] != '-') {
        if (strcmp(argv[i], "up") == 0) {
            a->mode = MIGRATE_MODE_UP;
        } else if (strcmp(argv[i], "status") == 0) {
            a->mode = MIGRATE_MODE_STATUS;
        } else if (strcmp(argv[i], "plan") == 0) {
            a->mode = MIGRATE_MODE_PLAN;
        } else {
            fprintf(stderr, "bollard migrate: unknown subcommand '%s'\n", argv[i]);
            usage(stderr);
            *exit_code = MIGRATE_EXIT_USAGE;
            return false;
        }
        i++;
    }
    for (; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            *exit_code = MIGRATE_EXIT_OK;
            return false;
        }
        if (strcmp(argv[i], "--json") == 0 && a->mode == MIGRATE_MODE_STATUS) {
            a->json = true;
        } else if (a->mode != MIGRATE_MODE_STATUS && (v = option_value(argc, argv, &i, "--phase")) != NULL) {
            if (!schema_phase_parse(v, &a->phase))
                return usage_error("--phase must be expand, contract or all, not '%s'", v, exit_code);
        } else if (a->mode == MIGRATE_MODE_UP &&
                   (v = option_value(argc, argv, &i, "--wait-rollout")) != NULL) {
            if (!is_k8s_name(v))
                return usage_error("--wait-rollout needs a Deployment name, not '%s'", v, exit_code);
            if (a->n_wait_rollout == MIGRATE_WAIT_ROLLOUT_MAX)
                return usage_error("--wait-rollout is given more than 4 times (at '%s')", v, exit_code);
            a->wait_rollout[a->n_wait_rollout++] = v;
        } else if (a->mode == MIGRATE_MODE_UP &&
                   (v = option_value(argc, argv, &i, "--wait-rollout-timeout")) != NULL) {
            char *end = NULL;
            long t = strtol(v, &end, 10);
            if (end == v || *end != '\0' || t < 1 || t > 86400)
                return usage_error("--wait-rollout-timeout must be 1..86400 seconds, not '%s'", v, exit_code);
            a->wait_timeout_s = (int)t;
        } else if (a->mode == MIGRATE_MODE_UP && (v = option_value(argc, argv, &i, "--kube-dir")) != NULL) {
            a->kube_dir = v;
        } else {
            return usage_error("unexpected argument '%s'", argv[i], exit_code);
        }
    }
    return true;
}

int migrate_args(int argc, char **argv)
{
    struct migrate_args args = {.mode = MIGRATE_MODE_UP,
                                .wait_timeout_s = ROLLOUT_WAIT_DEFAULT_S,
                                .kube_dir = KUBE_DEFAULT_CREDENTIALS_DIR};
    int rc = MIGRATE_EXIT_OK;
    return parse_args(argc, argv, &args, &rc) ? -1 : rc;
}

int migrate_main(const struct config *cfg, int argc, char **argv)
{
    struct migrate_args args = {.mode = MIGRATE_MODE_UP,
                                .wait_timeout_s = ROLLOUT_WAIT_DEFAULT_S,
                                .kube_dir = KUBE_DEFAULT_CREDENTIALS_DIR};
    int usage_rc = MIGRATE_EXIT_OK;
    if (!parse_args(argc, argv, &args, &usage_rc))
        return usage_rc;
    enum migrate_mode mode = args.mode;
    if (cfg->database_is_sqlite) {
        fprintf(stderr, "bollard migrate: DATABASE_URL is a sqlite: database; this build has PostgreSQL "
                        "migrations only (`bollard dev` prepares its own SQLite file)\n");
        return MIGRATE_EXIT_FAILED;
    }
    struct sigaction old_term, old_int;
    if (!install_signals(&old_term, &old_int)) {
        fprintf(stderr, "bollard migrate: cannot install signal handlers: %s\n", strerror(errno));
        return MIGRATE_EXIT_FAILED;
    }
    struct pg pg = {.cfg = cfg};
    migrate_runner_name("bollard-migrate", pg.appname, sizeof(pg.appname));
    struct migrate_run r;
    enum migrate_exit rc = MIGRATE_EXIT_FAILED;
    char first_error[ALERT_REASON_MAX + 1] = "";
    bool init_ok =
        migrate_run_init(&r, &pg_dialect, &pg, mode, schema_migration_at(0), schema_migration_count());
    r.first_error = first_error;
    r.first_error_cap = sizeof(first_error);
    if (!init_ok) {
        base_why(first_error, sizeof(first_error), "out of memory");
        goto cleanup;
    }
    r.json = args.json;
    r.phase = args.phase;
    /* Before connecting: no database session is held while the rollouts take their time. Each
     * Deployment in turn (the API's, then the worker's), all within the one timeout. */
    uint64_t wait_until = base_now_ms() + (uint64_t)args.wait_timeout_s * 1000;
    for (int d = 0; d < args.n_wait_rollout; d++) {
        char why[BASE_WHY_MAX];
        uint64_t now_ms = base_now_ms();
        int left_s = wait_until > now_ms ? (int)((wait_until - now_ms + 999) / 1000) : 1;
        migrate_report(&r, LOG_INFO,
                       json_pack("{s:s,s:i,s:s}", "deployment", args.wait_rollout[d], "timeout_s", left_s,
                                 "phase", schema_phase_name(args.phase)),
                       "waiting until deployment %s has rolled out (no pod of the previous version runs)",
                       args.wait_rollout[d]);
        enum kube_wait w = kube_wait_rollout(args.kube_dir, args.wait_rollout[d], left_s, ROLLOUT_POLL_MS,
                                             &interrupted, why, sizeof(why));
        if (w == KUBE_WAIT_INTERRUPTED) {
            rc = MIGRATE_EXIT_INTERRUPTED;
            goto cleanup;
        }
        if (w != KUBE_WAIT_DONE) {
            migrate_report(&r, LOG_ERROR, json_pack("{s:s}", "deployment", args.wait_rollout[d]),
                           "not applying the %s phase: %s", schema_phase_name(args.phase), why);
            rc = MIGRATE_EXIT_ROLLOUT;
            goto cleanup;
        }
    }
    rc = connect_with_retry(&r);
    if (rc != MIGRATE_EXIT_OK)
        goto cleanup;
    /* Every statement is bounded, also the reads before the lock. */
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SET statement_timeout = '%ds'", cfg->migrate_statement_timeout_seconds);
    if (!command(&r, sql, "cannot set statement_timeout")) {
        rc = failed();
        goto cleanup;
    }
    rc = mode == MIGRATE_MODE_UP ? migrate_run_up(&r) : migrate_run_read_only(&r);
cleanup:
    if (rc == MIGRATE_EXIT_INTERRUPTED)
        migrate_report(&r, LOG_WARN, NULL,
                       "interrupted by a signal; the running migration (if any) was rolled back");
    release_lock(&r);
    set_active_cancel(NULL);
    PQfinish(pg.conn);
    migrate_run_free(&r);
    if (rc != MIGRATE_EXIT_OK && mode == MIGRATE_MODE_UP) {
        migrate_report(&r, LOG_ERROR, json_pack("{s:i}", "exit_code", rc), "migrate failed (exit %d)", rc);
        /* Still under this run's signal handlers: a SIGTERM meanwhile only sets a flag, so the alert
         * (bounded) can change neither the exit code nor how long the Job takes beyond its bound. */
        struct alert_info a = {.kind = "migrate_failed",
                               .role = "migrate",
                               .pod = cfg->pod_name,
                               .release = cfg->release_name,
                               .reason = first_error,
                               .exit_code = rc};
        alert_post_blocking(cfg, &a, ALERT_MIGRATE_MAX_MS);
    }
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    fflush(stdout);
    return rc;
}
