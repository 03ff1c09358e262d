/* The task routes of CONTRACT §5, under /api/{user_id}/tasks (must be the token's user) and
 * /api/tasks (the token's user). Another user's task is always "not found". */
#include "api/api_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX       200
#define DESCRIPTION_MAX 2000

enum task_action { ACT_LIST, ACT_CREATE, ACT_GET, ACT_REPLACE, ACT_DELETE, ACT_TOGGLE };

struct task_ctx {
    struct http_exchange *ex;
    enum task_action action;
    char user_id[BASE_UUID_LEN + 1];
    char task_id[BASE_UUID_LEN + 1];
    store_handle call;
    long long if_none_match; /* GET: -1 when absent */
};

static void on_abandoned(struct http_exchange *ex)
{
    struct task_ctx *c = ex->handler_data;
    if (c->call != NULL)
        store_cancel(api_ctx(ex)->store, c->call);
}

/* Authenticates and resolves whose tasks these are; answers 401/403/404 itself on failure. */
static struct task_ctx *begin(struct http_exchange *ex, enum task_action action, bool user_in_path)
{
    /* /api/v1/tasks is not a user's path: only a UUID is (before the token, as for any unknown path). */
    if (user_in_path && !base_uuid_is_valid(ex->params[0].base, ex->params[0].len)) {
        http_respond_problem(ex, 404, "Not Found", "no such resource", NULL);
        return NULL;
    }
    char token_user[BASE_UUID_LEN + 1];
    if (!api_authenticate(ex, token_user))
        return NULL;
    size_t next = 0;
    if (user_in_path) {
        h2o_iovec_t p = ex->params[next++];
        if (p.len != BASE_UUID_LEN || strncasecmp(p.base, token_user, BASE_UUID_LEN) != 0) {
            http_respond_problem(ex, 403, "Forbidden", "these are not your tasks", NULL);
            return NULL;
        }
    }
    struct task_ctx *c = h2o_mem_alloc_pool(&ex->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->ex = ex;
    c->action = action;
    c->if_none_match = -1;
    memcpy(c->user_id, token_user, sizeof(c->user_id));
    if (action != ACT_LIST && action != ACT_CREATE) {
        h2o_iovec_t t = ex->params[next];
        if (!base_uuid_is_valid(t.base, t.len)) {
            http_respond_problem(ex, 404, "Not Found", "no such task", NULL);
            return NULL;
        }
        base_uuid_lower(t.base, c->task_id); /* canonical lower case, as the database prints it */
    }
    ex->handler_data = c;
    ex->on_abandon = on_abandoned;
    return c;
}

/* An entity tag the client sent, as a version: "123" -> 123; absent or "*" -> -1 (no precondition);
 * anything else -> -2, a version no task has: weak or listed tags, a sign, leading zeros (tags compare
 * as exact strings, and ours print without them) and numbers beyond the versions' range. */
static long long parse_etag(h2o_iovec_t v)
{
    if (v.len == 1 && v.base[0] == '*')
        return -1;
    if (v.len < 3 || v.base[0] != '"' || v.base[v.len - 1] != '"' || (v.base[1] == '0' && v.len > 3))
        return -2;
    long long n = 0;
    for (size_t i = 1; i < v.len - 1; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -2;
        int digit = v.base[i] - '0';
        if (n > (LLONG_MAX - digit) / 10)
            return -2;
        n = n * 10 + digit;
    }
    return n;
}

static long long header_etag(struct http_exchange *ex, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&ex->req->headers, token, -1);
    return i < 0 ? -1 : parse_etag(ex->req->headers.entries[i].value);
}

static void add_etag(struct http_exchange *ex, long long version)
{
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%lld\"", version);
    http_add_header(ex, "etag", etag);
}

