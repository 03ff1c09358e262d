/* The PostgreSQL dialect of the outbox (see outbox.h), over a pkg/syncconn connection. */
#include "outbox/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"
#include "syncconn/syncconn.h"

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

static const char lookup_sql[] =
    "SELECT id::text, url, secret FROM webhook_endpoints WHERE id = ANY ($1::uuid[])";

/* At most one row per (event, endpoint): a dead letter recorded again after a crash adds nothing. */
static const char failure_sql[] =
    "INSERT INTO webhook_failures (event_id, endpoint_id, attempts, last_status, last_error) "
    "SELECT $1::uuid, $2::uuid, $3::int, $4::int, $5 WHERE NOT EXISTS (SELECT 1 FROM webhook_failures "
    "WHERE endpoint_id = $2::uuid AND event_id = $1::uuid)";

/* Parallel arrays: one element per (event, endpoint). A delivery tracked already keeps its row. */
static const char track_sql[] =
    "INSERT INTO outbox_deliveries (event_id, endpoint_id, redis_seq) SELECT e, p, $3::bigint FROM "
    "unnest($1::uuid[], $2::uuid[]) AS t(e, p) ON CONFLICT (event_id, endpoint_id) DO NOTHING";

/* The relay tracks deliveries in the transaction that publishes them, and its jobs can be delivered
 * before that transaction commits: a DELETE then would find nothing and the row, committed a moment
 * later, would stay. The relay holds its outbox rows FOR UPDATE until it commits, so this lock waits
 * for it (a few milliseconds, bounded by the statement timeout); the DELETE that follows, a statement
 * of its own, sees what it committed. */
static const char settled_wait_sql[] = "SELECT 1 FROM outbox WHERE event_id = ANY ($1::uuid[]) FOR KEY SHARE";

static const char settled_sql[] =
    "DELETE FROM outbox_deliveries d USING unnest($1::uuid[], $2::uuid[]) AS t(e, p) "
    "WHERE d.event_id = t.e AND d.endpoint_id = t.p";

static const char tracked_max_sql[] =
    "SELECT coalesce((SELECT redis_seq FROM outbox_deliveries ORDER BY redis_seq DESC LIMIT 1), 0)::text, "
    "coalesce((SELECT max(id) FROM outbox_deliveries), 0)::text";

/* The same envelope as select_sql, byte for byte: a re-enqueued job signs what the first one did. */
static const char tracked_sql[] =
    "SELECT d.id::text, b.event_id::text, b.type, "
    "json_build_object('id', b.event_id, 'type', b.type, 'created_at', "
    "to_char(b.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'user_id', b.user_id, "
    "'task_id', b.task_id, 'data', b.payload)::text, d.endpoint_id::text "
    "FROM outbox_deliveries d JOIN outbox b ON b.event_id = d.event_id "
    "WHERE d.id > $1::bigint AND d.id <= $2::bigint ORDER BY d.id LIMIT $3::int";

struct pg_outbox {
    struct outbox base;
    struct syncconn_pg *pg;
    int timeout_ms;
    char begin_sql[160];
};

static PGresult *exec(struct pg_outbox *o, const char *sql, int n, const char *const *params, char *why,
                      size_t cap, char *state)
{
    return syncconn_pg_exec(o->pg, sql, n, params, o->timeout_ms, why, cap, state);
}

static bool simple(struct pg_outbox *o, const char *sql, char *why, size_t cap)
{
    PGresult *res = exec(o, sql, 0, NULL, why, cap, NULL);
    PQclear(res);
    return res != NULL;
}

static bool schema_ok(struct outbox *base, char *why, size_t cap)
{
    char state[6];
    PGresult *res = exec((struct pg_outbox *)base, schema_state_sql(), 0, NULL, why, cap, state);
    if (res == NULL)
        return strcmp(state, "42P01") == 0 && schema_compat_evaluate(0, 0, why, cap) == SCHEMA_COMPATIBLE;
    bool ok = false;
    if (PQntuples(res) == 1) {
        long version = PQgetisnull(res, 0, 0) ? 0 : strtol(PQgetvalue(res, 0, 0), NULL, 10);
        long floor = PQgetisnull(res, 0, 1) ? 0 : strtol(PQgetvalue(res, 0, 1), NULL, 10);
        ok = schema_compat_evaluate(version, floor, why, cap) == SCHEMA_COMPATIBLE;
    } else {
        base_why(why, cap, "the schema state query returned %d rows", PQntuples(res));
    }
    PQclear(res);
    return ok;
}

static void rollback(struct outbox *base)
{
    struct pg_outbox *o = (struct pg_outbox *)base;
    char ignored[SYNCCONN_WHY_MAX];
    /* Dropping the connection is the fallback: the server rolls back. */
    if (syncconn_pg_connected(o->pg) && !simple(o, "ROLLBACK", ignored, sizeof(ignored)))
        syncconn_pg_drop(o->pg);
}

/* The rows of a select (row id, event id, type, body, endpoints) as queue events; the strings stay
 * in `res`, which rows_free clears. */
