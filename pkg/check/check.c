/* check: `bollard check`, the start-up preconditions as a one-shot command (CONTRACT §2).
 * A CLI, so synchronous libpq and pkg/syncconn. One line on stderr per failing check, never a secret. */
#include "check/check.h"
#include "rediscluster/rediscluster.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>
#include <libpq-fe.h>

#include "base/base.h"
#include "syncconn/syncconn.h"
#include "schema/schema.h"

#define TEXT_MAX 512

/* ---- database and schema */

static PGconn *connect_db(const struct config *cfg, char *why, size_t cap)
{
    char timeout_text[24];
    int seconds = (cfg->db_connect_timeout_ms + 999) / 1000;
    snprintf(timeout_text, sizeof(timeout_text), "%d", seconds < 2 ? 2 : seconds); /* libpq's minimum */
    const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
    const char *values[] = {cfg->database_url, "bollard-check", timeout_text, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return conn;
    base_one_line(conn != NULL ? PQerrorMessage(conn) : "out of memory", why, cap);
    PQfinish(conn);
    return NULL;
}

/* Returns true when compatible; otherwise writes the reason. */
static bool check_schema(const struct config *cfg, PGconn *conn, char *why, size_t cap)
{
    bool ok = false;
    char sql[80];
    /* SET LOCAL in a transaction: nothing sticks to a pooled server connection (PgBouncer). */
    snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL statement_timeout = %d", cfg->db_query_timeout_ms);
    PGresult *res = PQexec(conn, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        base_one_line(PQerrorMessage(conn), why, cap);
        goto cleanup;
    }
    PQclear(res);
    res = PQexec(conn, schema_state_sql());
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state != NULL && strcmp(state, "42P01") == 0) {
            ok = schema_compat_evaluate(0, 0, why, cap) == SCHEMA_COMPATIBLE;
        } else {
            char err[TEXT_MAX];
            base_one_line(PQerrorMessage(conn), err, sizeof(err));
            base_why(why, cap, "cannot read the schema version: %s", err);
        }
        goto cleanup;
    }
    long version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    long floor = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    ok = schema_compat_evaluate(version, floor, why, cap) == SCHEMA_COMPATIBLE;
cleanup:
    PQclear(res);
    PQclear(PQexec(conn, "ROLLBACK")); /* a read only: ends the transaction, if one was opened */
    return ok;
}

/* ---- Redis: the workers' own connection code (pkg/syncconn), TLS and AUTH/SELECT included */

static bool check_redis(const struct config *cfg, char *why, size_t cap)
{
    char reason[TEXT_MAX];
    bool ok = false;
    struct syncconn_redis *r =
        syncconn_redis_new(cfg->redis_url, cfg->redis_timeout_ms, &cfg->redis_tls, NULL, 0);
    if (r == NULL) {
        base_why(why, cap,
                 "REDIS_URL must look like redis[s]://[[user]:password@]host[:port][,host[:port]…][/db]");
        return false;
    }
    /* A read of the home slot, as readiness does: a cluster that cannot serve it says CLUSTERDOWN. */
    static const char *const probe[] = {"EXISTS", REDISCLUSTER_HOME_KEY};
    redisReply *reply = syncconn_redis_command(r, 2, (const char **)probe, NULL, reason, sizeof(reason));
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        ok = true;
    else if (reply != NULL)
        base_why(reason, sizeof(reason), "%s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply to EXISTS");
    if (reply != NULL)
        freeReplyObject(reply);
    syncconn_redis_free(r);
    if (!ok) {
        /* Redis error texts name the problem (WRONGPASS, NOAUTH, …), never the password. Its
         * reasons start with "redis "; this command's lines start with "redis: " already. */
        const char *text = strncmp(reason, "redis ", 6) == 0 ? reason + 6 : reason;
        base_one_line(text, why, cap);
    }
    return ok;
}

int check_args(int argc, char **argv)
{
    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(
            help ? stdout : stderr,
            "usage: bollard check\n"
            "Checks configuration, database reachability, schema compatibility (this binary: level %ld) and\n"
            "Redis; prints one line per failing check on stderr. Exit codes: 0 all pass; 1 a check failed;\n"
            "64 usage; 78 invalid configuration.\n",
            schema_binary_level());
        return help ? BASE_EXIT_OK : BASE_EXIT_USAGE;
    }
    return -1;
}

int check_main(const struct config *cfg, int argc, char **argv)
{
    int args = check_args(argc, argv);
    if (args >= 0)
        return args;
    /* The configuration was loaded and validated (exit 78 otherwise) before this runs. */
    signal(SIGPIPE, SIG_IGN); /* a server closing a TLS session on us is an error return, not death */
    int failures = 0;
    char why[TEXT_MAX];

    if (cfg->database_is_sqlite) {
        fprintf(stderr,
                "database: sqlite: databases are not checked by this command (they are used by `bollard "
                "dev` only)\n");
        failures++;
    } else {
        PGconn *conn = connect_db(cfg, why, sizeof(why));
        if (conn == NULL) {
            fprintf(stderr, "database: not reachable: %s\n", why);
            fprintf(stderr, "schema: not checked: the database is not reachable\n");
            failures += 2;
        } else {
            if (!check_schema(cfg, conn, why, sizeof(why))) {
                fprintf(stderr, "schema: %s\n", why);
                failures++;
            }
            PQfinish(conn);
        }
    }
    if (!check_redis(cfg, why, sizeof(why))) {
        fprintf(stderr, "redis: %s\n", why);
        failures++;
    }
    if (failures > 0)
        return BASE_EXIT_FAILURE;
    printf("ok: configuration, database, schema (level %ld), redis\n", schema_binary_level());
    return BASE_EXIT_OK;
}
