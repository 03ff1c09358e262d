/* migrate: applies the migrations built into this binary (pkg/schema) to PostgreSQL.
 *
 * Run: connect (retrying for MIGRATE_CONNECT_TIMEOUT_SECONDS), read the bookkeeping table, verify
 * every applied migration against this binary, and stop there when nothing is pending (no lock is
 * needed to see that). Otherwise take a session advisory lock (bounded by
 * MIGRATE_LOCK_TIMEOUT_SECONDS), read again (another runner may have done the work), and apply each
 * pending migration in its own transaction together with its bookkeeping row, so a migration is
 * either applied and recorded or not there at all: there is no "dirty" state. */
#include "migrate/migrate.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "log/log.h"
#include "schema/schema.h"

/* Session advisory lock key ("bollard" in ASCII). Advisory locks are per database. */
#define MIGRATE_LOCK_KEY 0x626f6c6c617264LL
/* Table-lock waits of a migration's DDL are kept short so that application queries queued behind
 * the DDL are not stalled for long; a migration that times out on them is retried (whole
 * transaction) until MIGRATE_LOCK_TIMEOUT_SECONDS have passed. */
#define DDL_LOCK_TIMEOUT_MS    5000
#define CONNECT_BACKOFF_MIN_MS 100
#define CONNECT_BACKOFF_MAX_MS 2000
#define CONNECT_ATTEMPT_MAX_S  10
#define DDL_RETRY_BACKOFF_MS   500
#define SQL_MAX                1024
#define TEXT_MAX               512

#define SQLSTATE_UNDEFINED_TABLE "42P01"
#define SQLSTATE_LOCK_NOT_AVAIL  "55P03"
#define SQLSTATE_QUERY_CANCELED  "57014"

/* Set by the SIGTERM/SIGINT handler; the handler also cancels the running query through
 * active_cancel (PQcancel is async-signal-safe). */
static volatile sig_atomic_t interrupted;
static PGcancel *volatile active_cancel;

enum mode { MODE_UP, MODE_STATUS, MODE_PLAN };

/* Columns of the applied-migrations query. */
enum { COL_VERSION, COL_NAME, COL_KIND, COL_CHECKSUM, COL_FLOOR, COL_APPLIED_AT, COL_DURATION };

struct runner {
    const struct config *cfg;
    enum mode mode;
    bool json; /* status --json */
    PGconn *conn;
    PGresult *applied; /* rows of the bookkeeping table by version; NULL when it does not exist */
    long db_version;
    long db_floor;
    bool locked;
    size_t *pending; /* indexes into the embedded migrations, ascending */
    size_t n_pending;
};

/* ---- reporting: `up` logs JSON lines (it runs as a Job); status/plan are for people, so their
 * problems go to stderr as plain lines and stdout keeps only the requested output. */

static void report(const struct runner *r, enum log_level level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(const struct runner *r, enum log_level level, json_t *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (r->mode == MODE_UP) {
        log_write(level, NULL, msg, fields);
        return;
    }
    json_decref(fields);
    if (level >= LOG_WARN)
        fprintf(stderr, "bollard migrate: %s\n", msg);
}

/* libpq messages end in newlines and may span lines; logs want one line. */
static void one_line(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool space = false;
    for (const char *p = in != NULL ? in : ""; *p != '\0' && o + 1 < cap; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < cap) {
            out[o++] = ' ';
        }
        space = false;
        out[o++] = *p;
    }
    out[o] = '\0';
}

static const char *sqlstate_of(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

static long long now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    const struct runner *r = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    bool warning = severity != NULL && strcmp(severity, "WARNING") == 0;
    char text[TEXT_MAX];
    one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), text, sizeof(text));
    report(r, warning ? LOG_WARN : LOG_DEBUG,
           json_pack("{s:s}", "severity", severity != NULL ? severity : "?"), "postgres: %s", text);
}

static void application_name(char *out, size_t cap)
{
    char host[64];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown-host");
    host[sizeof(host) - 1] = '\0';
    /* PostgreSQL keeps 63 bytes; the host (the pod name on Kubernetes) is what names a lock holder. */
    snprintf(out, cap, "bollard-migrate %.30s pid %ld", host, (long)getpid());
}

