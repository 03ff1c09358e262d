/* Step one of the deliverer: the endpoints (URL + signing secret) of NEW jobs, read from the outbox's
 * database at delivery time — secrets are never copied into the queue — and kept in a small bounded
 * cache; then the attempt is started (pkg/delivery). */
#include "worker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "log/log.h"

static unsigned slot_of(const char *id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % WORKER_ENDPOINT_SLOTS;
}

static void endpoint_clear(struct worker_endpoint *e)
{
    free(e->url);
    if (e->secret != NULL) {
        OPENSSL_cleanse(e->secret, strlen(e->secret));
        free(e->secret);
    }
    memset(e, 0, sizeof(*e));
}

void worker_endpoints_clear(struct worker_deliverer *d)
{
    for (int i = 0; i < WORKER_ENDPOINT_SLOTS; i++)
        endpoint_clear(&d->endpoints[i]);
}

static const struct worker_endpoint *cached(const struct worker_deliverer *d, const char *id, uint64_t now)
{
    const struct worker_endpoint *e = &d->endpoints[slot_of(id)];
    return e->url != NULL && now < e->expires && strcmp(e->id, id) == 0 ? e : NULL;
}

static bool endpoint_set(struct worker_endpoint *e, const char *id, const char *url, const char *secret,
                         uint64_t expires)
{
    endpoint_clear(e);
    e->url = strdup(url);
    e->secret = strdup(secret);
    if (e->url == NULL || e->secret == NULL) {
        endpoint_clear(e);
        return false;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->expires = expires;
    return true;
}

/* This turn's answer: ids asked, and the endpoints found (so a row whose cache slot was taken by another
 * id of the same batch — the cache is direct-mapped — is still found; only an id asked and absent from
 * the answer means "deleted"). */
struct lookup {
    struct worker_deliverer *d;
    uint64_t now;
    const char *asked[WORKER_LOOKUP_MAX];
    int n_asked;
    struct worker_endpoint found[WORKER_LOOKUP_MAX];
    int n_found;
};

static void found_one(void *user, const char *id, const char *url, const char *secret)
{
    struct lookup *l = user;
    if (endpoint_set(&l->d->endpoints[slot_of(id)], id, url, secret, l->now + WORKER_ENDPOINT_TTL) &&
        l->n_found < WORKER_LOOKUP_MAX && endpoint_set(&l->found[l->n_found], id, url, secret, 0))
        l->n_found++;
}

static bool asked(const struct lookup *l, const char *id)
{
    for (int i = 0; i < l->n_asked; i++)
        if (strcmp(l->asked[i], id) == 0)
            return true;
    return false;
}

static void db_failed(struct worker_deliverer *d, const char *why)
{
    if (d->db_up)
        log_write(LOG_WARN, NULL, "database unavailable for endpoint lookups; jobs deferred",
                  json_pack("{s:s,s:i}", "error", why, "defer_ms", WORKER_DEFER_MS));
    d->db_up = false;
}

/* Loads the endpoints of NEW jobs missing from the cache; false when the database could not answer. */
static bool load_missing(struct worker_deliverer *d, struct lookup *l)
{
    for (int i = 0; i < d->slots.capacity && l->n_asked < WORKER_LOOKUP_MAX; i++) {
        const struct queue_job *j = &d->slots.jobs[i];
        if (j->state == QUEUE_JOB_NEW && cached(d, j->endpoint_id, l->now) == NULL &&
            !asked(l, j->endpoint_id))
            l->asked[l->n_asked++] = j->endpoint_id; /* the rest is looked up on the next batch */
    }
    if (l->n_asked == 0)
        return true;
    char why[BASE_WHY_MAX];
    if (!outbox_endpoints(d->outbox, l->asked, l->n_asked, found_one, l, why, sizeof(why))) {
        db_failed(d, why);
        return false;
    }
    if (!d->db_up)
        log_write(LOG_INFO, NULL, "database available again", NULL);
    d->db_up = true;
    return true;
}

static const struct worker_endpoint *find(const struct lookup *l, const char *id)
{
    const struct worker_endpoint *e = cached(l->d, id, l->now);
    for (int i = 0; e == NULL && i < l->n_found; i++)
        if (strcmp(l->found[i].id, id) == 0)
            e = &l->found[i];
    return e;
}

void worker_start_new_jobs(struct worker_deliverer *d)
{
    struct lookup *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return; /* the jobs stay NEW: tried again on the next turn */
    l->d = d;
    l->now = base_now_ms();
    bool db_ok = load_missing(d, l);
    for (int i = 0; i < d->slots.capacity; i++) {
        struct queue_job *j = &d->slots.jobs[i];
        if (j->state != QUEUE_JOB_NEW)
            continue;
        const struct worker_endpoint *e = find(l, j->endpoint_id);
        if (e == NULL) {
            if (db_ok && asked(l, j->endpoint_id)) {
                /* Deleted since the event was published: nobody to deliver to any more. */
                log_write(LOG_INFO, NULL, "endpoint no longer exists; delivery dropped",
                          json_pack("{s:s,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id));
                d->dropped++;
                queue_job_done(j, QUEUE_ACK, 0, 0, "endpoint deleted");
            } else if (!db_ok) {
                queue_job_done(j, QUEUE_DEFER, 0, WORKER_DEFER_MS, "database unavailable");
            }
            continue; /* neither: not asked this turn (more than WORKER_LOOKUP_MAX ids), stays NEW */
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
        if (!delivery_start(d->pool, &req, why, sizeof(why))) {
            log_write(LOG_ERROR, NULL, "cannot start a delivery; deferred", json_pack("{s:s}", "error", why));
            queue_job_done(j, QUEUE_DEFER, 0, WORKER_DEFER_MS, why);
            continue;
        }
        j->state = QUEUE_JOB_DELIVERING;
    }
    for (int i = 0; i < l->n_found; i++)
        endpoint_clear(&l->found[i]); /* delivery_start copied what it needs (curl copies the URL) */
    free(l);
}
