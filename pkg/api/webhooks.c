/* POST/GET/DELETE /api/{user_id}/webhooks: endpoints that receive this user's task events.
 * Targets on loopback, private, link-local or metadata addresses are refused (after resolving the
 * host name, off the loop) unless WEBHOOK_ALLOW_PRIVATE=true; the worker checks again when it
 * delivers, so a name re-pointed later is caught too. */
#include "api/api_internal.h"
#include "config/config.h"
#include "webhook/webhook.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct webhook_ctx {
    struct http_exchange *ex;
    char user_id[BASE_UUID_LEN + 1];
    char *url;         /* request pool */
    char *events_json; /* request pool */
    char secret[WEBHOOK_SECRET_LEN + 1];
    h2o_hostinfo_getaddr_req_t *resolving;
    store_handle call;
};

static void on_abandoned(struct http_exchange *ex)
{
    struct webhook_ctx *c = ex->handler_data;
    if (c->resolving != NULL)
        h2o_hostinfo_getaddr_cancel(c->resolving);
    if (c->call != NULL)
        store_cancel(api_ctx(ex)->store, c->call);
}

static struct webhook_ctx *begin(struct http_exchange *ex)
{
    if (!base_uuid_is_valid(ex->params[0].base, ex->params[0].len)) {
        http_respond_problem(ex, 404, "Not Found", "no such resource", NULL); /* not a user's path */
        return NULL;
    }
    char token_user[BASE_UUID_LEN + 1];
    if (!api_authenticate(ex, token_user))
        return NULL;
    h2o_iovec_t p = ex->params[0];
    if (p.len != BASE_UUID_LEN || strncasecmp(p.base, token_user, BASE_UUID_LEN) != 0) {
        http_respond_problem(ex, 403, "Forbidden", "these are not your webhooks", NULL);
        return NULL;
    }
    struct webhook_ctx *c = h2o_mem_alloc_pool(&ex->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->ex = ex;
    memcpy(c->user_id, token_user, sizeof(c->user_id));
    ex->handler_data = c;
    ex->on_abandon = on_abandoned;
    return c;
}

static void refuse_target(struct http_exchange *ex, const char *message)
{
    struct api_errors errors = {0};
    api_errors_add(&errors, "url", message);
    api_errors_respond(ex, &errors);
}

static void on_created(void *arg, const struct store_result *r)
{
    struct webhook_ctx *c = arg;
    c->call = NULL;
    if (r->status == STORE_CONFLICT) {
        http_respond_problem(c->ex, 409, "Conflict", "this user already has the maximum of 20 webhooks",
                             NULL);
        return;
    }
    if (r->status != STORE_OK) {
        api_respond_store_status(c->ex, r->status);
        return;
    }
    json_t *hook = json_loadb(r->json, r->json_len, 0, NULL);
    if (hook == NULL) {
        http_respond_problem(c->ex, 500, "Internal Server Error", "unexpected database answer", NULL);
        return;
    }
    json_object_set_new(hook, "secret", json_string(c->secret)); /* shown once, never again */
    char location[128];
    snprintf(location, sizeof(location), "/api/%s/webhooks/%s", c->user_id,
             json_string_value(json_object_get(hook, "id")) != NULL
                 ? json_string_value(json_object_get(hook, "id"))
                 : "");
    http_add_header(c->ex, "location", location);
    http_add_header(c->ex, "cache-control", "no-store");
    http_respond_json(c->ex, 201, hook);
}

static void store_endpoint(struct webhook_ctx *c)
{
    if (webhook_secret_generate(c->secret) != 0) {
        http_respond_problem(c->ex, 500, "Internal Server Error", "cannot generate a secret", NULL);
        return;
    }
    enum store_status immediate = STORE_OK;
    store_handle h = store_webhook_create(api_ctx(c->ex)->store, c->user_id, c->url, c->events_json,
                                          c->secret, WEBHOOK_MAX_PER_USER, on_created, c, &immediate);
    c->call = h;
    if (h == NULL)
        api_respond_store_status(c->ex, immediate);
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    (void)req;
    struct webhook_ctx *c = data;
    c->resolving = NULL;
    if (errstr != NULL || res == NULL) {
        refuse_target(c->ex, "the host name does not resolve");
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (webhook_address_forbidden(ai->ai_addr)) {
            refuse_target(c->ex, "the host resolves to a loopback, private, link-local or metadata address");
            return;
        }
    }
    store_endpoint(c);
}

void api_handle_webhook_create(struct http_exchange *ex)
{
    struct webhook_ctx *c = begin(ex);
    if (c == NULL)
        return;
    json_t *body = api_read_json_object(ex);
    if (body == NULL)
        return;
    struct api_errors errors = {0};
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (strcmp(key, "url") != 0 && strcmp(key, "events") != 0)
            api_errors_add(&errors, key, "unknown field");
    }
    json_t *url = json_object_get(body, "url");
    json_t *events = json_object_get(body, "events");
    struct webhook_target target;
    const char *why = "is required";
    if (!json_is_string(url) || !webhook_url_parse(json_string_value(url), &target, &why))
        api_errors_add(&errors, "url", why);
    json_t *event_list = json_array();
    if (events == NULL) {
        static const char *const all[] = {"task.created", "task.updated", "task.completed", "task.deleted"};
        for (size_t i = 0; i < 4; i++)
            json_array_append_new(event_list, json_string(all[i]));
    } else if (!json_is_array(events) || json_array_size(events) == 0 || json_array_size(events) > 4) {
        api_errors_add(&errors, "events", "must be a non-empty array of event types");
    } else {
        size_t i;
        json_t *e;
        json_array_foreach (events, i, e) {
            bool dup = false;
            for (size_t k = 0; k < i; k++)
                dup = dup || json_equal(json_array_get(events, k), e);
            if (!json_is_string(e) || !webhook_event_type_valid(json_string_value(e)) || dup) {
                api_errors_add(
                    &errors, "events",
                    "each must be one of task.created, task.updated, task.completed, task.deleted, once");
                break;
            }
            json_array_append(event_list, e);
        }
    }
    if (api_errors_respond(ex, &errors)) {
        json_decref(event_list);
        json_decref(body);
        return;
    }
    c->url = h2o_strdup(&ex->req->pool, json_string_value(url), SIZE_MAX).base;
    char *events_text = json_dumps(event_list, JSON_COMPACT);
    c->events_json = events_text != NULL ? h2o_strdup(&ex->req->pool, events_text, SIZE_MAX).base : NULL;
    free(events_text);
    json_decref(event_list);
    json_decref(body);
    if (c->events_json == NULL) {
        http_respond_problem(ex, 500, "Internal Server Error", "out of memory", NULL);
        return;
    }
    if (api_ctx(ex)->cfg->webhook_allow_private) {
        store_endpoint(c);
        return;
    }
    if (target.host_is_ip) {
        if (webhook_ip_literal_forbidden(target.host))
            refuse_target(ex, "targets a loopback, private, link-local or metadata address");
        else
            store_endpoint(c);
        return;
    }
    char port[8];
    snprintf(port, sizeof(port), "%d", target.port);
    c->resolving = h2o_hostinfo_getaddr(&ex->loop->ctx->receivers.hostinfo_getaddr,
                                        h2o_iovec_init(target.host, strlen(target.host)),
                                        h2o_iovec_init(port, strlen(port)), AF_UNSPEC, SOCK_STREAM,
                                        IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, c);
}

