#include "health/health.h"
#include "base/base.h"
#include "rediscluster/rediscluster.h"
#include "redisconn/redisconn.h"
#include "schema/schema.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WAITERS 4096
/* A check that could not ask the database because this loop's own queue was full says nothing
 * about the database or the schema: the published answer stands, if it is at most this old (so a
 * queue that never drains still turns the pod unready). */
#define INCONCLUSIVE_MAX_MS 5000

struct health_shared {
    pthread_mutex_t mu;
    uint64_t next_seq;     /* taken by each check when it starts */
    uint64_t seq;          /* of the published report; 0 before the first */
    uint64_t published_at; /* base_now_ms() when it finished */
    struct health_report report;
};

struct health_waiter {
    health_cb cb;
    void *arg;
    h2o_linklist_t link;
};

struct health {
    h2o_evloop_t *loop;
    struct health_shared *shared;
    struct store *store;
    struct redisconn *redis;
    int cache_ms;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t timeout_entry;
    /* the check in flight */
    bool running;
    uint64_t seq; /* of the check in flight */
    bool db_done, redis_done;
    bool inconclusive; /* the database part could not be asked (STORE_BUSY) */
    store_handle db_handle;
    void *redis_handle;
    struct health_report pending;
    h2o_linklist_t waiters;
    int n_waiters;
};

struct health_shared *health_shared_create(void)
{
    struct health_shared *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    snprintf(s->report.database.reason, sizeof(s->report.database.reason), "not checked yet");
    snprintf(s->report.schema.reason, sizeof(s->report.schema.reason), "not checked yet");
    snprintf(s->report.redis.reason, sizeof(s->report.redis.reason), "not checked yet");
    return s;
}

