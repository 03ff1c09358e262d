#include "relay/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"
#include "syncconn/syncconn.h"

#define BATCH_MAX 1000

/* KEYS: stream, retry set, then one dedupe key per row that has endpoints.
 * ARGV: dedupe ttl ms, backlog max, the number of rows that have endpoints, then per such row:
 * event_id, type, body, job count, and that many endpoint ids. Rows nobody listens for are not
 * passed at all (they are only marked published), so ARGV[3] counts exactly the rows that follow.
 * Returns the number of jobs added, or -1 when the backlog is full. */
static const char publish_lua[] =
    "if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end\n"
    "local a, k, added = 4, 3, 0\n"
    "for r = 1, tonumber(ARGV[3]) do\n"
    "  local event_id, typ, body, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])\n"
    "  a = a + 4\n"
    "  if redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[1]) then\n"
    "    for j = 0, n - 1 do\n"
    "      redis.call('XADD', KEYS[1], '*', 'event_id', event_id, 'endpoint_id', ARGV[a + j], 'type', typ,\n"
    "                 'attempt', '1', 'body', body)\n"
    "    end\n"
    "    added = added + n\n"
    "  end\n"
    "  a = a + n\n"
    "  k = k + 1\n"
    "end\n"
    "return added\n";

/* The envelope receivers get is built here, once: its bytes are what every attempt signs. */
static const char select_sql[] =
    "WITH batch AS MATERIALIZED (SELECT id, event_id, user_id, task_id, type, payload, created_at "
    "FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED) "
    "SELECT b.id::text, b.event_id::text, b.type, "
    "json_build_object('id', b.event_id, 'type', b.type, 'created_at', "
    "to_char(b.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'user_id', b.user_id, "
    "'task_id', b.task_id, 'data', b.payload)::text, "
    "coalesce((SELECT string_agg(w.id::text, ',' ORDER BY w.id) FROM webhook_endpoints w "
    "WHERE w.user_id = b.user_id AND b.type = ANY (w.events)), '') "
    "FROM batch b ORDER BY b.id";

static const char mark_sql[] = "UPDATE outbox SET published_at = now() WHERE id = ANY ($1::bigint[])";

/* Only the 1,000 lowest ids are looked at, so a call never scans the table. */
static const char prune_sql[] =
    "DELETE FROM outbox WHERE id IN (SELECT id FROM (SELECT id, created_at, published_at FROM outbox "
    "ORDER BY id LIMIT 1000) s WHERE published_at IS NOT NULL AND created_at < now() - make_interval(days "
    "=> $1::int))";

struct relay {
    struct relay_config cfg;
    struct sync_pg *pg;
    struct sync_redis *redis;
    struct sync_redis_script scripts[1];
    char begin_sql[160];
};

struct relay *relay_new(const struct relay_config *cfg)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cfg = *cfg;
    if (r->cfg.batch_size < 1 || r->cfg.batch_size > BATCH_MAX)
        r->cfg.batch_size = 200;
    r->scripts[0] = (struct sync_redis_script){.name = "publish", .source = publish_lua};
    r->pg = sync_pg_new(cfg->database_url, cfg->application_name, cfg->db_connect_timeout_ms);
    r->redis = sync_redis_new(cfg->redis_url, cfg->redis_timeout_ms, r->scripts, 1);
    if (r->pg == NULL || r->redis == NULL) {
        relay_free(r);
        return NULL;
    }
    /* SET LOCAL: the settings end with the transaction, so this also works through a
     * transaction-pooling PgBouncer. The idle timeout frees the rows' locks if this process hangs
     * between publishing and committing (the dedupe keys outlive it). */
    int idle_ms = 4 * cfg->redis_timeout_ms + 5000;
    snprintf(r->begin_sql, sizeof(r->begin_sql),
             "BEGIN; SET LOCAL statement_timeout = %d; SET LOCAL idle_in_transaction_session_timeout = %d",
             cfg->db_query_timeout_ms, idle_ms);
    return r;
}

void relay_free(struct relay *r)
{
    if (r == NULL)
        return;
    sync_pg_free(r->pg);
    sync_redis_free(r->redis);
    free(r);
}

bool relay_schema_ok(struct relay *r, char *why, size_t cap)
{
    char state[6];
    PGresult *res =
        sync_pg_exec(r->pg, schema_state_sql(), 0, NULL, r->cfg.db_query_timeout_ms, why, cap, state);
    if (res == NULL) {
        if (strcmp(state, "42P01") == 0)
            return schema_compat_evaluate(0, 0, why, cap) == SCHEMA_COMPATIBLE;
        return false;
    }
    bool ok = false;
    if (PQntuples(res) == 1) {
        long version = PQgetisnull(res, 0, 0) ? 0 : strtol(PQgetvalue(res, 0, 0), NULL, 10);
        long floor = PQgetisnull(res, 0, 1) ? 0 : strtol(PQgetvalue(res, 0, 1), NULL, 10);
        ok = schema_compat_evaluate(version, floor, why, cap) == SCHEMA_COMPATIBLE;
    } else {
        snprintf(why, cap, "the schema state query returned %d rows", PQntuples(res));
    }
    PQclear(res);
    return ok;
}

