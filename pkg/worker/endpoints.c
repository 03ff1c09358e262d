/* Endpoints (URL + signing secret) for deliveries, read from PostgreSQL at delivery time — secrets
 * are never copied into Redis — and kept in a small bounded cache; failure records. */
#include "worker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "log/log.h"

static const char lookup_sql[] =
    "SELECT id::text, url, secret FROM webhook_endpoints WHERE id = ANY ($1::uuid[])";

/* At most one row per (event, endpoint): a dead letter recorded again after a crash adds nothing. */
static const char failure_sql[] =
    "INSERT INTO webhook_failures (event_id, endpoint_id, attempts, last_status, last_error) "
    "SELECT $1::uuid, $2::uuid, $3::int, $4::int, $5 WHERE NOT EXISTS (SELECT 1 FROM webhook_failures "
    "WHERE endpoint_id = $2::uuid AND event_id = $1::uuid)";

static unsigned slot_of(const char *id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % WORKER_ENDPOINT_SLOTS;
}

static void endpoint_clear(struct endpoint *e)
{
    free(e->url);
    if (e->secret != NULL) {
        OPENSSL_cleanse(e->secret, strlen(e->secret));
        free(e->secret);
    }
    memset(e, 0, sizeof(*e));
}

void worker_endpoints_clear(struct worker *w)
{
    for (int i = 0; i < WORKER_ENDPOINT_SLOTS; i++)
        endpoint_clear(&w->endpoints[i]);
}

static const struct endpoint *cached(const struct worker *w, const char *id, uint64_t now)
{
    const struct endpoint *e = &w->endpoints[slot_of(id)];
    return e->url != NULL && now < e->expires && strcmp(e->id, id) == 0 ? e : NULL;
}

static void cache_put(struct worker *w, const char *id, const char *url, const char *secret, uint64_t now)
{
    struct endpoint *e = &w->endpoints[slot_of(id)];
    endpoint_clear(e);
    e->url = strdup(url);
    e->secret = strdup(secret);
    if (e->url == NULL || e->secret == NULL) {
        endpoint_clear(e);
        return;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->expires = now + WORKER_ENDPOINT_TTL;
}

static void db_failed(struct worker *w, const char *why)
{
    if (w->db_up)
        log_write(LOG_WARN, NULL, "database unavailable for endpoint lookups; jobs deferred",
                  json_pack("{s:s,s:i}", "error", why, "defer_ms", WORKER_DEFER_MS));
    w->db_up = false;
}

static int pg_bound(const struct worker *w)
{
    return w->cfg->db_query_timeout_ms < WORKER_PG_BOUND_MS ? w->cfg->db_query_timeout_ms
                                                            : WORKER_PG_BOUND_MS;
}

/* Loads the endpoints of NEW jobs missing from the cache. Returns false when the database could
 * not answer. `asked` lists the ids looked up; *rows (caller PQclear()s it; NULL when nothing was
 * asked) is the answer, so a row whose cache slot was taken by another id of the same batch (the
 * cache is direct-mapped) is still found, and only an id absent from it means "deleted". */
static bool load_missing(struct worker *w, uint64_t now, char *asked, size_t cap, PGresult **rows)
{
    *rows = NULL;
    size_t o = 0;
    asked[o++] = '{';
    asked[o] = '\0'; /* searched below while it grows */
    int n = 0;
    for (int i = 0; i < w->capacity; i++) {
        struct job *j = &w->jobs[i];
        if (j->state != JOB_NEW || cached(w, j->endpoint_id, now) != NULL)
            continue;
        if (strstr(asked, j->endpoint_id) != NULL)
            continue;
        if (o + BASE_UUID_LEN + 3 > cap)
            break; /* the rest is looked up on the next batch */
        if (n++ > 0)
            asked[o++] = ',';
        memcpy(asked + o, j->endpoint_id, BASE_UUID_LEN);
        o += BASE_UUID_LEN;
        asked[o] = '\0';
    }
    asked[o++] = '}';
    asked[o] = '\0';
    if (n == 0)
        return true;
    char why[SYNCCONN_WHY_MAX];
    const char *params[1] = {asked};
    PGresult *res = sync_pg_exec(w->pg, lookup_sql, 1, params, pg_bound(w), why, sizeof(why), NULL);
    if (res == NULL) {
        db_failed(w, why);
        return false;
    }
    if (!w->db_up)
        log_write(LOG_INFO, NULL, "database available again", NULL);
    w->db_up = true;
    for (int r = 0; r < PQntuples(res); r++)
        cache_put(w, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), now);
    *rows = res;
    return true;
}

