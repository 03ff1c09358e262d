#include "health/health.h"
#include "redisconn/redisconn.h"
#include "schema/schema.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WAITERS 4096

struct health_waiter {
    health_cb cb;
    void *arg;
    h2o_linklist_t link;
};

struct health {
    h2o_evloop_t *loop;
    struct store *store;
    struct redisconn *redis;
    int cache_ms;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t timeout_entry;
    /* the check in flight */
    bool running;
    bool db_done, redis_done;
    store_handle db_handle;
    void *redis_handle;
    struct health_report pending;
    h2o_linklist_t waiters;
    int n_waiters;
    /* the last finished check */
    bool have_result;
    uint64_t checked_at;
    struct health_report cached;
};

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
    h->cached = h->pending;
    h->have_result = true;
    h->checked_at = h2o_now(h->loop);
    /* Callbacks may start a new probe; hand them the finished report from a stable copy. */
    struct health_report report = h->cached;
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
        set_fail(&h->pending.database, "%s", store_status_reason(r->status));
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
        set_fail(&h->pending.redis, "%s", "PING refused (authentication?)");
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
    h->db_done = h->redis_done = false;
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
        static const char *const ping[] = {"PING"};
        h->redis_handle = redisconn_command(h->redis, on_redis_reply, h, 1, (const char **)ping, NULL);
        if (h->redis_handle == NULL) {
            h->redis_done = true;
            set_fail(&h->pending.redis, "%s", "not connected");
        }
    }
    maybe_finish(h);
}

void *health_ready(struct health *h, health_cb cb, void *arg)
{
    uint64_t now = h2o_now(h->loop);
    if (!h->running && h->have_result && now - h->checked_at < (uint64_t)h->cache_ms) {
        cb(arg, &h->cached);
        return NULL;
    }
    if (h->n_waiters >= MAX_WAITERS) { /* a probe storm: the last answer is good enough */
        cb(arg, &h->cached);
        return NULL;
    }
    struct health_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        cb(arg, &h->cached);
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

const struct health_report *health_last(const struct health *h)
{
    return &h->cached;
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

struct health *health_create(h2o_evloop_t *loop, struct store *store, struct redisconn *redis, int timeout_ms,
                             int cache_ms)
{
    struct health *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->loop = loop;
    h->store = store;
    h->redis = redis;
    h->cache_ms = cache_ms;
    h2o_linklist_init_anchor(&h->waiters);
    h2o_timeout_init(loop, &h->timeout, (uint64_t)timeout_ms);
    h->timeout_entry.cb = on_timeout;
    snprintf(h->cached.database.reason, sizeof(h->cached.database.reason), "not checked yet");
    snprintf(h->cached.schema.reason, sizeof(h->cached.schema.reason), "not checked yet");
    snprintf(h->cached.redis.reason, sizeof(h->cached.redis.reason), "not checked yet");
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