static void on_listed(void *arg, const struct store_result *r)
{
    struct webhook_ctx *c = arg;
    c->call = NULL;
    if (r->status != STORE_OK) {
        api_respond_store_status(c->ex, r->status);
        return;
    }
    size_t cap = r->json_len + 32;
    char *body = h2o_mem_alloc_pool(&c->ex->req->pool, cap);
    int n = snprintf(body, cap, "{\"items\":%s}", r->json);
    http_respond(c->ex, 200, "application/json", body, (size_t)n);
}

void api_handle_webhook_list(struct http_exchange *ex)
{
    struct webhook_ctx *c = begin(ex);
    if (c == NULL)
        return;
    enum store_status immediate = STORE_OK;
    store_handle h = store_webhook_list(api_ctx(ex)->store, c->user_id, on_listed, c, &immediate);
    c->call = h;
    if (h == NULL)
        api_respond_store_status(ex, immediate);
}

static void on_deleted(void *arg, const struct store_result *r)
{
    struct webhook_ctx *c = arg;
    c->call = NULL;
    if (r->status == STORE_NOT_FOUND) {
        http_respond_problem(c->ex, 404, "Not Found", "no such webhook", NULL);
        return;
    }
    if (r->status != STORE_OK) {
        api_respond_store_status(c->ex, r->status);
        return;
    }
    http_respond(c->ex, 204, NULL, "", 0);
}

void api_handle_webhook_delete(struct http_exchange *ex)
{
    struct webhook_ctx *c = begin(ex);
    if (c == NULL)
        return;
    h2o_iovec_t id = ex->params[1];
    if (!base_uuid_is_valid(id.base, id.len)) {
        http_respond_problem(ex, 404, "Not Found", "no such webhook", NULL);
        return;
    }
    char webhook_id[BASE_UUID_LEN + 1];
    base_uuid_lower(id.base, webhook_id);
    enum store_status immediate = STORE_OK;
    store_handle h =
        store_webhook_delete(api_ctx(ex)->store, c->user_id, webhook_id, on_deleted, c, &immediate);
    c->call = h;
    if (h == NULL)
        api_respond_store_status(ex, immediate);
}