static bool simple(struct relay *r, const char *sql, char *why, size_t cap)
{
    PGresult *res = sync_pg_exec(r->pg, sql, 0, NULL, r->cfg.db_query_timeout_ms, why, cap, NULL);
    PQclear(res);
    return res != NULL;
}

/* Ends the transaction without publishing anything; dropping the connection is the fallback. */
static void rollback(struct relay *r)
{
    char ignored[SYNCCONN_WHY_MAX];
    if (sync_pg_connected(r->pg) && !simple(r, "ROLLBACK", ignored, sizeof(ignored)))
        sync_pg_drop(r->pg);
}

struct batch {
    size_t argc, cap;
    const char **argv;
    size_t *argvlen;
    char **owned; /* strings this batch allocated */
    size_t n_owned;
};

static bool push(struct batch *b, const char *s, size_t len)
{
    if (b->argc == b->cap) {
        size_t cap = b->cap == 0 ? 64 : b->cap * 2;
        const char **argv = realloc(b->argv, cap * sizeof(*argv));
        if (argv == NULL)
            return false;
        b->argv = argv;
        size_t *lens = realloc(b->argvlen, cap * sizeof(*lens));
        if (lens == NULL)
            return false;
        b->argvlen = lens;
        b->cap = cap;
    }
    b->argv[b->argc] = s;
    b->argvlen[b->argc] = len;
    b->argc++;
    return true;
}

static const char *own(struct batch *b, char *s)
{
    if (s == NULL)
        return NULL;
    char **owned = realloc(b->owned, (b->n_owned + 1) * sizeof(*owned));
    if (owned == NULL) {
        free(s);
        return NULL;
    }
    b->owned = owned;
    b->owned[b->n_owned++] = s;
    return s;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->argv);
    free(b->argvlen);
}

static char *format(const char *fmt, const char *a, const char *b)
{
    char *out = NULL;
    return asprintf(&out, fmt, a, b) < 0 ? NULL : out;
}

