/* Test driver for pkg/store: runs calls read as JSON lines from stdin against one back end and prints
 * each result as a JSON line, so tests/dev/test_store_parity.py can run the same calls on SQLite and
 * on PostgreSQL and compare them. Also exercises cancel, the queue bound and destroy with work in
 * flight (under ASan in `make test`).
 *
 * usage: store-driver sqlite:PATH [--migrate] | store-driver postgresql://...
 * input lines: {"op": "<store call>", "args": [...]}; see run_call() for each op's arguments, plus
 *   {"op": "cancel", "call": {...}}   submit, cancel at once, run the loop 300 ms: {"callbacks": n}
 *   {"op": "flood", "n": N}           submit N schema_state calls without running the loop:
 *                                     {"accepted": a, "busy": b}; they are left for destroy (last line) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>
#include <jansson.h>

#include "migrate/migrate.h"
#include "pgpool/pgpool.h"
#include "store/store.h"

struct driver {
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t resolver;
    struct pgpool *pg;
    struct store *store;
    int callbacks;
    json_t *last; /* the result of the call in flight */
};

static const char *status_name(enum store_status st)
{
    switch (st) {
    case STORE_OK:
        return "OK";
    case STORE_NOT_FOUND:
        return "NOT_FOUND";
    case STORE_CONFLICT:
        return "CONFLICT";
    case STORE_PRECONDITION_FAILED:
        return "PRECONDITION_FAILED";
    case STORE_BUSY:
        return "BUSY";
    case STORE_UNAVAILABLE:
        return "UNAVAILABLE";
    case STORE_TIMEOUT:
        return "TIMEOUT";
    case STORE_ERROR:
        return "ERROR";
    case STORE_INVALID:
        return "INVALID";
    case STORE_NO_USER:
        return "NO_USER";
    }
    return "?";
}

static json_t *text_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static void on_result(void *arg, const struct store_result *r)
{
    struct driver *d = arg;
    d->callbacks++;
    json_t *body = json_null();
    if (r->json != NULL) {
        json_error_t err;
        body = json_loadb(r->json, r->json_len, JSON_DECODE_ANY, &err);
        if (body == NULL)
            body = json_pack("{s:s%}", "invalid_json", r->json, r->json_len);
    }
    json_decref(d->last);
    d->last = json_pack("{s:s,s:o,s:I,s:o,s:o,s:o,s:I,s:I,s:b}", "status", status_name(r->status), "json",
                        body, "version", (json_int_t)r->version, "user_id", text_or_null(r->user_id),
                        "password_hash", text_or_null(r->password_hash), "next_cursor",
                        text_or_null(r->next_cursor), "schema_version", (json_int_t)r->schema_version,
                        "schema_floor", (json_int_t)r->schema_floor, "schema_missing", r->schema_missing);
}

/* Raw bytes for arguments JSON cannot carry (invalid UTF-8): {"hex": "636166e9"}. */
static char hex_args[8][256];

static const char *arg_text(json_t *args, size_t i)
{
    json_t *v = json_array_get(args, i);
    const char *hex = json_string_value(json_object_get(v, "hex"));
    if (hex == NULL || i >= 8 || strlen(hex) / 2 >= sizeof(hex_args[i]))
        return json_string_value(v);
    size_t n = 0;
    for (; hex[2 * n] != '\0' && hex[2 * n + 1] != '\0'; n++) {
        unsigned byte = 0;
        if (sscanf(hex + 2 * n, "%2x", &byte) != 1)
            break;
        hex_args[i][n] = (char)byte;
    }
    hex_args[i][n] = '\0';
    return hex_args[i];
}

static long long arg_int(json_t *args, size_t i)
{
    return (long long)json_integer_value(json_array_get(args, i));
}

/* Submits one call; returns its handle (NULL with *immediate set when refused at once). */
static store_handle submit(struct driver *d, json_t *call, enum store_status *immediate, bool *known)
{
    const char *op = json_string_value(json_object_get(call, "op"));
    json_t *a = json_object_get(call, "args");
    struct store *s = d->store;
    *known = true;
    if (op == NULL) {
        *known = false;
        return NULL;
    }
    if (strcmp(op, "schema_state") == 0)
        return store_schema_state(s, on_result, d, immediate);
    if (strcmp(op, "user_create") == 0) /* email, password_hash */
        return store_user_create(s, arg_text(a, 0), arg_text(a, 1), on_result, d, immediate);
    if (strcmp(op, "user_by_email") == 0) /* email */
        return store_user_by_email(s, arg_text(a, 0), on_result, d, immediate);
    if (strcmp(op, "task_list") == 0) { /* user_id, completed (-1/0/1), limit, cursor */
        struct store_task_query q = {(int)arg_int(a, 1), (int)arg_int(a, 2), arg_text(a, 3)};
        return store_task_list(s, arg_text(a, 0), &q, on_result, d, immediate);
    }
    if (strcmp(op, "task_get") == 0) /* user_id, task_id */
        return store_task_get(s, arg_text(a, 0), arg_text(a, 1), on_result, d, immediate);
    if (strcmp(op, "task_create") == 0) { /* user_id, title, description, completed, due_at */
        struct store_task_fields f = {arg_text(a, 1), arg_text(a, 2), json_is_true(json_array_get(a, 3)),
                                      arg_text(a, 4)};
        return store_task_create(s, arg_text(a, 0), &f, on_result, d, immediate);
    }
    if (strcmp(op, "task_replace") ==
        0) { /* user_id, task_id, if_match, title, description, completed, due */
        struct store_task_fields f = {arg_text(a, 3), arg_text(a, 4), json_is_true(json_array_get(a, 5)),
                                      arg_text(a, 6)};
        return store_task_replace(s, arg_text(a, 0), arg_text(a, 1), arg_int(a, 2), &f, on_result, d,
                                  immediate);
    }
    if (strcmp(op, "task_toggle") == 0) /* user_id, task_id, if_match */
        return store_task_toggle(s, arg_text(a, 0), arg_text(a, 1), arg_int(a, 2), on_result, d, immediate);
    if (strcmp(op, "task_delete") == 0) /* user_id, task_id, if_match */
        return store_task_delete(s, arg_text(a, 0), arg_text(a, 1), arg_int(a, 2), on_result, d, immediate);
    if (strcmp(op, "webhook_create") == 0) /* user_id, url, events_json, secret, max_per_user */
        return store_webhook_create(s, arg_text(a, 0), arg_text(a, 1), arg_text(a, 2), arg_text(a, 3),
                                    (int)arg_int(a, 4), on_result, d, immediate);
    if (strcmp(op, "webhook_list") == 0) /* user_id */
        return store_webhook_list(s, arg_text(a, 0), on_result, d, immediate);
    if (strcmp(op, "webhook_delete") == 0) /* user_id, webhook_id */
        return store_webhook_delete(s, arg_text(a, 0), arg_text(a, 1), on_result, d, immediate);
    *known = false;
    return NULL;
}