static int connect_with_retry(struct runner *r)
{
    const struct config *cfg = r->cfg;
    char appname[64];
    application_name(appname, sizeof(appname));
    long long deadline = now_ms() + (long long)cfg->migrate_connect_timeout_seconds * 1000;
    long backoff = CONNECT_BACKOFF_MIN_MS;
    for (int attempt = 1;; attempt++) {
        if (interrupted)
            return MIGRATE_EXIT_INTERRUPTED;
        long long remaining = deadline - now_ms();
        long attempt_s = remaining / 1000 + 1;
        if (attempt_s < 1)
            attempt_s = 1;
        if (attempt_s > CONNECT_ATTEMPT_MAX_S)
            attempt_s = CONNECT_ATTEMPT_MAX_S;
        char timeout_text[24];
        snprintf(timeout_text, sizeof(timeout_text), "%ld", attempt_s);
        /* expand_dbname: DATABASE_URL is the connection string; application_name only when it
         * sets none itself. */
        const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
        const char *values[] = {cfg->database_url, appname, timeout_text, NULL};
        PGconn *conn = PQconnectdbParams(keys, values, 1);
        if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
            r->conn = conn;
            PQsetNoticeReceiver(conn, on_notice, r);
            set_active_cancel(conn);
            if (attempt > 1)
                report(r, LOG_INFO, json_pack("{s:i}", "attempts", attempt), "database reachable");
            return MIGRATE_EXIT_OK;
        }
        char why[TEXT_MAX];
        one_line(conn != NULL ? PQerrorMessage(conn) : "out of memory", why, sizeof(why));
        PQfinish(conn);
        if (now_ms() + backoff >= deadline) {
            report(r, LOG_ERROR, json_pack("{s:i,s:s}", "attempts", attempt, "error", why),
                   "database not reachable within MIGRATE_CONNECT_TIMEOUT_SECONDS=%d: %s",
                   cfg->migrate_connect_timeout_seconds, why);
            return MIGRATE_EXIT_UNREACHABLE;
        }
        report(r, LOG_INFO,
               json_pack("{s:i,s:s,s:i}", "attempt", attempt, "error", why, "retry_in_ms", (int)backoff),
               "database not reachable yet; retrying");
        if (!sleep_ms(backoff))
            return MIGRATE_EXIT_INTERRUPTED;
        backoff = backoff * 2 > CONNECT_BACKOFF_MAX_MS ? CONNECT_BACKOFF_MAX_MS : backoff * 2;
    }
}

static void report_db_error(const struct runner *r, const char *what, const PGresult *res)
{
    char why[TEXT_MAX];
    one_line(res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(r->conn), why, sizeof(why));
    if (why[0] == '\0')
        one_line(PQerrorMessage(r->conn), why, sizeof(why));
    report(r, LOG_ERROR, json_pack("{s:s,s:s}", "sqlstate", sqlstate_of(res), "error", why), "%s: %s", what,
           why);
}

/* Runs a statement without result rows; false (reported) on failure. */
static bool command(struct runner *r, const char *sql, const char *what)
{
    PGresult *res = PQexec(r->conn, sql);
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

static long row_long(const PGresult *res, int row, int col)
{
    return strtol(PQgetvalue(res, row, col), NULL, 10);
}

static int read_applied(struct runner *r)
{
    PQclear(r->applied);
    r->applied = NULL;
    r->db_version = 0;
    r->db_floor = 0;
    PGresult *res = PQexec(r->conn, select_applied_sql);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        r->applied = res;
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            long floor = row_long(res, i, COL_FLOOR);
            if (floor > r->db_floor)
                r->db_floor = floor;
        }
        if (rows > 0)
            r->db_version = row_long(res, rows - 1, COL_VERSION);
        return MIGRATE_EXIT_OK;
    }
    bool missing = strcmp(sqlstate_of(res), SQLSTATE_UNDEFINED_TABLE) == 0;
    int rc = interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
    if (!missing && !interrupted)
        report_db_error(r, "cannot read " SCHEMA_TABLE, res);
    PQclear(res);
    /* A failed statement outside a transaction leaves the session usable. */
    return missing ? MIGRATE_EXIT_OK : rc;
}