static void on_task_result(void *arg, const struct store_result *r)
{
    struct task_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    c->call = NULL;
    if (r->status != STORE_OK) {
        if (r->status == STORE_PRECONDITION_FAILED && r->version > 0)
            add_etag(ex, r->version); /* so the client can re-read or retry against it */
        api_respond_store_status(ex, r->status);
        return;
    }
    switch (c->action) {
    case ACT_LIST: {
        size_t cap = r->json_len + API_CURSOR_MAX + 64;
        char *body = h2o_mem_alloc_pool(&ex->req->pool, cap);
        int n = r->next_cursor != NULL
                    ? snprintf(body, cap, "{\"items\":%s,\"next_cursor\":\"%s\"}", r->json, r->next_cursor)
                    : snprintf(body, cap, "{\"items\":%s,\"next_cursor\":null}", r->json);
        http_respond(ex, 200, "application/json", body, (size_t)n);
        return;
    }
    case ACT_DELETE:
        http_respond(ex, 204, NULL, "", 0);
        return;
    case ACT_GET:
        add_etag(ex, r->version);
        if (c->if_none_match >= 0 && c->if_none_match == r->version) {
            http_respond(ex, 304, NULL, "", 0);
            return;
        }
        http_respond(ex, 200, "application/json", r->json, r->json_len);
        return;
    case ACT_CREATE: {
        json_t *task = json_loadb(r->json, r->json_len, 0, NULL);
        const char *id = json_string_value(json_object_get(task, "id"));
        if (id != NULL && base_uuid_is_valid(id, strlen(id))) {
            char location[128];
            snprintf(location, sizeof(location), "/api/tasks/%s", id);
            http_add_header(ex, "location", location);
        }
        json_decref(task);
        add_etag(ex, r->version);
        http_respond(ex, 201, "application/json", r->json, r->json_len);
        return;
    }
    case ACT_REPLACE:
    case ACT_TOGGLE:
        add_etag(ex, r->version);
        http_respond(ex, 200, "application/json", r->json, r->json_len);
        return;
    }
}

/* Call with the handle and status in variables: the status is set by the call that returns the handle. */
static void submitted(struct task_ctx *c, store_handle h, enum store_status immediate)
{
    c->call = h;
    if (h == NULL)
        api_respond_store_status(c->ex, immediate);
}

/* ---- bodies ---- */

struct task_body {
    json_t *json;                   /* owns the strings below */
    char due_at[API_TIMESTAMP_MAX]; /* the due date in UTC, as it is stored */
    struct store_task_fields fields;
};

/* Validates a TaskInput; answers 400/415/422 itself and returns false on failure. */
static bool read_task_body(struct http_exchange *ex, struct task_body *out)
{
    json_t *body = api_read_json_object(ex);
    if (body == NULL)
        return false;
    struct api_errors errors = {0};
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (strcmp(key, "title") != 0 && strcmp(key, "description") != 0 && strcmp(key, "completed") != 0 &&
            strcmp(key, "due_at") != 0)
            api_errors_add(&errors, key, "unknown field");
    }
    json_t *title = json_object_get(body, "title");
    json_t *description = json_object_get(body, "description");
    json_t *completed = json_object_get(body, "completed");
    json_t *due_at = json_object_get(body, "due_at");
    if (!json_is_string(title))
        api_errors_add(&errors, "title", "is required and must be a string");
    else {
        size_t n = api_utf8_length(json_string_value(title), json_string_length(title));
        if (n < 1 || n > TITLE_MAX)
            api_errors_add(&errors, "title", "must be 1 to 200 characters");
    }
    if (description != NULL && !json_is_string(description))
        api_errors_add(&errors, "description", "must be a string");
    else if (description != NULL && api_utf8_length(json_string_value(description),
                                                    json_string_length(description)) > DESCRIPTION_MAX)
        api_errors_add(&errors, "description", "must be at most 2000 characters");
    if (completed != NULL && !json_is_boolean(completed))
        api_errors_add(&errors, "completed", "must be true or false");
    if (due_at != NULL && !json_is_null(due_at) &&
        (!json_is_string(due_at) || !api_rfc3339_to_utc(json_string_value(due_at), out->due_at)))
        api_errors_add(&errors, "due_at",
                       "must be an RFC 3339 date-time (2030-01-31T12:00:00Z) from 0001-01-01T00:00:00Z to "
                       "9999-12-31T23:59:59.999999Z, or null");
    if (api_errors_respond(ex, &errors)) {
        json_decref(body);
        return false;
    }
    out->json = body;
    out->fields.title = json_string_value(title);
    out->fields.description = description != NULL ? json_string_value(description) : "";
    out->fields.completed = completed != NULL && json_is_true(completed);
    out->fields.due_at = due_at != NULL && json_is_string(due_at) ? out->due_at : NULL;
    return true;
}

/* ---- handlers ---- */