void health_shared_destroy(struct health_shared *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static uint64_t shared_take_seq(struct health_shared *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t seq = ++s->next_seq;
    pthread_mutex_unlock(&s->mu);
    return seq;
}

/* Publishes a finished check unless a check that started later was published already (its view of
 * the database is newer), or it is inconclusive and the published answer recent; *out is the
 * newest report afterwards, whichever loop produced it. */
static void shared_publish(struct health_shared *s, uint64_t seq, const struct health_report *r,
                           bool inconclusive, struct health_report *out)
{
    uint64_t now = base_now_ms();
    pthread_mutex_lock(&s->mu);
    bool keep = inconclusive && s->seq != 0 && now - s->published_at < INCONCLUSIVE_MAX_MS;
    if (seq > s->seq && !keep) {
        s->report = *r;
        s->seq = seq;
        s->published_at = now;
    }
    *out = s->report;
    pthread_mutex_unlock(&s->mu);
}

/* true (with the report in *out) when the published report is younger than cache_ms. */
static bool shared_fresh(struct health_shared *s, int cache_ms, struct health_report *out)
{
    uint64_t now = base_now_ms();
    pthread_mutex_lock(&s->mu);
    bool fresh = s->seq != 0 && now - s->published_at < (uint64_t)cache_ms;
    if (fresh)
        *out = s->report;
    pthread_mutex_unlock(&s->mu);
    return fresh;
}

static void shared_copy(struct health_shared *s, struct health_report *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->report;
    pthread_mutex_unlock(&s->mu);
}

static void set_fail(struct health_check *c, const char *fmt, const char *detail)
{
    c->ok = false;
    snprintf(c->reason, sizeof(c->reason), fmt, detail);
}

static void health_finish(struct health *h)
{
    if (h2o_timeout_is_linked(&h->timeout_entry))
        h2o_timeout_unlink(&h->timeout_entry);
    h->running = false;
    h->pending.ok = h->pending.database.ok && h->pending.schema.ok && h->pending.redis.ok;
    /* Callbacks may start a new probe; hand them the newest report from a stable copy. */
    struct health_report report;
    shared_publish(h->shared, h->seq, &h->pending, h->inconclusive, &report);
    while (!h2o_linklist_is_empty(&h->waiters)) {
        struct health_waiter *w = H2O_STRUCT_FROM_MEMBER(struct health_waiter, link, h->waiters.next);
        h2o_linklist_unlink(&w->link);
        h->n_waiters--;
        w->cb(w->arg, &report);
        free(w);
    }
}

static void maybe_finish(struct health *h)
{
    if (h->running && h->db_done && h->redis_done)
        health_finish(h);
}

static const char *store_status_reason(enum store_status st)
{
    switch (st) {
    case STORE_BUSY:
        return "database queue full";
    case STORE_TIMEOUT:
        return "database timeout";
    case STORE_UNAVAILABLE:
        return "database unavailable";
    default:
        return "database error";
    }
}

static void set_db_result(struct health *h, const struct store_result *r)
{
    if (r->status != STORE_OK) {
        h->inconclusive = r->status == STORE_BUSY;
        const char *why = r->status == STORE_UNAVAILABLE ? store_unreachable_reason(h->store) : NULL;
        if (why != NULL) /* e.g. "database unavailable: … certificate verify failed" */
            snprintf(h->pending.database.reason, sizeof(h->pending.database.reason), "%s: %.160s",
                     store_status_reason(r->status), why);
        else
            set_fail(&h->pending.database, "%s", store_status_reason(r->status));
        h->pending.database.ok = false;
        set_fail(&h->pending.schema, "%s", "unknown while the database is unreachable");
        return;
    }
    h->pending.database.ok = true;
    char reason[sizeof(h->pending.schema.reason)];
    enum schema_compat c = r->schema_missing ? schema_compat_evaluate(0, 0, reason, sizeof(reason))
                                             : schema_compat_evaluate(r->schema_version, r->schema_floor,
                                                                      reason, sizeof(reason));
    h->pending.schema.ok = !r->schema_missing && c == SCHEMA_COMPATIBLE;
    if (!h->pending.schema.ok)
        snprintf(h->pending.schema.reason, sizeof(h->pending.schema.reason), "%s", reason);
}

static void on_db_result(void *arg, const struct store_result *r)
{
    struct health *h = arg;
    h->db_done = true;
    h->db_handle = NULL;
    set_db_result(h, r);
    maybe_finish(h);
}

static void on_redis_reply(void *arg, redisReply *reply, const char *err)
{
    struct health *h = arg;
    h->redis_done = true;
    h->redis_handle = NULL;
    if (reply == NULL)
        set_fail(&h->pending.redis, "%s", err != NULL ? err : "no reply");
    else if (reply->type == REDIS_REPLY_ERROR)
        set_fail(&h->pending.redis, "%s", reply->str != NULL ? reply->str : "error"); /* "CLUSTERDOWN …" */
    else
        h->pending.redis.ok = true;
    maybe_finish(h);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    struct health *h = H2O_STRUCT_FROM_MEMBER(struct health, timeout_entry, entry);
    if (!h->db_done) {
        store_cancel(h->store, h->db_handle);
        h->db_handle = NULL;
        h->db_done = true;
        set_fail(&h->pending.database, "%s", "check timed out");
        set_fail(&h->pending.schema, "%s", "unknown while the database is unreachable");
    }
    if (!h->redis_done) {
        redisconn_cancel(h->redis, h->redis_handle);
        h->redis_handle = NULL;
        h->redis_done = true;
        set_fail(&h->pending.redis, "%s", "check timed out");
    }
    maybe_finish(h);
}

static void health_start(struct health *h)
{
    h->running = true;
    h->seq = shared_take_seq(h->shared);
    h->db_done = h->redis_done = false;
    h->inconclusive = false;
    memset(&h->pending, 0, sizeof(h->pending));
    h2o_timeout_link(h->loop, &h->timeout, &h->timeout_entry);

    enum store_status immediate = STORE_OK;
    h->db_handle = store_schema_state(h->store, on_db_result, h, &immediate);
    if (h->db_handle == NULL && !h->db_done) {
        struct store_result r = {.status = immediate};
        h->db_done = true;
        set_db_result(h, &r);
    }

    if (h->redis == NULL) {
        h->redis_done = true;
        h->pending.redis.ok = true;
        h->pending.redis.unused = true;
    } else {
        /* A read of the home slot, not a PING: a cluster that cannot serve the slot answers it with
         * CLUSTERDOWN (PING still succeeds), and a slot that moved with a redirect that is followed. */
        static const char *const probe[] = {"EXISTS", REDISCLUSTER_HOME_KEY};
        h->redis_handle = redisconn_command(h->redis, on_redis_reply, h, 2, (const char **)probe, NULL);
        if (h->redis_handle == NULL) {
            char why[sizeof(h->pending.redis.reason) - 16];
            redisconn_last_error(h->redis, why, sizeof(why));
            h->redis_done = true;
            set_fail(&h->pending.redis, "not connected: %s", why);
        }
    }
    maybe_finish(h);
}

void *health_ready(struct health *h, health_cb cb, void *arg)
{
    struct health_report report;
    /* Any loop's fresh answer will do: it is the process's answer. */
    if (shared_fresh(h->shared, h->cache_ms, &report)) {
        cb(arg, &report);
        return NULL;
    }
    struct health_waiter *w = h->n_waiters < MAX_WAITERS ? calloc(1, sizeof(*w)) : NULL;
    if (w == NULL) { /* a probe storm (or out of memory): the last answer is good enough */
        shared_copy(h->shared, &report);
        cb(arg, &report);
        return NULL;
    }
    w->cb = cb;
    w->arg = arg;
    h2o_linklist_insert(&h->waiters, &w->link);
    h->n_waiters++;
    if (!h->running) {
        health_start(h);
        if (!h2o_linklist_is_linked(&w->link))
            return NULL; /* answered synchronously (both checks failed at once) */
    }
    return w;
}

void health_last(const struct health *h, struct health_report *out)
{
    shared_copy(h->shared, out);
}

void health_cancel(struct health *h, void *handle)
{
    struct health_waiter *w = handle;
    if (w == NULL)
        return;
    h2o_linklist_unlink(&w->link);
    h->n_waiters--;
    free(w);
}

struct health *health_create(h2o_evloop_t *loop, struct health_shared *shared, struct store *store,
                             struct redisconn *redis, int timeout_ms, int cache_ms)
{
    struct health *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->loop = loop;
    h->shared = shared;
    h->store = store;
    h->redis = redis;
    h->cache_ms = cache_ms;
    h2o_linklist_init_anchor(&h->waiters);
    h2o_timeout_init(loop, &h->timeout, (uint64_t)timeout_ms);
    h->timeout_entry.cb = on_timeout;
    return h;
}

void health_destroy(struct health *h)
{
    if (h == NULL)
        return;
    if (h->running) {
        if (!h->db_done)
            store_cancel(h->store, h->db_handle);
        if (!h->redis_done)
            redisconn_cancel(h->redis, h->redis_handle);
    }
    while (!h2o_linklist_is_empty(&h->waiters)) {
        struct health_waiter *w = H2O_STRUCT_FROM_MEMBER(struct health_waiter, link, h->waiters.next);
        h2o_linklist_unlink(&w->link);
        free(w);
    }
    if (h2o_timeout_is_linked(&h->timeout_entry))
        h2o_timeout_unlink(&h->timeout_entry);
    h2o_timeout_dispose(h->loop, &h->timeout);
    free(h);
}

static json_t *check_json(const struct health_check *c)
{
    if (c->unused)
        return json_pack("{s:b,s:b,s:s}", "ok", 1, "used", 0, "detail", "not used in dev mode");
    json_t *o = json_pack("{s:b}", "ok", c->ok);
    if (o != NULL && !c->ok)
        json_object_set_new(o, "reason", json_string(c->reason));
    return o;
}

char *health_report_json(const struct health_report *report, const char *shutdown_reason)
{
    bool ok = report->ok && shutdown_reason == NULL;
    json_t *checks = json_object();
    json_object_set_new(checks, "database", check_json(&report->database));
    json_object_set_new(checks, "schema", check_json(&report->schema));
    json_object_set_new(checks, "redis", check_json(&report->redis));
    if (shutdown_reason != NULL)
        json_object_set_new(checks, "shutdown", json_pack("{s:b,s:s}", "ok", 0, "reason", shutdown_reason));
    json_t *root = json_pack("{s:s,s:o}", "status", ok ? "ok" : "unavailable", "checks", checks);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