static enum outbox_status rows_from(PGresult *res, struct outbox_rows *rows, char *why, size_t cap)
{
    rows->n = PQntuples(res);
    rows->result = res;
    rows->events = calloc((size_t)rows->n + 1, sizeof(*rows->events));
    if (rows->events == NULL) {
        base_why(why, cap, "out of memory");
        return OUTBOX_ERR_DB;
    }
    for (int i = 0; i < rows->n; i++)
        rows->events[i] = (struct queue_event){.row_id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
                                               .event_id = PQgetvalue(res, i, 1),
                                               .type = PQgetvalue(res, i, 2),
                                               .body = PQgetvalue(res, i, 3),
                                               .body_len = (size_t)PQgetlength(res, i, 3),
                                               .endpoints = PQgetvalue(res, i, 4)};
    return OUTBOX_OK;
}

static enum outbox_status read_rows(struct outbox *base, long long after, int limit, struct outbox_rows *rows,
                                    char *why, size_t cap)
{
    struct pg_outbox *o = (struct pg_outbox *)base;
    (void)after; /* every unpublished row: one committed late may have a lower id */
    if (!simple(o, o->begin_sql, why, cap))
        return OUTBOX_ERR_DB;
    char n[16], state[6];
    snprintf(n, sizeof(n), "%d", limit);
    const char *params[1] = {n};
    PGresult *res = exec(o, select_sql, 1, params, why, cap, state);
    if (res == NULL)
        return strcmp(state, "42P01") == 0 ? OUTBOX_ERR_SCHEMA : OUTBOX_ERR_DB;
    return rows_from(res, rows, why, cap);
}

static void rows_free(struct outbox_rows *rows)
{
    PQclear(rows->result);
    free(rows->events);
}

static bool mark(struct outbox *base, const long long *ids, int n, char *why, size_t cap)
{
    char *text = malloc((size_t)n * 21 + 3);
    if (text == NULL) {
        base_why(why, cap, "out of memory");
        return false;
    }
    size_t o = 0;
    text[o++] = '{';
    for (int i = 0; i < n; i++)
        o += (size_t)sprintf(text + o, "%s%lld", i > 0 ? "," : "", ids[i]);
    text[o++] = '}';
    text[o] = '\0';
    const char *params[1] = {text};
    PGresult *res = exec((struct pg_outbox *)base, mark_sql, 1, params, why, cap, NULL);
    free(text);
    PQclear(res);
    return res != NULL;
}

