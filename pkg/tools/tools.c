/* pkg/tools: the tool table and its calls on pkg/store (see tools.h). */
#include "tools/tools.h"
#include "store/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX       200
#define DESCRIPTION_MAX 2000
#define LIST_DEFAULT    20
#define LIST_MAX        100

#define TASK_SCHEMA                                                                                          \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"title\":{"      \
    "\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"completed\":{\"type\":\"boolean\"},"       \
    "\"due_at\":{\"type\":[\"string\",\"null\"],\"format\":\"date-time\"},\"created_at\":{\"type\":"         \
    "\"string\",\"format\":\"date-time\"},\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}},"   \
    "\"required\":[\"id\",\"title\",\"description\",\"completed\",\"due_at\",\"created_at\",\"updated_at\"]" \
    "}"
#define ONE_TASK_OUTPUT                                                                                      \
    "{\"type\":\"object\",\"properties\":{\"task\":" TASK_SCHEMA "},\"required\":[\"task\"]}"
#define TASK_ID_PROP                                                                                         \
    "\"task_id\":{\"type\":\"string\",\"description\":\"the task's id (a UUID, as list_tasks shows it)\"}"

static const struct tools_def table[] = {
    {"add_task", "Create a task for the user.",
     "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200},"
     "\"description\":{\"type\":\"string\",\"maxLength\":2000},\"due_at\":{\"type\":[\"string\",\"null\"],"
     "\"format\":\"date-time\",\"description\":\"RFC 3339 date-time, e.g. 2030-01-31T17:00:00Z\"}},"
     "\"required\":[\"title\"]}",
     ONE_TASK_OUTPUT},
    {"list_tasks", "List the user's tasks, newest first.",
     "{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\",\"enum\":[\"all\",\"pending\","
     "\"completed\"],\"default\":\"all\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,"
     "\"default\":20}}}",
     "{\"type\":\"object\",\"properties\":{\"tasks\":{\"type\":\"array\",\"items\":" TASK_SCHEMA
     "},\"count\":{\"type\":\"integer\"}},\"required\":[\"tasks\",\"count\"]}"},
    {"complete_task", "Mark a task as completed (or, with completed=false, as pending again).",
     "{\"type\":\"object\",\"properties\":{" TASK_ID_PROP ",\"completed\":{\"type\":\"boolean\",\"default\":"
     "true}},\"required\":[\"task_id\"]}",
     ONE_TASK_OUTPUT},
    {"update_task", "Change a task's title, description, due date or completion; omitted fields stay.",
     "{\"type\":\"object\",\"properties\":{" TASK_ID_PROP ",\"title\":{\"type\":\"string\",\"minLength\":1,"
     "\"maxLength\":200},\"description\":{\"type\":\"string\",\"maxLength\":2000},\"due_at\":{\"type\":["
     "\"string\",\"null\"],\"format\":\"date-time\"},\"completed\":{\"type\":\"boolean\"}},\"required\":["
     "\"task_id\"]}",
     ONE_TASK_OUTPUT},
    {"delete_task", "Delete a task.",
     "{\"type\":\"object\",\"properties\":{" TASK_ID_PROP "},\"required\":[\"task_id\"]}",
     "{\"type\":\"object\",\"properties\":{\"task_id\":{\"type\":\"string\"},\"deleted\":{\"type\":"
     "\"boolean\"}},\"required\":[\"task_id\",\"deleted\"]}"},
};
#define N_TOOLS (sizeof(table) / sizeof(table[0]))

const struct tools_def *tools_table(size_t *count)
{
    *count = N_TOOLS;
    return table;
}

const struct tools_def *tools_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < N_TOOLS; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