static void tasks_list(struct http_exchange *ex, bool user_in_path)
{
    struct task_ctx *c = begin(ex, ACT_LIST, user_in_path);
    if (c == NULL)
        return;
    struct api_page_query page;
    if (!api_read_page_query(ex, true, &page))
        return;
    struct store_task_query q = {
        .completed = page.completed,
        .limit = page.limit,
        .cursor = page.cursor[0] != '\0' ? page.cursor : NULL,
    };
    enum store_status immediate = STORE_OK;
    store_handle h = store_task_list(api_ctx(ex)->store, c->user_id, &q, on_task_result, c, &immediate);
    submitted(c, h, immediate);
}

static void tasks_create(struct http_exchange *ex, bool user_in_path)
{
    struct task_ctx *c = begin(ex, ACT_CREATE, user_in_path);
    struct task_body b;
    if (c == NULL || !read_task_body(ex, &b))
        return;
    enum store_status immediate = STORE_OK;
    store_handle h =
        store_task_create(api_ctx(ex)->store, c->user_id, &b.fields, on_task_result, c, &immediate);
    json_decref(b.json); /* the store copied what it needs */
    submitted(c, h, immediate);
}

static void tasks_get(struct http_exchange *ex, bool user_in_path)
{
    struct task_ctx *c = begin(ex, ACT_GET, user_in_path);
    if (c == NULL)
        return;
    c->if_none_match = header_etag(ex, H2O_TOKEN_IF_NONE_MATCH);
    enum store_status immediate = STORE_OK;
    store_handle h =
        store_task_get(api_ctx(ex)->store, c->user_id, c->task_id, on_task_result, c, &immediate);
    submitted(c, h, immediate);
}

static void tasks_replace(struct http_exchange *ex, bool user_in_path)
{
    struct task_ctx *c = begin(ex, ACT_REPLACE, user_in_path);
    struct task_body b;
    if (c == NULL || !read_task_body(ex, &b))
        return;
    long long if_match = header_etag(ex, H2O_TOKEN_IF_MATCH);
    enum store_status immediate = STORE_OK;
    store_handle h =
        store_task_replace(api_ctx(ex)->store, c->user_id, c->task_id, if_match == -2 ? 0 : if_match,
                           &b.fields, on_task_result, c, &immediate);
    json_decref(b.json);
    submitted(c, h, immediate);
}

static void tasks_delete(struct http_exchange *ex, bool user_in_path)
{
    struct task_ctx *c = begin(ex, ACT_DELETE, user_in_path);
    if (c == NULL)
        return;
    long long if_match = header_etag(ex, H2O_TOKEN_IF_MATCH);
    enum store_status immediate = STORE_OK;
    store_handle h = store_task_delete(api_ctx(ex)->store, c->user_id, c->task_id,
                                       if_match == -2 ? 0 : if_match, on_task_result, c, &immediate);
    submitted(c, h, immediate);
}

static void tasks_toggle(struct http_exchange *ex, bool user_in_path)
{
    struct task_ctx *c = begin(ex, ACT_TOGGLE, user_in_path);
    if (c == NULL)
        return;
    long long if_match = header_etag(ex, H2O_TOKEN_IF_MATCH);
    enum store_status immediate = STORE_OK;
    store_handle h = store_task_toggle(api_ctx(ex)->store, c->user_id, c->task_id,
                                       if_match == -2 ? 0 : if_match, on_task_result, c, &immediate);
    submitted(c, h, immediate);
}

void api_tasks_list(struct http_exchange *ex)
{
    tasks_list(ex, false);
}
void api_tasks_create(struct http_exchange *ex)
{
    tasks_create(ex, false);
}
void api_tasks_get(struct http_exchange *ex)
{
    tasks_get(ex, false);
}
void api_tasks_replace(struct http_exchange *ex)
{
    tasks_replace(ex, false);
}
void api_tasks_delete(struct http_exchange *ex)
{
    tasks_delete(ex, false);
}
void api_tasks_toggle(struct http_exchange *ex)
{
    tasks_toggle(ex, false);
}
void api_user_tasks_list(struct http_exchange *ex)
{
    tasks_list(ex, true);
}
void api_user_tasks_create(struct http_exchange *ex)
{
    tasks_create(ex, true);
}
void api_user_tasks_get(struct http_exchange *ex)
{
    tasks_get(ex, true);
}
void api_user_tasks_replace(struct http_exchange *ex)
{
    tasks_replace(ex, true);
}
void api_user_tasks_delete(struct http_exchange *ex)
{
    tasks_delete(ex, true);
}
void api_user_tasks_toggle(struct http_exchange *ex)
{
    tasks_toggle(ex, true);
}