/* The endpoint from the cache, else from this batch's answer (pointing into `rows`); NULL: neither. */
static const struct endpoint *find_endpoint(const struct worker *w, const char *id, uint64_t now,
                                            const PGresult *rows, struct endpoint *scratch)
{
    const struct endpoint *e = cached(w, id, now);
    if (e != NULL || rows == NULL)
        return e;
    for (int r = 0; r < PQntuples(rows); r++) {
        if (strcmp(PQgetvalue(rows, r, 0), id) == 0) {
            snprintf(scratch->id, sizeof(scratch->id), "%s", id);
            scratch->url = PQgetvalue(rows, r, 1);
            scratch->secret = PQgetvalue(rows, r, 2);
            return scratch;
        }
    }
    return NULL;
}

void worker_start_new_jobs(struct worker *w)
{
    uint64_t now = base_now_ms();
    char asked[(BASE_UUID_LEN + 1) * 256 + 4];
    asked[0] = '\0';
    PGresult *rows = NULL;
    bool db_ok = load_missing(w, now, asked, sizeof(asked), &rows);
    struct endpoint scratch = {0};
    for (int i = 0; i < w->capacity; i++) {
        struct job *j = &w->jobs[i];
        if (j->state != JOB_NEW)
            continue;
        const struct endpoint *e = find_endpoint(w, j->endpoint_id, now, rows, &scratch);
        if (e == NULL) {
            if (db_ok && strstr(asked, j->endpoint_id) != NULL) {
                /* Deleted since the event was published: nobody to deliver to any more. */
                log_write(LOG_INFO, NULL, "endpoint no longer exists; delivery dropped",
                          json_pack("{s:s,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id));
                w->stats.dropped++;
                worker_job_done(j, OUT_ACK, 0, 0, "endpoint deleted");
            } else {
                worker_job_done(j, OUT_DEFER, 0, WORKER_DEFER_MS, "database unavailable");
            }
            continue;
        }
        struct delivery_request req = {.url = e->url,
                                       .secret = e->secret,
                                       .event_id = j->event_id,
                                       .event_type = j->type,
                                       .attempt = j->attempt,
                                       .body = j->body,
                                       .body_len = j->body_len,
                                       .user = j};
        char why[DELIVERY_ERROR_MAX];
        if (!delivery_start(w->pool, &req, why, sizeof(why))) {
            log_write(LOG_ERROR, NULL, "cannot start a delivery; deferred", json_pack("{s:s}", "error", why));
            worker_job_done(j, OUT_DEFER, 0, WORKER_DEFER_MS, why);
            continue;
        }
        j->state = JOB_DELIVERING;
    }
    PQclear(rows); /* delivery_start copied what it needs (curl copies the URL) */
}

void worker_record_failure(struct worker *w, struct job *job)
{
    char attempts[16], status[16], why[SYNCCONN_WHY_MAX];
    snprintf(attempts, sizeof(attempts), "%d", job->attempt);
    snprintf(status, sizeof(status), "%ld", job->status);
    const char *params[5] = {job->event_id, job->endpoint_id, attempts, job->status > 0 ? status : NULL,
                             job->error[0] != '\0' ? job->error : "failed"};
    PGresult *res = sync_pg_exec(w->pg, failure_sql, 5, params, pg_bound(w), why, sizeof(why), NULL);
    if (res == NULL) {
        /* The dead-letter stream still gets it; the table is the durable, queryable copy. */
        log_write(LOG_ERROR, NULL, "cannot record the failure in webhook_failures",
                  json_pack("{s:s,s:s,s:s}", "event_id", job->event_id, "endpoint_id", job->endpoint_id,
                            "error", why));
        db_failed(w, why);
        job->recorded = true; /* do not hold the slot for it: the stream entry is the record */
        return;
    }
    PQclear(res);
    job->recorded = true;
}