static int find_applied(const struct runner *r, long version)
{
    int rows = r->applied != NULL ? PQntuples(r->applied) : 0;
    for (int i = 0; i < rows; i++) {
        if (row_long(r->applied, i, COL_VERSION) == version)
            return i;
    }
    return -1;
}

static const struct schema_migration *find_embedded(long version)
{
    for (size_t i = 0; i < schema_migration_count(); i++) {
        const struct schema_migration *m = schema_migration_at(i);
        if (m->version == version)
            return m;
    }
    return NULL;
}

/* Compares the database's history with this binary's and fills r->pending. Returns
 * MIGRATE_EXIT_CHECKSUM when they disagree (each disagreement reported once). */
static int analyze(struct runner *r)
{
    int rc = MIGRATE_EXIT_OK;
    long level = schema_binary_level();
    int rows = r->applied != NULL ? PQntuples(r->applied) : 0;
    for (int i = 0; i < rows; i++) {
        long version = row_long(r->applied, i, COL_VERSION);
        const char *name = PQgetvalue(r->applied, i, COL_NAME);
        const char *checksum = PQgetvalue(r->applied, i, COL_CHECKSUM);
        const struct schema_migration *m = find_embedded(version);
        if (m == NULL) {
            /* Above this binary's level it is the rollback case, judged by the floor. */
            if (version <= level) {
                report(r, LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)version, "name", name),
                       "applied migration %ld (%s) is not built into this binary: the migration history "
                       "diverged; refusing to run",
                       version, name);
                rc = MIGRATE_EXIT_CHECKSUM;
            }
            continue;
        }
        if (strcmp(checksum, m->checksum) != 0 || strcmp(name, m->name) != 0) {
            report(r, LOG_ERROR,
                   json_pack("{s:I,s:s,s:s,s:s}", "version", (json_int_t)version, "name", m->name,
                             "checksum_applied", checksum, "checksum_binary", m->checksum),
                   "checksum mismatch: migration %ld (%s) was changed after it was applied (database "
                   "%.12s..., this binary %.12s...); restore the applied file and put the change in a new "
                   "migration; refusing to run",
                   version, m->name, checksum, m->checksum);
            rc = MIGRATE_EXIT_CHECKSUM;
        }
    }
    r->n_pending = 0;
    for (size_t i = 0; i < schema_migration_count(); i++) {
        const struct schema_migration *m = schema_migration_at(i);
        if (find_applied(r, m->version) >= 0)
            continue;
        if (m->version < r->db_version) {
            report(r, LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                   "migration %ld (%s) is pending but the database already has version %ld: out of order, "
                   "the migration history diverged; refusing to run",
                   m->version, m->name, r->db_version);
            rc = MIGRATE_EXIT_CHECKSUM;
            continue;
        }
        r->pending[r->n_pending++] = i;
    }
    return rc;
}

/* Returns MIGRATE_EXIT_INCOMPATIBLE with a report when the database's floor excludes this binary. */
static int check_floor(struct runner *r)
{
    char reason[TEXT_MAX];
    if (schema_compat_evaluate(r->db_version, r->db_floor, reason, sizeof(reason)) != SCHEMA_TOO_NEW)
        return MIGRATE_EXIT_OK;
    report(r, LOG_ERROR,
           json_pack("{s:I,s:I,s:I}", "db_version", (json_int_t)r->db_version, "db_floor",
                     (json_int_t)r->db_floor, "binary_level", (json_int_t)schema_binary_level()),
           "incompatible database: %s", reason);
    return MIGRATE_EXIT_INCOMPATIBLE;
}

/* ---- the lock */

static void lock_key_parts(unsigned *hi, unsigned *lo)
{
    *hi = (unsigned)((unsigned long long)MIGRATE_LOCK_KEY >> 32);
    *lo = (unsigned)((unsigned long long)MIGRATE_LOCK_KEY & 0xffffffffULL);
}

