/* The route table and the operational routes (health, readiness, metrics). */
#include "api/api_internal.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "openapi/openapi.h"
#include "redisconn/redisconn.h"
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void api_handle_live(struct http_exchange *ex)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_add_header(ex, "cache-control", "no-store");
    http_respond(ex, 200, "application/json", body, sizeof(body) - 1);
}

static void respond_ready(struct http_exchange *ex, const struct health_report *report)
{
    bool shutting_down = *api_ctx(ex)->shutting_down != 0;
    char *body = health_report_json(report, shutting_down ? "shutting down" : NULL);
    int status = report->ok && !shutting_down ? 200 : 503;
    http_add_header(ex, "cache-control", "no-store");
    if (body == NULL) {
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    http_respond(ex, status, "application/json", body, strlen(body));
    free(body);
}

static void on_ready_report(void *arg, const struct health_report *report)
{
    struct http_exchange *ex = arg;
    ex->handler_data = NULL;
    respond_ready(ex, report);
}

static void on_ready_abandoned(struct http_exchange *ex)
{
    health_cancel(api_ctx(ex)->health, ex->handler_data);
}

void api_handle_ready(struct http_exchange *ex)
{
    if (*api_ctx(ex)->shutting_down) {
        /* No need to ask anything: the answer is no. The other checks show their last result. */
        respond_ready(ex, health_last(api_ctx(ex)->health));
        return;
    }
    ex->on_abandon = on_ready_abandoned;
    ex->handler_data = health_ready(api_ctx(ex)->health, on_ready_report, ex);
}

/* Figures read on each scrape: the queue from Redis (the worker's streams; see pkg/worker/worker.h)
 * and the outbox backlog from the database. Either source may fail on its own; the other's figures
 * are still reported, with bollard_queue_up / bollard_outbox_up saying which were read. */
#define QUEUE_CALLS 4
struct queue_scrape {
    struct http_exchange *ex;
    void *calls[QUEUE_CALLS];
    store_handle outbox_call;
    int pending;
    long long depth, in_delivery, oldest_ms, retries, dead;
    bool failed;
    bool outbox_ok;
    long long outbox_unpublished, outbox_oldest_age_ms;
};

static void respond_metrics(struct http_exchange *ex, const struct queue_scrape *q)
{
    size_t len = 0;
    char *text = metrics_render(api_ctx(ex)->registry, &len);
    if (text == NULL) {
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    char extra[2560];
    int n = 0;
    if (!q->failed) {
        long long age_ms = q->oldest_ms > 0 ? (long long)time(NULL) * 1000 - q->oldest_ms : 0;
        n = snprintf(
            extra, sizeof(extra),
            "# HELP bollard_queue_up 1 when the queue figures below were read from Redis.\n"
            "# TYPE bollard_queue_up gauge\nbollard_queue_up 1\n"
            "# HELP bollard_queue_depth Webhook jobs in the stream (not yet trimmed).\n"
            "# TYPE bollard_queue_depth gauge\nbollard_queue_depth %lld\n"
            "# HELP bollard_queue_pending Jobs read by a worker and not yet acknowledged.\n"
            "# TYPE bollard_queue_pending gauge\nbollard_queue_pending %lld\n"
            "# HELP bollard_queue_oldest_pending_age_seconds Age of the oldest unacknowledged job.\n"
            "# TYPE bollard_queue_oldest_pending_age_seconds gauge\n"
            "bollard_queue_oldest_pending_age_seconds %.3f\n"
            "# HELP bollard_queue_retries_scheduled Failed deliveries waiting for their next attempt.\n"
            "# TYPE bollard_queue_retries_scheduled gauge\nbollard_queue_retries_scheduled %lld\n"
            "# HELP bollard_queue_dead_letters Jobs in the dead-letter stream.\n"
            "# TYPE bollard_queue_dead_letters gauge\nbollard_queue_dead_letters %lld\n",
            q->depth, q->in_delivery, age_ms > 0 ? (double)age_ms / 1000.0 : 0.0, q->retries, q->dead);
    } else {
        n = snprintf(extra, sizeof(extra),
                     "# HELP bollard_queue_up 1 when the queue figures were read from Redis.\n"
                     "# TYPE bollard_queue_up gauge\nbollard_queue_up 0\n");
    }
    n += snprintf(extra + n, sizeof(extra) - (size_t)n,
                  "# HELP bollard_outbox_up 1 when the outbox figures below were read from the database.\n"
                  "# TYPE bollard_outbox_up gauge\nbollard_outbox_up %d\n",
                  q->outbox_ok ? 1 : 0);
    if (q->outbox_ok)
        n += snprintf(extra + n, sizeof(extra) - (size_t)n,
                      "# HELP bollard_outbox_unpublished Task events the relay has not published yet "
                      "(counted up to %d).\n"
                      "# TYPE bollard_outbox_unpublished gauge\nbollard_outbox_unpublished %lld\n"
                      "# HELP bollard_outbox_oldest_unpublished_age_seconds Age of the oldest unpublished "
                      "event; grows without bound when no relay publishes.\n"
                      "# TYPE bollard_outbox_oldest_unpublished_age_seconds gauge\n"
                      "bollard_outbox_oldest_unpublished_age_seconds %.3f\n",
                      STORE_OUTBOX_COUNT_MAX, q->outbox_unpublished,
                      q->outbox_oldest_age_ms > 0 ? (double)q->outbox_oldest_age_ms / 1000.0 : 0.0);
    char *all = realloc(text, len + (size_t)n + 1);
    if (all == NULL) {
        free(text);
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    memcpy(all + len, extra, (size_t)n + 1);
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", all, len + (size_t)n);
    free(all);
}

static void scrape_part_done(struct queue_scrape *q)
{
    if (--q->pending == 0)
        respond_metrics(q->ex, q);
}

static long long reply_integer(redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

static void on_queue_reply(struct queue_scrape *q, int index, redisReply *reply)
{
    q->calls[index] = NULL;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* A missing group (no worker ever ran) is an empty queue, not a failure. */
        if (!(index == 1 && reply != NULL && strstr(reply->str, "NOGROUP") != NULL))
            q->failed = true;
    } else if (index == 0) {
        q->depth = reply_integer(reply);
    } else if (index == 1 && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
        q->in_delivery = reply_integer(reply->element[0]);
        redisReply *min_id = reply->element[1];
        if (min_id->type == REDIS_REPLY_STRING)
            q->oldest_ms = strtoll(min_id->str, NULL, 10); /* "<ms>-<seq>" */
    } else if (index == 2) {
        q->retries = reply_integer(reply);
    } else if (index == 3) {
        q->dead = reply_integer(reply);
    }
    scrape_part_done(q);
}

#define QUEUE_REPLY_CB(i)                                                                                    \
    static void on_queue_reply_##i(void *arg, redisReply *reply, const char *err)                            \
    {                                                                                                        \
        (void)err;                                                                                           \
        on_queue_reply(arg, i, reply);                                                                       \
    }
QUEUE_REPLY_CB(0)
QUEUE_REPLY_CB(1)
QUEUE_REPLY_CB(2)
QUEUE_REPLY_CB(3)

static void on_outbox_backlog(void *arg, const struct store_result *r)
{
    struct queue_scrape *q = arg;
    q->outbox_call = NULL;
    q->outbox_ok = r->status == STORE_OK;
    q->outbox_unpublished = r->outbox_unpublished;
    q->outbox_oldest_age_ms = r->outbox_oldest_age_ms;
    scrape_part_done(q);
}

static void on_metrics_abandoned(struct http_exchange *ex)
{
    struct queue_scrape *q = ex->handler_data;
    for (int i = 0; i < QUEUE_CALLS; i++)
        redisconn_cancel(api_ctx(ex)->redis, q->calls[i]);
    if (q->outbox_call != NULL)
        store_cancel(api_ctx(ex)->store, q->outbox_call);
}

void api_handle_metrics(struct http_exchange *ex)
{
    struct queue_scrape *q = h2o_mem_alloc_pool(&ex->req->pool, sizeof(*q));
    memset(q, 0, sizeof(*q));
    q->ex = ex;
    ex->handler_data = q;
    ex->on_abandon = on_metrics_abandoned;
    /* One part per call plus one for this function, so no callback answers before all are sent. */
    q->pending = 1;
    if (api_ctx(ex)->redis == NULL || !redisconn_is_connected(api_ctx(ex)->redis)) {
        q->failed = true;
    } else {
        static const char *const xlen[] = {"XLEN", QUEUE_STREAM_JOBS};
        static const char *const xpending[] = {"XPENDING", QUEUE_STREAM_JOBS, QUEUE_GROUP};
        static const char *const zcard[] = {"ZCARD", QUEUE_ZSET_RETRY};
        static const char *const dead[] = {"XLEN", QUEUE_STREAM_DEAD};
        const char *const *argv[QUEUE_CALLS] = {xlen, xpending, zcard, dead};
        int argc[QUEUE_CALLS] = {2, 3, 2, 2};
        redisconn_reply_cb cbs[QUEUE_CALLS] = {on_queue_reply_0, on_queue_reply_1, on_queue_reply_2,
                                               on_queue_reply_3};
        for (int i = 0; i < QUEUE_CALLS; i++) {
            q->pending++;
            q->calls[i] =
                redisconn_command(api_ctx(ex)->redis, cbs[i], q, argc[i], (const char **)argv[i], NULL);
            if (q->calls[i] == NULL) {
                q->failed = true;
                q->pending--;
            }
        }
    }
    if (api_ctx(ex)->store != NULL) {
        enum store_status immediate = STORE_OK;
        q->pending++;
        q->outbox_call = store_outbox_backlog(api_ctx(ex)->store, on_outbox_backlog, q, &immediate);
        if (q->outbox_call == NULL)
            q->pending--;
    }
    scrape_part_done(q);
}

static void handle_openapi(struct http_exchange *ex)
{
    size_t len = 0;
    const char *doc = openapi_document(&len);
    http_respond(ex, 200, "application/json", doc, len);
}

static void handle_docs(struct http_exchange *ex)
{
    h2o_req_t *req = ex->req;
    size_t len = 0;
    const char *type = NULL;
    const char *body = openapi_docs_asset(req->path_normalized.base, req->path_normalized.len, &len, &type);
    if (body == NULL) {
        http_respond_problem(ex, 404, "Not Found", "no such resource", NULL);
        return;
    }
    http_add_header(ex, "cache-control", "public, max-age=3600");
    http_respond(ex, 200, type, body, len);
}

static const struct http_route routes[] = {
    {"GET", "/health/live", api_handle_live},
    {"GET", "/health", api_handle_live},
    {"GET", "/health/ready", api_handle_ready},
    {"GET", "/ready", api_handle_ready},
    {"GET", "/api/health", api_handle_ready},
    {"GET", "/metrics", api_handle_metrics},
    {"GET", "/openapi.json", handle_openapi},
    {"GET", "/docs", handle_docs},
    {"GET", "/docs/{file}", handle_docs},
    {"POST", "/api/auth/signup", api_handle_signup},
    {"POST", "/api/auth/signin", api_handle_signin},
    {"GET", "/api/tasks", api_tasks_list},
    {"POST", "/api/tasks", api_tasks_create},
    {"GET", "/api/tasks/{task_id}", api_tasks_get},
    {"PUT", "/api/tasks/{task_id}", api_tasks_replace},
    {"DELETE", "/api/tasks/{task_id}", api_tasks_delete},
    {"PATCH", "/api/tasks/{task_id}/complete", api_tasks_toggle},
    {"GET", "/api/{user_id}/tasks", api_user_tasks_list},
    {"POST", "/api/{user_id}/tasks", api_user_tasks_create},
    {"GET", "/api/{user_id}/tasks/{task_id}", api_user_tasks_get},
    {"PUT", "/api/{user_id}/tasks/{task_id}", api_user_tasks_replace},
    {"DELETE", "/api/{user_id}/tasks/{task_id}", api_user_tasks_delete},
    {"PATCH", "/api/{user_id}/tasks/{task_id}/complete", api_user_tasks_toggle},
    {"POST", "/api/{user_id}/webhooks", api_handle_webhook_create},
    {"GET", "/api/{user_id}/webhooks", api_handle_webhook_list},
    {"DELETE", "/api/{user_id}/webhooks/{webhook_id}", api_handle_webhook_delete},
};

const struct http_route *api_routes(size_t *count)
{
    *count = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