json_t *tools_chat_json(void)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < N_TOOLS; i++) {
        json_t *params = json_loads(table[i].input_schema, 0, NULL);
        json_t *t = params != NULL
                        ? json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "function", "function", "name",
                                    table[i].name, "description", table[i].description, "parameters", params)
                        : NULL;
        if (t == NULL || json_array_append_new(list, t) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

json_t *tools_mcp_json(void)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < N_TOOLS; i++) {
        json_t *in = json_loads(table[i].input_schema, 0, NULL);
        json_t *out = json_loads(table[i].output_schema, 0, NULL);
        json_t *t = in != NULL && out != NULL
                        ? json_pack("{s:s,s:s,s:o,s:o}", "name", table[i].name, "description",
                                    table[i].description, "inputSchema", in, "outputSchema", out)
                        : NULL;
        if (t == NULL) {
            json_decref(in);
            json_decref(out);
        }
        if (t == NULL || json_array_append_new(list, t) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* ---- calls ---- */

enum tool_kind { T_ADD, T_LIST, T_COMPLETE, T_UPDATE, T_DELETE };

struct tools_call {
    struct store *store;
    enum tool_kind kind;
    char user_id[BASE_UUID_LEN + 1];
    char task_id[BASE_UUID_LEN + 1];
    json_t *args;
    store_handle pending;
    bool retried; /* one retry after a concurrent change (412) between read and write */
    tools_done_fn cb;
    void *arg;
};

static void call_end(struct tools_call *c, bool is_error, json_t *result)
{
    tools_done_fn cb = c->cb;
    void *arg = c->arg;
    json_decref(c->args);
    free(c);
    cb(arg, is_error, result);
}

static void call_fail(struct tools_call *c, const char *message)
{
    call_end(c, true, json_pack("{s:s}", "error", message));
}

static const char *status_message(enum store_status st)
{
    switch (st) {
    case STORE_NOT_FOUND:
        return "no such task";
    case STORE_INVALID:
        return "a value is outside the range the database can store";
    case STORE_PRECONDITION_FAILED:
        return "the task was changed meanwhile; read it again";
    case STORE_BUSY:
    case STORE_UNAVAILABLE:
    case STORE_TIMEOUT:
        return "the database is unavailable; try again shortly";
    default:
        return "the database refused the request";
    }
}

static json_t *task_result(const struct store_result *r)
{
    json_t *task = r->json != NULL ? json_loadb(r->json, r->json_len, 0, NULL) : NULL;
    return task != NULL ? json_pack("{s:o}", "task", task) : NULL;
}

static bool is_rfc3339_like(const char *s)
{
    /* The exact rule is the REST routes' (api_is_rfc3339); the database's check covers the rest. */
    size_t n = strlen(s);
    return n >= 20 && n <= 40 && isdigit((unsigned char)s[0]) && s[4] == '-' && s[7] == '-' &&
           (s[10] == 'T' || s[10] == 't');
}

static size_t utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* Field checks shared by add_task and update_task; returns the first problem or NULL. */
static const char *check_fields(json_t *args, bool title_required)
{
    json_t *title = json_object_get(args, "title");
    json_t *description = json_object_get(args, "description");
    json_t *due = json_object_get(args, "due_at");
    json_t *completed = json_object_get(args, "completed");
    if (title == NULL && title_required)
        return "title is required";
    if (title != NULL &&
        (!json_is_string(title) || utf8_len(json_string_value(title), json_string_length(title)) < 1 ||
         utf8_len(json_string_value(title), json_string_length(title)) > TITLE_MAX))
        return "title must be a string of 1 to 200 characters";
    if (description != NULL && !json_is_null(description) &&
        (!json_is_string(description) ||
         utf8_len(json_string_value(description), json_string_length(description)) > DESCRIPTION_MAX))
        return "description must be a string of at most 2000 characters";
    if (due != NULL && !json_is_null(due) &&
        (!json_is_string(due) || !is_rfc3339_like(json_string_value(due))))
        return "due_at must be an RFC 3339 date-time such as 2030-01-31T17:00:00Z, or null";
    if (completed != NULL && !json_is_boolean(completed))
        return "completed must be true or false";
    return NULL;
}

static void on_written(void *arg, const struct store_result *r);

/* complete_task and update_task: read the task, merge, write it back conditionally on the version
 * read (the REST routes' If-Match), so a concurrent change is never silently overwritten. */
static void on_read_for_write(void *arg, const struct store_result *r)
{
    struct tools_call *c = arg;
    c->pending = NULL;
    if (r->status != STORE_OK) {
        call_fail(c, status_message(r->status));
        return;
    }
    json_t *task = json_loadb(r->json, r->json_len, 0, NULL);
    if (task == NULL) {
        call_fail(c, "out of memory");
        return;
    }
    struct store_task_fields f = {
        .title = json_string_value(json_object_get(task, "title")),
        .description = json_string_value(json_object_get(task, "description")),
        .completed = json_is_true(json_object_get(task, "completed")),
        .due_at = json_string_value(json_object_get(task, "due_at")),
    };
    json_t *v;
    if (c->kind == T_COMPLETE) {
        v = json_object_get(c->args, "completed");
        f.completed = v == NULL || json_is_true(v); /* sets, never toggles */
    } else {
        if ((v = json_object_get(c->args, "title")) != NULL)
            f.title = json_string_value(v);
        if ((v = json_object_get(c->args, "description")) != NULL)
            f.description = json_is_null(v) ? "" : json_string_value(v);
        if ((v = json_object_get(c->args, "due_at")) != NULL)
            f.due_at = json_string_value(v); /* null clears */
        if ((v = json_object_get(c->args, "completed")) != NULL)
            f.completed = json_is_true(v);
    }
    enum store_status immediate = STORE_OK;
    c->pending =
        store_task_replace(c->store, c->user_id, c->task_id, r->version, &f, on_written, c, &immediate);
    json_decref(task); /* the store copied what it needs */
    if (c->pending == NULL)
        call_fail(c, status_message(immediate));
}

static void on_written(void *arg, const struct store_result *r)
{
    struct tools_call *c = arg;
    c->pending = NULL;
    if (r->status == STORE_PRECONDITION_FAILED && !c->retried) {
        c->retried = true;
        enum store_status immediate = STORE_OK;
        c->pending = store_task_get(c->store, c->user_id, c->task_id, on_read_for_write, c, &immediate);
        if (c->pending == NULL)
            call_fail(c, status_message(immediate));
        return;
    }
    if (r->status != STORE_OK) {
        call_fail(c, status_message(r->status));
        return;
    }
    json_t *result = NULL;
    switch (c->kind) {
    case T_DELETE:
        result = json_pack("{s:s,s:b}", "task_id", c->task_id, "deleted", 1);
        break;
    case T_LIST: {
        json_t *tasks = r->json != NULL ? json_loadb(r->json, r->json_len, 0, NULL) : NULL;
        result = tasks != NULL
                     ? json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(tasks), "tasks", tasks)
                     : NULL;
        break;
    }
    default:
        result = task_result(r);
        break;
    }
    if (result == NULL)
        call_fail(c, "out of memory");
    else
        call_end(c, false, result);
}

struct tools_call *tools_run(struct store *store, const char *user_id, const char *name,
                             const char *arguments, size_t arguments_len, tools_done_fn cb, void *arg)
{
    struct tools_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cb(arg, true, json_pack("{s:s}", "error", "out of memory"));
        return NULL;
    }
    c->store = store;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->user_id, sizeof(c->user_id), "%s", user_id);
    static const char *const names[] = {"add_task", "list_tasks", "complete_task", "update_task",
                                        "delete_task"};
    int kind = -1;
    for (int i = 0; i < 5; i++)
        if (name != NULL && strcmp(name, names[i]) == 0)
            kind = i;
    if (kind < 0) {
        call_fail(c, "no such tool");
        return NULL;
    }
    c->kind = (enum tool_kind)kind;
    /* Models send "" or nothing for a call without arguments. */
    bool empty = arguments == NULL || arguments_len == 0;
    json_error_t err;
    c->args = empty ? json_object() : json_loadb(arguments, arguments_len, JSON_REJECT_DUPLICATES, &err);
    if (c->args == NULL || !json_is_object(c->args)) {
        call_fail(c, "the arguments are not a JSON object");
        return NULL;
    }
    if (c->kind != T_ADD && c->kind != T_LIST) {
        const char *id = json_string_value(json_object_get(c->args, "task_id"));
        if (id == NULL) {
            call_fail(c, "task_id is required");
            return NULL;
        }
        if (!base_uuid_is_valid(id, strlen(id))) {
            call_fail(c, "no such task"); /* as the REST routes: a malformed id names no task */
            return NULL;
        }
        base_uuid_lower(id, c->task_id);
    }
    const char *problem = NULL;
    if (c->kind == T_ADD || c->kind == T_UPDATE)
        problem = check_fields(c->args, c->kind == T_ADD);
    json_t *v = json_object_get(c->args, "completed");
    if (c->kind == T_COMPLETE && v != NULL && !json_is_boolean(v))
        problem = "completed must be true or false";
    struct store_task_query q = {.completed = -1, .limit = LIST_DEFAULT};
    if (c->kind == T_LIST) {
        json_t *status = json_object_get(c->args, "status");
        json_t *limit = json_object_get(c->args, "limit");
        const char *s = json_string_value(status);
        if (status != NULL && !json_is_null(status) &&
            (s == NULL ||
             (strcmp(s, "all") != 0 && strcmp(s, "pending") != 0 && strcmp(s, "completed") != 0)))
            problem = "status must be all, pending or completed";
        else if (s != NULL && strcmp(s, "all") != 0)
            q.completed = strcmp(s, "completed") == 0;
        if (limit != NULL && !json_is_null(limit) &&
            (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
             json_integer_value(limit) > LIST_MAX))
            problem = "limit must be an integer from 1 to 100";
        else if (json_is_integer(limit))
            q.limit = (int)json_integer_value(limit);
    }
    if (problem != NULL) {
        call_fail(c, problem);
        return NULL;
    }
    enum store_status immediate = STORE_OK;
    switch (c->kind) {
    case T_ADD: {
        json_t *d = json_object_get(c->args, "description");
        struct store_task_fields f = {
            .title = json_string_value(json_object_get(c->args, "title")),
            .description = json_is_string(d) ? json_string_value(d) : "",
            .completed = false,
            .due_at = json_string_value(json_object_get(c->args, "due_at")),
        };
        c->pending = store_task_create(store, c->user_id, &f, on_written, c, &immediate);
        break;
    }
    case T_LIST:
        c->pending = store_task_list(store, c->user_id, &q, on_written, c, &immediate);
        break;
    case T_COMPLETE:
    case T_UPDATE:
        c->pending = store_task_get(store, c->user_id, c->task_id, on_read_for_write, c, &immediate);
        break;
    case T_DELETE:
        c->pending = store_task_delete(store, c->user_id, c->task_id, -1, on_written, c, &immediate);
        break;
    }
    if (c->pending == NULL) {
        call_fail(c, status_message(immediate));
        return NULL;
    }
    return c;
}

void tools_cancel(struct tools_call *c)
{
    if (c == NULL)
        return;
    if (c->pending != NULL)
        store_cancel(c->store, c->pending);
    json_decref(c->args);
    free(c);
}