/* Names the session holding the lock, for the operator (pid, application, user, address, age). */
static void describe_holder(struct runner *r, char *out, size_t cap)
{
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
    PGresult *res = PQexec(r->conn, sql);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        snprintf(out, cap, "pid %s (application \"%s\", user %s, from %s, connected %s s ago, %s)",
                 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                 PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
    } else {
        snprintf(out, cap, "a session this user cannot see (or one that just released it)");
    }
    PQclear(res);
}

static int take_lock(struct runner *r)
{
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
    PGresult *res = PQexec(r->conn, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
        report_db_error(r, "cannot take the migration lock", res);
        PQclear(res);
        return rc;
    }
    bool got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got) {
        r->locked = true;
        return MIGRATE_EXIT_OK;
    }

    char holder[TEXT_MAX];
    describe_holder(r, holder, sizeof(holder));
    int wait_s = r->cfg->migrate_lock_timeout_seconds;
    report(r, LOG_INFO, json_pack("{s:s,s:i}", "holder", holder, "timeout_s", wait_s),
           "another migration runner holds the lock: %s; waiting up to %d s", holder, wait_s);
    /* The server bounds the wait (lock_timeout applies to advisory locks), so nothing is left
     * waiting in the database when we give up. */
    /* statement_timeout is lifted for the wait so that only lock_timeout decides when to give up. */
    snprintf(sql, sizeof(sql), "SET lock_timeout = '%ds'; SET statement_timeout = 0", wait_s);
    if (!command(r, sql, "cannot set lock_timeout"))
        return interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
    res = PQexec(r->conn, sql);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        r->locked = true;
        report(r, LOG_INFO, NULL, "migration lock acquired");
        return MIGRATE_EXIT_OK;
    }
    int rc;
    if (interrupted) {
        rc = MIGRATE_EXIT_INTERRUPTED;
    } else if (strcmp(sqlstate_of(res), SQLSTATE_LOCK_NOT_AVAIL) == 0) {
        describe_holder(r, holder, sizeof(holder));
        report(r, LOG_ERROR, json_pack("{s:s,s:i}", "holder", holder, "timeout_s", wait_s),
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

static void release_lock(struct runner *r)
{
    if (!r->locked || r->conn == NULL)
        return;
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK_KEY);
    PGresult *res = PQexec(r->conn, sql);
    /* Closing the session releases it in any case; an explicit unlock matters behind poolers. */
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
        report_db_error(r, "cannot release the migration lock (closing the session releases it)", res);
    PQclear(res);
    r->locked = false;
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

static void rollback(struct runner *r)
{
    PGresult *res = PQexec(r->conn, "ROLLBACK");
    PQclear(res);
}

static void report_migration_error(struct runner *r, const struct schema_migration *m, const PGresult *res)
{
    char why[TEXT_MAX], detail[TEXT_MAX];
    one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), why, sizeof(why));
    if (why[0] == '\0')
        one_line(PQerrorMessage(r->conn), why, sizeof(why));
    one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL), detail, sizeof(detail));
    const char *position = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    long line = position != NULL ? line_of_position(m->sql, m->sql_len, strtol(position, NULL, 10)) : 0;
    char where[48] = "";
    if (line > 0)
        snprintf(where, sizeof(where), " at line %ld", line);
    json_t *fields = json_pack("{s:I,s:s,s:s,s:s,s:s}", "version", (json_int_t)m->version, "name", m->name,
                               "sqlstate", sqlstate_of(res), "error", why, "detail", detail);
    if (fields != NULL && line > 0)
        json_object_set_new(fields, "line", json_integer(line));
    report(r, LOG_ERROR, fields,
           "migration %ld (%s) failed%s: %s%s%s; rolled back, nothing of it was applied", m->version, m->name,
           where, why, detail[0] != '\0' ? " -- " : "", detail);
}

/* One migration, in one transaction with its bookkeeping row. *floor is the database's floor
 * before; updated on success. */