int relay_step(struct relay *r, long *jobs_out, char *why, size_t cap)
{
    int rc = RELAY_ERR_DB;
    PGresult *res = NULL;
    redisReply *reply = NULL;
    struct batch keys = {0}, args = {0}, dedupe = {0};
    char *ids = NULL;
    if (jobs_out != NULL)
        *jobs_out = 0;
    /* Redis first: without it nothing can be published, and no row should be locked meanwhile. */
    if (sync_redis_get(r->redis, why, cap) == NULL)
        return RELAY_ERR_REDIS;
    if (!simple(r, r->begin_sql, why, cap))
        return RELAY_ERR_DB;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", r->cfg.batch_size);
    const char *params[1] = {limit};
    char state[6];
    res = sync_pg_exec(r->pg, select_sql, 1, params, r->cfg.db_query_timeout_ms, why, cap, state);
    if (res == NULL) {
        if (strcmp(state, "42P01") == 0)
            rc = RELAY_ERR_SCHEMA;
        goto fail;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        rc = simple(r, "COMMIT", why, cap) ? 0 : RELAY_ERR_DB;
        goto done;
    }

    /* EVALSHA sha numkeys stream retry dedupe… ttl backlog listened-rows per-row… */
    char ttl[24], backlog[24], nlistened[16];
    int listened = 0; /* rows with at least one matching endpoint: the only ones the script sees */
    size_t ids_len = 2;
    for (int i = 0; i < rows; i++) {
        ids_len += (size_t)PQgetlength(res, i, 0) + 1;
        listened += PQgetvalue(res, i, 4)[0] != '\0';
    }
    snprintf(ttl, sizeof(ttl), "%ld", r->cfg.dedupe_ttl_ms);
    snprintf(backlog, sizeof(backlog), "%ld", r->cfg.backlog_max);
    snprintf(nlistened, sizeof(nlistened), "%d", listened);
    bool ok = push(&keys, r->cfg.stream_key, strlen(r->cfg.stream_key)) &&
              push(&keys, r->cfg.retry_key, strlen(r->cfg.retry_key)) && push(&args, ttl, strlen(ttl)) &&
              push(&args, backlog, strlen(backlog)) && push(&args, nlistened, strlen(nlistened));
    for (int i = 0; ok && i < rows; i++) {
        const char *endpoints = PQgetvalue(res, i, 4);
        if (endpoints[0] == '\0')
            continue; /* nobody listens for it: only marked published */
        const char *key = own(&dedupe, format("%s%s", r->cfg.dedupe_prefix, PQgetvalue(res, i, 1)));
        int n = 1;
        for (const char *p = endpoints; *p != '\0'; p++)
            n += *p == ',';
        char *count = NULL;
        ok = key != NULL && push(&keys, key, strlen(key)) && push(&dedupe, key, strlen(key)) &&
             push(&args, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1)) &&
             push(&args, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2)) &&
             push(&args, PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3)) &&
             asprintf(&count, "%d", n) >= 0 && own(&args, count) != NULL && push(&args, count, strlen(count));
        /* endpoint ids are fixed-size uuids separated by commas; point into the result text */
        for (const char *p = endpoints; ok && *p != '\0';) {
            size_t len = strcspn(p, ",");
            ok = push(&args, p, len);
            p += len + (p[len] == ',');
        }
    }
    if (!ok) {
        snprintf(why, cap, "out of memory building the batch");
        goto fail;
    }
    /* Full command: EVALSHA sha numkeys KEYS… ARGV… */
    struct batch cmd = {0};
    char numkeys[16];
    snprintf(numkeys, sizeof(numkeys), "%zu", keys.argc);
    ok =
        push(&cmd, "EVALSHA", 7) && push(&cmd, r->scripts[0].sha, 40) && push(&cmd, numkeys, strlen(numkeys));
    for (size_t i = 0; ok && i < keys.argc; i++)
        ok = push(&cmd, keys.argv[i], keys.argvlen[i]);
    for (size_t i = 0; ok && i < args.argc; i++)
        ok = push(&cmd, args.argv[i], args.argvlen[i]);
    if (ok)
        reply = sync_redis_command(r->redis, (int)cmd.argc, cmd.argv, cmd.argvlen, why, cap);
    batch_free(&cmd);
    if (!ok) {
        snprintf(why, cap, "out of memory building the batch");
        goto fail;
    }
    if (reply == NULL) {
        rc = RELAY_ERR_REDIS;
        goto fail;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        /* Redis answered, so it is not an outage; `why` holds its error (set for error replies). */
        if (reply->type != REDIS_REPLY_ERROR)
            snprintf(why, cap, "the publish script returned reply type %d, not an integer", reply->type);
        rc = RELAY_ERR_PUBLISH;
        goto fail;
    }
    if (reply->integer < 0) {
        snprintf(why, cap, "the jobs backlog is at its bound (%ld); events wait in the outbox",
                 r->cfg.backlog_max);
        rc = RELAY_BACKLOG;
        goto fail;
    }
    if (jobs_out != NULL)
        *jobs_out = (long)reply->integer;

    ids = malloc(ids_len + 1);
    if (ids == NULL) {
        snprintf(why, cap, "out of memory");
        goto fail;
    }
    size_t o = 0;
    ids[o++] = '{';
    for (int i = 0; i < rows; i++) {
        if (i > 0)
            ids[o++] = ',';
        size_t len = (size_t)PQgetlength(res, i, 0);
        memcpy(ids + o, PQgetvalue(res, i, 0), len);
        o += len;
    }
    ids[o++] = '}';
    ids[o] = '\0';
    const char *mark_params[1] = {ids};
    PGresult *marked =
        sync_pg_exec(r->pg, mark_sql, 1, mark_params, r->cfg.db_query_timeout_ms, why, cap, NULL);
    if (marked == NULL)
        goto fail;
    PQclear(marked);
    if (!simple(r, "COMMIT", why, cap)) {
        /* Maybe committed, maybe not: the dedupe keys stay until their TTL, so a second publish of
         * these rows (if the commit did not happen) adds nothing. */
        rc = RELAY_ERR_DB;
        goto done;
    }
    rc = rows;
    if (dedupe.argc > 0) {
        struct batch unlink = {0};
        char ignored[SYNCCONN_WHY_MAX];
        bool built = push(&unlink, "UNLINK", 6);
        for (size_t i = 0; built && i < dedupe.argc; i++)
            built = push(&unlink, dedupe.argv[i], dedupe.argvlen[i]);
        if (built) {
            /* Best effort: a key that stays simply expires. */
            redisReply *u = sync_redis_command(r->redis, (int)unlink.argc, unlink.argv, unlink.argvlen,
                                               ignored, sizeof(ignored));
            freeReplyObject(u);
        }
        batch_free(&unlink);
    }
    goto done;
fail:
    rollback(r);
done:
    if (reply != NULL)
        freeReplyObject(reply);
    PQclear(res);
    free(ids);
    batch_free(&keys);
    batch_free(&args);
    batch_free(&dedupe);
    return rc;
}

long relay_prune(struct relay *r, char *why, size_t cap)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", r->cfg.retention_days);
    const char *params[1] = {days};
    PGresult *res = sync_pg_exec(r->pg, prune_sql, 1, params, r->cfg.db_query_timeout_ms, why, cap, NULL);
    if (res == NULL)
        return -1;
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}
