/* The route tables (PORT's and METRICS_PORT's) and the operational routes (health, readiness,
 * metrics). */
#include "api/api_internal.h"
#include "console/console.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "openapi/openapi.h"
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>

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
        struct health_report last;
        health_last(api_ctx(ex)->health, &last);
        respond_ready(ex, &last);
        return;
    }
    ex->on_abandon = on_ready_abandoned;
    ex->handler_data = health_ready(api_ctx(ex)->health, on_ready_report, ex);
}

/* /metrics: the process's own figures plus two read per scrape — the job queue from Redis
 * (pkg/queue) and the outbox backlog from the database (pkg/store) — rendered by pkg/metrics. Either
 * source may fail on its own; the other's figures are still reported, and bollard_queue_up /
 * bollard_outbox_up say which were read. */
struct scrape {
    struct http_exchange *ex;
    struct queue_figures_read *queue_read;
    store_handle outbox_call;
    int pending;
    struct metrics_scrape figures;
    struct queue_figures queue; /* a copy: the workers' figures point into it */
    struct metrics_worker workers[QUEUE_WORKERS_MAX];
};

static void respond_metrics(struct http_exchange *ex, const struct scrape *sc)
{
    size_t len = 0;
    char *text = metrics_render(api_ctx(ex)->registry, &sc->figures, &len);
    if (text == NULL) {
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static void scrape_part_done(struct scrape *sc)
{
    if (--sc->pending == 0)
        respond_metrics(sc->ex, sc);
}

static void on_queue_figures(void *arg, const struct queue_figures *f)
{
    struct scrape *sc = arg;
    sc->queue_read = NULL;
    sc->figures.queue_up = f->ok;
    sc->figures.queue_depth = f->depth;
    sc->figures.queue_pending = f->pending;
    sc->figures.queue_oldest_pending_age_ms = f->oldest_pending_age_ms;
    sc->figures.queue_retries = f->retries;
    sc->figures.queue_dead = f->dead;
    sc->figures.queue_recovered = f->recovered;
    static const int bounds_ms[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    sc->queue = *f;
    for (int i = 0; i < sc->queue.n_workers; i++) {
        const struct queue_worker_figures *w = &sc->queue.workers[i];
        sc->workers[i] = (struct metrics_worker){.consumer = w->consumer,
                                                 .delivered = w->delivered,
                                                 .failed_attempts = w->failed_attempts,
                                                 .retried = w->retried,
                                                 .dead_lettered = w->dead_lettered,
                                                 .reclaimed = w->reclaimed,
                                                 .in_flight = w->in_flight,
                                                 .latency_count = w->latency_count,
                                                 .latency_sum_ms = w->latency_sum_ms,
                                                 .latency_le = w->latency_le,
                                                 .report_age_ms = w->report_age_ms};
    }
    sc->figures.n_workers = sc->queue.n_workers;
    sc->figures.workers = sc->workers;
    sc->figures.latency_bounds_ms = bounds_ms;
    sc->figures.n_latency_bounds = QUEUE_LATENCY_BUCKETS;
    scrape_part_done(sc);
}

static void on_outbox_backlog(void *arg, const struct store_result *r)
{
    struct scrape *sc = arg;
    sc->outbox_call = NULL;
    sc->figures.outbox_up = r->status == STORE_OK;
    sc->figures.outbox_unpublished = r->outbox_unpublished;
    sc->figures.outbox_oldest_age_ms = r->outbox_oldest_age_ms;
    scrape_part_done(sc);
}

static void on_metrics_abandoned(struct http_exchange *ex)
{
    struct scrape *sc = ex->handler_data;
    queue_figures_cancel(sc->queue_read);
    if (sc->outbox_call != NULL)
        store_cancel(api_ctx(ex)->store, sc->outbox_call);
}

void api_handle_metrics(struct http_exchange *ex)
{
    struct api_context *ctx = api_ctx(ex);
    struct scrape *sc = h2o_mem_alloc_pool(&ex->req->pool, sizeof(*sc));
    memset(sc, 0, sizeof(*sc));
    sc->ex = ex;
    sc->figures.outbox_count_max = STORE_OUTBOX_COUNT_MAX;
    sc->figures.queue_used = ctx->redis != NULL; /* no Redis, no queue (`bollard dev`) */
    ex->handler_data = sc;
    ex->on_abandon = on_metrics_abandoned;
    /* One part per source plus one for this function, so no callback answers before all are asked. */
    sc->pending = 1;
    sc->queue_read = queue_figures_read(ctx->redis, on_queue_figures, sc);
    if (sc->queue_read != NULL)
        sc->pending++;
    if (ctx->store != NULL) {
        enum store_status immediate = STORE_OK;
        sc->pending++;
        sc->outbox_call = store_outbox_backlog(ctx->store, on_outbox_backlog, sc, &immediate);
        if (sc->outbox_call == NULL)
            sc->pending--;
    }
    scrape_part_done(sc);
}

/* The document and the docs page are the only responses a browser renders. Their policy lets the page
 * load its own files from this server and nothing else — no inline script or style, no eval — and
 * be framed by no one; Swagger UI's "Try it out" calls this same origin (connect-src) and its icons
 * are data: URIs. The document itself needs nothing. nosniff keeps each file its declared type. */
#define DOCS_PAGE_CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "       \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define DOCUMENT_CSP "default-src 'none'; frame-ancestors 'none'"

static void add_browser_policy(struct http_exchange *ex, const char *csp)
{
    http_add_header(ex, "content-security-policy", csp);
    http_add_header(ex, "x-content-type-options", "nosniff");
}

static void handle_openapi(struct http_exchange *ex)
{
    size_t len = 0;
    const char *doc = openapi_document(&len);
    add_browser_policy(ex, DOCUMENT_CSP);
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
    add_browser_policy(ex, DOCS_PAGE_CSP);
    http_add_header(ex, "cache-control", "public, max-age=3600");
    http_respond(ex, 200, type, body, len);
}

static const struct http_route routes[] = {
    {"GET", "/health/live", api_handle_live},
    {"GET", "/health", api_handle_live},
    {"GET", "/health/ready", api_handle_ready},
    {"GET", "/ready", api_handle_ready},
    {"GET", "/api/health", api_handle_ready},
    {"GET", "/openapi.json", handle_openapi},
    {"GET", "/docs", handle_docs},
    {"GET", "/docs/{file}", handle_docs},
    {"GET", "/", console_handle},
    {"GET", "/console/{file}", console_handle},
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
    {"POST", "/api/chat", api_chat},
    {"POST", "/api/{user_id}/chat", api_user_chat},
    {"GET", "/api/{user_id}/conversations", api_conversations_list},
    {"GET", "/api/{user_id}/conversations/{conversation_id}", api_conversation_messages},
    {"DELETE", "/api/{user_id}/conversations/{conversation_id}", api_conversation_delete},
    {"POST", "/mcp", api_mcp},
    {"GET", "/.well-known/oauth-protected-resource", api_mcp_resource_metadata},
    {"GET", "/.well-known/oauth-protected-resource/mcp", api_mcp_resource_metadata},
};

/* METRICS_PORT's whole table (CONTRACT §4): never on PORT, so never behind the public Service. */
static const struct http_route metrics_routes[] = {
    {"GET", "/metrics", api_handle_metrics},
};

const struct http_route *api_routes(size_t *count)
{
    *count = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

const struct http_route *api_metrics_routes(size_t *count)
{
    *count = sizeof(metrics_routes) / sizeof(metrics_routes[0]);
    return metrics_routes;
}