/* "{a,b,…}" of n strings (uuids or numbers: nothing to quote); NULL on out of memory. */
static char *array_text(const char *const *items, int n)
{
    size_t len = 3;
    for (int i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *text = malloc(len);
    if (text == NULL)
        return NULL;
    size_t o = 0;
    text[o++] = '{';
    for (int i = 0; i < n; i++) {
        size_t l = strlen(items[i]);
        if (i > 0)
            text[o++] = ',';
        memcpy(text + o, items[i], l);
        o += l;
    }
    text[o++] = '}';
    text[o] = '\0';
    return text;
}

static bool settled(struct outbox *base, const char *const *event_ids, const char *const *endpoint_ids, int n,
                    char *why, size_t cap)
{
    char *events = array_text(event_ids, n), *endpoints = array_text(endpoint_ids, n);
    bool ok = false;
    if (events == NULL || endpoints == NULL) {
        base_why(why, cap, "out of memory");
        goto done;
    }
    const char *params[2] = {events, endpoints};
    PGresult *res = exec((struct pg_outbox *)base, settled_wait_sql, 1, params, why, cap, NULL);
    if (res == NULL)
        goto done;
    PQclear(res);
    res = exec((struct pg_outbox *)base, settled_sql, 2, params, why, cap, NULL);
    ok = res != NULL;
    PQclear(res);
done:
    free(events);
    free(endpoints);
    return ok;
}

static bool track(struct outbox *base, const struct queue_event *events, int n, long long seq, char *why,
                  size_t cap)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        for (const char *p = events[i].endpoints; *p != '\0';
             p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
            count++;
    if (count == 0)
        return true;
    bool ok = false;
    char *ev = NULL, *ep = NULL;
    const char **ev_ids = calloc((size_t)count, sizeof(*ev_ids));
    char(*ep_ids)[BASE_UUID_LEN + 1] = calloc((size_t)count, sizeof(*ep_ids));
    const char **ep_ptrs = calloc((size_t)count, sizeof(*ep_ptrs));
    if (ev_ids == NULL || ep_ids == NULL || ep_ptrs == NULL) {
        base_why(why, cap, "out of memory");
        goto done;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        for (const char *p = events[i].endpoints; *p != '\0';) {
            size_t len = strcspn(p, ",");
            snprintf(ep_ids[k], sizeof(ep_ids[k]), "%.*s", (int)(len < BASE_UUID_LEN ? len : BASE_UUID_LEN),
                     p);
            ep_ptrs[k] = ep_ids[k];
            ev_ids[k++] = events[i].event_id;
            p += len + (p[len] == ',');
        }
    ev = array_text(ev_ids, count);
    ep = array_text(ep_ptrs, count);
    if (ev == NULL || ep == NULL) {
        base_why(why, cap, "out of memory");
        goto done;
    }
    char s[24];
    snprintf(s, sizeof(s), "%lld", seq);
    const char *params[3] = {ev, ep, s};
    PGresult *res = exec((struct pg_outbox *)base, track_sql, 3, params, why, cap, NULL);
    ok = res != NULL;
    PQclear(res);
done:
    free(ev);
    free(ep);
    free(ev_ids);
    free(ep_ids);
    free(ep_ptrs);
    return ok;
}

static bool tracked_max(struct outbox *base, long long *seq, long long *id, char *why, size_t cap)
{
    PGresult *res = exec((struct pg_outbox *)base, tracked_max_sql, 0, NULL, why, cap, NULL);
    if (res == NULL)
        return false;
    bool ok = PQntuples(res) == 1;
    if (ok) {
        *seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    } else {
        base_why(why, cap, "the tracked deliveries query returned %d rows", PQntuples(res));
    }
    PQclear(res);
    return ok;
}

static enum outbox_status tracked_read(struct outbox *base, long long after, long long upto, int limit,
                                       struct outbox_rows *rows, char *why, size_t cap)
{
    char a[24], u[24], l[16], state[6];
    snprintf(a, sizeof(a), "%lld", after);
    snprintf(u, sizeof(u), "%lld", upto);
    snprintf(l, sizeof(l), "%d", limit);
    const char *params[3] = {a, u, l};
    PGresult *res = exec((struct pg_outbox *)base, tracked_sql, 3, params, why, cap, state);
    if (res == NULL)
        return strcmp(state, "42P01") == 0 ? OUTBOX_ERR_SCHEMA : OUTBOX_ERR_DB;
    return rows_from(res, rows, why, cap);
}

static bool commit(struct outbox *base, char *why, size_t cap)
{
    return simple((struct pg_outbox *)base, "COMMIT", why, cap);
}

static long prune(struct outbox *base, char *why, size_t cap)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", OUTBOX_RETENTION_DAYS);
    const char *params[1] = {days};
    PGresult *res = exec((struct pg_outbox *)base, prune_sql, 1, params, why, cap, NULL);
    if (res == NULL)
        return -1;
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}

static bool endpoints(struct outbox *base, const char *const *ids, int n, outbox_endpoint_fn fn, void *user,
                      char *why, size_t cap)
{
    char *text = malloc((size_t)n * (BASE_UUID_LEN + 1) + 3);
    if (text == NULL) {
        base_why(why, cap, "out of memory");
        return false;
    }
    size_t o = 0;
    text[o++] = '{';
    for (int i = 0; i < n; i++)
        o += (size_t)sprintf(text + o, "%s%.36s", i > 0 ? "," : "", ids[i]);
    text[o++] = '}';
    text[o] = '\0';
    const char *params[1] = {text};
    PGresult *res = exec((struct pg_outbox *)base, lookup_sql, 1, params, why, cap, NULL);
    free(text);
    if (res == NULL)
        return false;
    for (int r = 0; r < PQntuples(res); r++)
        fn(user, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
    PQclear(res);
    return true;
}

static bool record_failure(struct outbox *base, const char *event_id, const char *endpoint_id, int attempts,
                           long status, const char *error, char *why, size_t cap)
{
    char a[16], s[16];
    snprintf(a, sizeof(a), "%d", attempts);
    snprintf(s, sizeof(s), "%ld", status);
    const char *params[5] = {event_id, endpoint_id, a, status > 0 ? s : NULL, error};
    PGresult *res = exec((struct pg_outbox *)base, failure_sql, 5, params, why, cap, NULL);
    PQclear(res);
    return res != NULL;
}

static void pg_free(struct outbox *base)
{
    struct pg_outbox *o = (struct pg_outbox *)base;
    syncconn_pg_free(o->pg);
    free(o);
}

static const struct outbox_ops pg_ops = {
    .schema_ok = schema_ok,
    .read = read_rows,
    .rows_free = rows_free,
    .mark = mark,
    .commit = commit,
    .rollback = rollback,
    .prune = prune,
    .endpoints = endpoints,
    .record_failure = record_failure,
    .track = track,
    .settled = settled,
    .tracked_max = tracked_max,
    .tracked_read = tracked_read,
    .free = pg_free,
};

struct outbox *outbox_pg_new(const struct outbox_pg_config *cfg)
{
    struct pg_outbox *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->base.ops = &pg_ops;
    o->timeout_ms = cfg->query_timeout_ms;
    /* SET LOCAL: the settings end with the transaction, so this also works through a
     * transaction-pooling PgBouncer. The idle timeout frees the rows' locks if this process hangs
     * between publishing and committing (the queue's dedupe keys outlive it). */
    snprintf(o->begin_sql, sizeof(o->begin_sql),
             "BEGIN; SET LOCAL statement_timeout = %d; SET LOCAL idle_in_transaction_session_timeout = %d",
             cfg->query_timeout_ms, cfg->idle_in_transaction_ms);
    o->pg = syncconn_pg_new(cfg->url, cfg->application_name, cfg->connect_timeout_ms);
    if (o->pg == NULL) {
        free(o);
        return NULL;
    }
    return &o->base;
}