static void run_loop_for(struct driver *d, int ms)
{
    uint64_t until = h2o_now(d->loop) + (uint64_t)ms;
    while (h2o_now(d->loop) < until)
        h2o_evloop_run(d->loop, (int32_t)(until - h2o_now(d->loop)));
}

static json_t *run_call(struct driver *d, json_t *call)
{
    enum store_status immediate = STORE_OK;
    bool known;
    int before = d->callbacks;
    store_handle h = submit(d, call, &immediate, &known);
    if (!known)
        return json_pack("{s:s}", "error", "unknown op");
    if (h == NULL)
        return json_pack("{s:s,s:b}", "status", status_name(immediate), "immediate", 1);
    while (d->callbacks == before)
        h2o_evloop_run(d->loop, 1000);
    json_t *out = d->last;
    d->last = NULL;
    return out;
}

static json_t *run_cancel(struct driver *d, json_t *call)
{
    enum store_status immediate = STORE_OK;
    bool known;
    int before = d->callbacks;
    store_handle h = submit(d, json_object_get(call, "call"), &immediate, &known);
    if (h == NULL)
        return json_pack("{s:s}", "error", "refused at once");
    store_cancel(d->store, h);
    run_loop_for(d, 300);
    return json_pack("{s:i}", "callbacks", d->callbacks - before);
}

static json_t *run_flood(struct driver *d, json_t *cmd)
{
    int n = (int)json_integer_value(json_object_get(cmd, "n")), accepted = 0, busy = 0;
    for (int i = 0; i < n; i++) {
        enum store_status immediate = STORE_OK;
        if (store_schema_state(d->store, on_result, d, &immediate) != NULL)
            accepted++;
        else if (immediate == STORE_BUSY)
            busy++;
    }
    return json_pack("{s:i,s:i}", "accepted", accepted, "busy", busy);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store-driver sqlite:PATH [--migrate] | postgresql://...\n");
        return 64;
    }
    struct driver d = {0};
    int rc = 1;
    bool sqlite = strncmp(argv[1], "sqlite:", 7) == 0;
    if (sqlite && argc > 2 && strcmp(argv[2], "--migrate") == 0 &&
        migrate_sqlite(argv[1] + 7) != MIGRATE_EXIT_OK)
        return 1;
    d.loop = h2o_evloop_create();
    d.queue = h2o_multithread_create_queue(d.loop);
    h2o_multithread_register_receiver(d.queue, &d.resolver, h2o_hostinfo_getaddr_receiver);
    if (sqlite) {
        d.store = store_create_sqlite(d.loop, d.queue, argv[1] + 7);
    } else {
        struct pgpool_config pc = {.conninfo = argv[1],
                                   .size = 2,
                                   .queue_max = 512,
                                   .connect_timeout_ms = 3000,
                                   .query_timeout_ms = 5000};
        d.pg = pgpool_create(d.loop, &d.resolver, &pc);
        d.store = d.pg != NULL ? store_create_pg(d.pg) : NULL;
    }
    if (d.store == NULL) {
        fprintf(stderr, "store-driver: cannot create the store\n");
        goto cleanup;
    }
    char line[65536];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        json_error_t err;
        json_t *cmd = json_loads(line, 0, &err);
        if (cmd == NULL) {
            fprintf(stderr, "store-driver: bad input line: %s\n", err.text);
            goto cleanup;
        }
        const char *op = json_string_value(json_object_get(cmd, "op"));
        json_t *out = op != NULL && strcmp(op, "cancel") == 0  ? run_cancel(&d, cmd)
                      : op != NULL && strcmp(op, "flood") == 0 ? run_flood(&d, cmd)
                                                               : run_call(&d, cmd);
        json_decref(cmd);
        char *text = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
        if (text == NULL)
            goto cleanup;
        printf("%s\n", text);
        fflush(stdout);
        free(text);
    }
    rc = 0;
cleanup:
    /* Whatever is still in flight (a flood) is discarded here without callbacks. */
    store_destroy(d.store);
    pgpool_destroy(d.pg);
    json_decref(d.last);
    h2o_multithread_unregister_receiver(d.queue, &d.resolver);
    h2o_multithread_destroy_queue(d.queue);
    h2o_evloop_destroy(d.loop);
    return rc;
}
