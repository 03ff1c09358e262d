/* The route table and the operational routes (health, readiness, metrics). */
#include "api/api_internal.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "openapi/openapi.h"

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
    bool shutting_down = *ex->loop->shutting_down != 0;
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
    health_cancel(ex->loop->health, ex->handler_data);
}

void api_handle_ready(struct http_exchange *ex)
{
    if (*ex->loop->shutting_down) {
        /* No need to ask anything: the answer is no. The other checks show their last result. */
        respond_ready(ex, health_last(ex->loop->health));
        return;
    }
    ex->on_abandon = on_ready_abandoned;
    ex->handler_data = health_ready(ex->loop->health, on_ready_report, ex);
}

void api_handle_metrics(struct http_exchange *ex)
{
    size_t len = 0;
    char *text = metrics_render(ex->loop->registry, &len);
    if (text == NULL) {
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
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