static int apply_one(struct runner *r, const struct schema_migration *m, long *floor)
{
    long new_floor = schema_floor_after(*floor, m);
    long long retry_deadline = now_ms() + (long long)r->cfg->migrate_lock_timeout_seconds * 1000;
    char version_text[24], floor_text[24], appname[64];
    snprintf(version_text, sizeof(version_text), "%ld", m->version);
    snprintf(floor_text, sizeof(floor_text), "%ld", new_floor);
    application_name(appname, sizeof(appname));
    report(r, LOG_INFO,
           json_pack("{s:I,s:s,s:s}", "version", (json_int_t)m->version, "name", m->name, "kind",
                     schema_kind_name(m->kind)),
           "applying migration %ld (%s)", m->version, m->name);

    for (int attempt = 1;; attempt++) {
        if (interrupted)
            return MIGRATE_EXIT_INTERRUPTED;
        if (!command(r, "BEGIN", "cannot begin a transaction"))
            return interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
        PGresult *res = PQexec(r->conn, m->sql);
        ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            bool lock_timeout = strcmp(sqlstate_of(res), SQLSTATE_LOCK_NOT_AVAIL) == 0;
            rollback(r);
            if (interrupted) {
                PQclear(res);
                report(r, LOG_WARN,
                       json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                       "interrupted while applying migration %ld (%s); rolled back", m->version, m->name);
                return MIGRATE_EXIT_INTERRUPTED;
            }
            if (lock_timeout && now_ms() + DDL_RETRY_BACKOFF_MS < retry_deadline) {
                PQclear(res);
                report(r, LOG_WARN,
                       json_pack("{s:I,s:s,s:i}", "version", (json_int_t)m->version, "name", m->name,
                                 "attempt", attempt),
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
        PQclear(res);
        if (PQtransactionStatus(r->conn) != PQTRANS_INTRANS) {
            /* Its own COMMIT/ROLLBACK would have broken the all-or-nothing guarantee. */
            rollback(r);
            report(r, LOG_ERROR, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                   "migration %ld (%s) ended the runner's transaction itself (COMMIT/ROLLBACK in the file); "
                   "migrations must not control transactions; it was NOT recorded",
                   m->version, m->name);
            return MIGRATE_EXIT_FAILED;
        }
        const char *params[] = {version_text, m->name,    schema_kind_name(m->kind),
                                m->checksum,  floor_text, appname};
        res = PQexecParams(r->conn,
                           "INSERT INTO " SCHEMA_TABLE " (version, name, kind, checksum, floor, duration_ms, "
                           "applied_by) VALUES ($1::bigint, $2, $3, $4, $5::bigint, "
                           "extract(epoch FROM clock_timestamp() - now()) * 1000, $6) RETURNING duration_ms",
                           6, NULL, params, NULL, NULL, 0);
        if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
            report_db_error(r, "cannot record the migration", res);
            PQclear(res);
            rollback(r);
            return interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
        }
        double duration_ms = strtod(PQgetvalue(res, 0, 0), NULL);
        PQclear(res);
        if (interrupted) {
            rollback(r);
            report(r, LOG_WARN, json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                   "interrupted before committing migration %ld (%s); rolled back", m->version, m->name);
            return MIGRATE_EXIT_INTERRUPTED;
        }
        if (!command(r, "COMMIT", "cannot commit the migration")) {
            rollback(r);
            return interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
        }
        report(r, LOG_INFO,
               json_pack("{s:I,s:s,s:s,s:f,s:I}", "version", (json_int_t)m->version, "name", m->name, "kind",
                         schema_kind_name(m->kind), "duration_ms", duration_ms, "floor",
                         (json_int_t)new_floor),
               "applied migration %ld (%s)", m->version, m->name);
        *floor = new_floor;
        return MIGRATE_EXIT_OK;
    }
}

static int run_up(struct runner *r)
{
    int rc = read_applied(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    rc = analyze(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    rc = check_floor(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    long level = schema_binary_level();
    json_t *state = json_pack("{s:I,s:I,s:I}", "db_version", (json_int_t)r->db_version, "db_floor",
                              (json_int_t)r->db_floor, "binary_level", (json_int_t)level);
    if (r->n_pending == 0) {
        if (r->db_version > level)
            report(r, LOG_INFO, state,
                   "database is ahead of this binary and compatible with it; nothing to do");
        else
            report(r, LOG_INFO, state, "database is up to date; nothing to do");
        return MIGRATE_EXIT_OK;
    }
    json_decref(state);

    rc = take_lock(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d; SET statement_timeout = '%ds'", DDL_LOCK_TIMEOUT_MS,
             r->cfg->migrate_statement_timeout_seconds);
    if (!command(r, sql, "cannot set timeouts") ||
        !command(r, create_table_sql, "cannot create " SCHEMA_TABLE))
        return interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
    /* Again under the lock: a runner that held it before us may have applied everything. */
    rc = read_applied(r);
    if (rc == MIGRATE_EXIT_OK)
        rc = analyze(r);
    if (rc == MIGRATE_EXIT_OK)
        rc = check_floor(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    if (r->n_pending == 0) {
        report(r, LOG_INFO, NULL, "another runner applied the pending migrations; nothing to do");
        return MIGRATE_EXIT_OK;
    }
    long floor = r->db_floor;
    long long started = now_ms();
    for (size_t i = 0; i < r->n_pending; i++) {
        rc = apply_one(r, schema_migration_at(r->pending[i]), &floor);
        if (rc != MIGRATE_EXIT_OK)
            return rc;
    }
    report(r, LOG_INFO,
           json_pack("{s:i,s:I,s:I,s:I}", "applied", (int)r->n_pending, "db_version", (json_int_t)level,
                     "db_floor", (json_int_t)floor, "duration_ms", (json_int_t)(now_ms() - started)),
           "migrations applied");
    return MIGRATE_EXIT_OK;
}

/* ---- status and plan */

static const char *compat_state_name(enum schema_compat c)
{
    switch (c) {
    case SCHEMA_COMPATIBLE:
        return "compatible";
    case SCHEMA_NOT_MIGRATED:
        return "not_migrated";
    case SCHEMA_BEHIND:
        return "behind";
    case SCHEMA_TOO_NEW:
        return "too_new";
    }
    return "unknown";
}

struct status_row {
    long version;
    const char *name;
    const char *kind;
    const char *state;
    const char *checksum;
    const char *applied_at; /* NULL when not applied */
    double duration_ms;
    long floor;
};

/* Merges the binary's migrations and the database's rows, ascending by version. */
static size_t status_rows(const struct runner *r, struct status_row *out)
{
    size_t n = 0, e = 0, n_emb = schema_migration_count();
    int rows = r->applied != NULL ? PQntuples(r->applied) : 0, a = 0;
    while (e < n_emb || a < rows) {
        const struct schema_migration *m = e < n_emb ? schema_migration_at(e) : NULL;
        long av = a < rows ? row_long(r->applied, a, COL_VERSION) : 0;
        struct status_row *s = &out[n++];
        memset(s, 0, sizeof(*s));
        if (a < rows && (m == NULL || av <= m->version)) {
            s->version = av;
            s->name = PQgetvalue(r->applied, a, COL_NAME);
            s->kind = PQgetvalue(r->applied, a, COL_KIND);
            s->checksum = PQgetvalue(r->applied, a, COL_CHECKSUM);
            s->applied_at = PQgetvalue(r->applied, a, COL_APPLIED_AT);
            s->duration_ms = strtod(PQgetvalue(r->applied, a, COL_DURATION), NULL);
            s->floor = row_long(r->applied, a, COL_FLOOR);
            if (m != NULL && av == m->version) {
                bool same = strcmp(s->checksum, m->checksum) == 0 && strcmp(s->name, m->name) == 0;
                s->state = same ? "applied" : "changed";
                e++;
            } else {
                s->state = av > schema_binary_level() ? "ahead" : "unknown";
            }
            a++;
        } else {
            s->version = m->version;
            s->name = m->name;
            s->kind = schema_kind_name(m->kind);
            s->checksum = m->checksum;
            s->state = m->version < r->db_version ? "out-of-order" : "pending";
            e++;
        }
    }
    return n;
}

static int print_status(struct runner *r, int verdict)
{
    size_t cap = schema_migration_count() + (r->applied != NULL ? (size_t)PQntuples(r->applied) : 0) + 1;
    struct status_row *rows = calloc(cap, sizeof(*rows));
    if (rows == NULL)
        return MIGRATE_EXIT_FAILED;
    size_t n = status_rows(r, rows);
    char reason[TEXT_MAX];
    enum schema_compat compat = schema_compat_evaluate(r->db_version, r->db_floor, reason, sizeof(reason));
    long level = schema_binary_level();
    int rc = verdict;
    if (rc == MIGRATE_EXIT_OK && compat == SCHEMA_TOO_NEW)
        rc = MIGRATE_EXIT_INCOMPATIBLE;

    if (r->json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s}", "version", (json_int_t)rows[i].version, "name",
                                  rows[i].name, "kind", rows[i].kind, "state", rows[i].state, "checksum",
                                  rows[i].checksum);
            if (o != NULL && rows[i].applied_at != NULL) {
                json_object_set_new(o, "applied_at", json_string(rows[i].applied_at));
                json_object_set_new(o, "duration_ms", json_real(rows[i].duration_ms));
                json_object_set_new(o, "floor", json_integer(rows[i].floor));
            }
            json_array_append_new(list, o);
        }
        json_t *doc =
            json_pack("{s:I,s:{s:I,s:I},s:{s:b,s:s,s:s},s:i,s:o}", "binary_level", (json_int_t)level,
                      "database", "version", (json_int_t)r->db_version, "floor", (json_int_t)r->db_floor,
                      "compatibility", "ok", compat == SCHEMA_COMPATIBLE, "state", compat_state_name(compat),
                      "reason", reason, "pending", (int)r->n_pending, "migrations", list);
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : NULL;
        if (text == NULL) {
            json_decref(doc);
            free(rows);
            return MIGRATE_EXIT_FAILED;
        }
        printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        int name_w = 4;
        for (size_t i = 0; i < n; i++) {
            int len = (int)strlen(rows[i].name);
            if (len > name_w)
                name_w = len;
        }
        printf("%-8s %-*s %-8s %-12s %-24s %s\n", "VERSION", name_w, "NAME", "KIND", "STATE", "APPLIED AT",
               "DURATION");
        for (size_t i = 0; i < n; i++) {
            char duration[32] = "-";
            if (rows[i].applied_at != NULL)
                snprintf(duration, sizeof(duration), "%.1f ms", rows[i].duration_ms);
            printf("%-8ld %-*s %-8s %-12s %-24s %s\n", rows[i].version, name_w, rows[i].name, rows[i].kind,
                   rows[i].state, rows[i].applied_at != NULL ? rows[i].applied_at : "-", duration);
        }
        printf("\ndatabase: version %ld, floor %ld; this binary: level %ld; %zu pending\nschema: %s (%s)\n",
               r->db_version, r->db_floor, level, r->n_pending, compat_state_name(compat), reason);
    }
    free(rows);
    return rc;
}

static int print_plan(struct runner *r)
{
    long level = schema_binary_level();
    if (r->n_pending == 0) {
        printf("-- bollard migrate plan: nothing to apply (database version %ld, this binary level %ld)\n",
               r->db_version, level);
        return MIGRATE_EXIT_OK;
    }
    printf("-- bollard migrate plan: %zu pending migration%s (database version %ld, this binary level %ld).\n"
           "-- Each runs in its own transaction with its row in " SCHEMA_TABLE
           "; nothing has been applied.\n",
           r->n_pending, r->n_pending == 1 ? "" : "s", r->db_version, level);
    long floor = r->db_floor;
    for (size_t i = 0; i < r->n_pending; i++) {
        const struct schema_migration *m = schema_migration_at(r->pending[i]);
        floor = schema_floor_after(floor, m);
        printf("\n-- ==== migration %ld (%s), %s, floor after: %ld, sha256 %s\n", m->version, m->name,
               schema_kind_name(m->kind), floor, m->checksum);
        fwrite(m->sql, 1, m->sql_len, stdout);
        if (m->sql_len > 0 && m->sql[m->sql_len - 1] != '\n')
            putchar('\n');
    }
    return MIGRATE_EXIT_OK;
}

static int run_read_only(struct runner *r)
{
    int rc = read_applied(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    int verdict = analyze(r);
    if (r->mode == MODE_STATUS)
        return print_status(r, verdict);
    if (verdict != MIGRATE_EXIT_OK)
        return verdict;
    rc = check_floor(r);
    return rc != MIGRATE_EXIT_OK ? rc : print_plan(r);
}

/* ---- entry point */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bollard migrate [up|status [--json]|plan]\n"
            "  up (default)  apply pending migrations, each in its own transaction, then exit\n"
            "  status        applied and pending migrations and the schema's compatibility\n"
            "  plan          print the SQL of pending migrations; applies nothing\n"
            "This binary carries %zu migration%s (level %ld).\n"
            "Exit codes: 0 ok or nothing to do; 1 migration failed (rolled back); 2 checksum mismatch or\n"
            "diverged history; 3 database incompatible with this binary (floor above its level);\n"
            "4 database unreachable; 5 lock wait timed out; 6 interrupted (rolled back); 64 usage;\n"
            "78 invalid configuration.\n",
            schema_migration_count(), schema_migration_count() == 1 ? "" : "s", schema_binary_level());
}

int migrate_main(const struct config *cfg, int argc, char **argv)
{
    struct runner r = {.cfg = cfg, .mode = MODE_UP};
    int i = 1;
    if (i < argc && strcmp(argv[i], "--help") != 0 && strcmp(argv[i], "-h") != 0 && argv[i][0] != '-') {
        if (strcmp(argv[i], "up") == 0) {
            r.mode = MODE_UP;
        } else if (strcmp(argv[i], "status") == 0) {
            r.mode = MODE_STATUS;
        } else if (strcmp(argv[i], "plan") == 0) {
            r.mode = MODE_PLAN;
        } else {
            fprintf(stderr, "bollard migrate: unknown subcommand '%s'\n", argv[i]);
            usage(stderr);
            return MIGRATE_EXIT_USAGE;
        }
        i++;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return MIGRATE_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0 && r.mode == MODE_STATUS) {
            r.json = true;
            continue;
        }
        fprintf(stderr, "bollard migrate: unexpected argument '%s'\n", argv[i]);
        usage(stderr);
        return MIGRATE_EXIT_USAGE;
    }
    if (cfg->database_is_sqlite) {
        fprintf(stderr, "bollard migrate: DATABASE_URL is a sqlite: database; this build has PostgreSQL "
                        "migrations only (`bollard dev` prepares its own SQLite file)\n");
        return MIGRATE_EXIT_FAILED;
    }

    int rc = MIGRATE_EXIT_FAILED;
    struct sigaction old_term, old_int;
    if (!install_signals(&old_term, &old_int)) {
        fprintf(stderr, "bollard migrate: cannot install signal handlers: %s\n", strerror(errno));
        return MIGRATE_EXIT_FAILED;
    }
    r.pending = calloc(schema_migration_count() + 1, sizeof(*r.pending));
    if (r.pending == NULL)
        goto cleanup;
    rc = connect_with_retry(&r);
    if (rc != MIGRATE_EXIT_OK)
        goto cleanup;
    /* Every statement is bounded, also the reads before the lock. */
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SET statement_timeout = '%ds'", cfg->migrate_statement_timeout_seconds);
    if (!command(&r, sql, "cannot set statement_timeout")) {
        rc = interrupted ? MIGRATE_EXIT_INTERRUPTED : MIGRATE_EXIT_FAILED;
        goto cleanup;
    }
    rc = r.mode == MODE_UP ? run_up(&r) : run_read_only(&r);
cleanup:
    if (rc == MIGRATE_EXIT_INTERRUPTED)
        report(&r, LOG_WARN, NULL, "interrupted by a signal; the running migration (if any) was rolled back");
    release_lock(&r);
    set_active_cancel(NULL);
    PQclear(r.applied);
    PQfinish(r.conn);
    free(r.pending);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    if (rc != MIGRATE_EXIT_OK && r.mode == MODE_UP)
        report(&r, LOG_ERROR, json_pack("{s:i}", "exit_code", rc), "migrate failed (exit %d)", rc);
    fflush(stdout);
    return rc;
}
