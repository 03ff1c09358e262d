/* pkg/store on PostgreSQL: one prepared statement per operation, run through the loop's pgpool.
 * Each write is one statement whose CTEs also insert the outbox event, so the change and its
 * event commit together without a multi-statement transaction holding a pooled connection. */
#include "store/store_impl.h"
#include "log/log.h"
#include "pgpool/pgpool.h"
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JSON shape of a task, built by PostgreSQL itself. */
#define TS(col) "to_char(" col " at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define TASK_JSON(t)                                                                                         \
    "json_build_object('id', " t ".id, 'title', " t ".title, 'description', " t                              \
    ".description, 'completed', " t ".completed, 'due_at', " TS(t ".due_at") ", 'created_at', " TS(          \
        t ".created_at") ", 'updated_at', " TS(t ".updated_at") ")"
/* A token outlives its user (the account may be deleted while the token is valid): every statement
 * for a user tells "no such user" apart in the same statement, so without an extra round trip. Reads
 * append this row (NULL columns) when the user is gone; writes that find no row select the column. */
#define NO_USER_ROW(cols) " UNION ALL SELECT " cols " WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = $1)"
#define USER_EXISTS       "EXISTS (SELECT 1 FROM users WHERE id = $1)"
#define OUTBOX_INSERT(type_expr)                                                                             \
    "e AS (INSERT INTO outbox (user_id, task_id, type, payload) SELECT t.user_id, t.id, " type_expr          \
    ", " TASK_JSON("t") "::jsonb FROM t) "

static const struct pgpool_statement statements[] = {
    [STORE_OP_SCHEMA_STATE] = {"schema_state", NULL, 0},
    [STORE_OP_OUTBOX_BACKLOG] = {"outbox_backlog", NULL, 0},
    [STORE_OP_USER_CREATE] = {"user_create",
                              "INSERT INTO users (email, password_hash) VALUES (lower($1), $2) RETURNING id",
                              2},
    [STORE_OP_USER_BY_EMAIL] = {"user_by_email",
                                "SELECT id, password_hash FROM users WHERE email = lower($1)", 1},
    /* One row per task (limit + 1 of them, to know whether a next page exists); the array and
     * the cursor are assembled in C, which is cheaper than json_agg and a window in the database. */
    [STORE_OP_TASK_LIST] =
        {"task_list",
         "(SELECT " TASK_JSON(
             "t") "::text, (extract(epoch FROM t.created_at) * 1000000)::bigint::text "
                  "|| '.' || t.id FROM tasks t WHERE t.user_id = $1 AND ($2::boolean IS NULL OR "
                  "t.completed = $2) AND ($3::bigint IS NULL OR (t.created_at, t.id) < (timestamptz "
                  "'epoch' + $3::bigint * interval '1 microsecond', $4::uuid)) ORDER BY t.created_at "
                  "DESC, t.id DESC LIMIT $5::int + 1)" NO_USER_ROW("NULL, NULL"),
         5},
    [STORE_OP_TASK_GET] = {"task_get",
                           "SELECT " TASK_JSON("t") "::text, t.version FROM tasks t WHERE t.user_id = $1 "
                                                    "AND t.id = $2" NO_USER_ROW("NULL, NULL"),
                           2},
    [STORE_OP_TASK_CREATE] =
        {"task_create",
         "WITH t AS (INSERT INTO tasks (user_id, title, description, completed, due_at) VALUES "
         "($1, $2, $3, $4, $5::timestamptz) RETURNING *), " OUTBOX_INSERT(
             "'task.created'") "SELECT " TASK_JSON("t") "::text, t.version FROM t",
         5},
    [STORE_OP_TASK_REPLACE] =
        {"task_replace",
         "WITH cur AS (SELECT version, completed FROM tasks WHERE user_id = $1 AND id = $2), "
         "t AS (UPDATE tasks SET title = $3, description = $4, completed = $5, due_at = "
         "$6::timestamptz, "
         "updated_at = now(), version = version + 1 WHERE user_id = $1 AND id = $2 AND ($7::bigint "
         "IS NULL OR "
         "version = $7::bigint) RETURNING *), " OUTBOX_INSERT(
             "CASE WHEN t.completed AND NOT (SELECT completed FROM cur) THEN 'task.completed' ELSE "
             "'task.updated' "
             "END") "SELECT (SELECT " TASK_JSON("t") "::text FROM t), (SELECT version FROM t), "
                                                     "(SELECT version FROM "
                                                     "cur), " USER_EXISTS,
         7},
    [STORE_OP_TASK_TOGGLE] =
        {"task_toggle",
         "WITH cur AS (SELECT version FROM tasks WHERE user_id = $1 AND id = $2), "
         "t AS (UPDATE tasks SET completed = NOT completed, updated_at = now(), version = version "
         "+ 1 WHERE "
         "user_id = $1 AND id = $2 AND ($3::bigint IS NULL OR version = $3::bigint) RETURNING "
         "*), " OUTBOX_INSERT(
             "CASE WHEN t.completed THEN 'task.completed' ELSE 'task.updated' "
             "END") "SELECT (SELECT " TASK_JSON("t") "::text FROM t), (SELECT version FROM "
                                                     "t), (SELECT version FROM cur), " USER_EXISTS,
         3},
    [STORE_OP_TASK_DELETE] =
        {"task_delete",
         "WITH cur AS (SELECT version FROM tasks WHERE user_id = $1 AND id = $2), "
         "t AS (DELETE FROM tasks WHERE user_id = $1 AND id = $2 AND ($3::bigint IS NULL OR "
         "version = $3::bigint) RETURNING *), " OUTBOX_INSERT(
             "'task.deleted'") "SELECT (SELECT count(*) FROM t), NULL, (SELECT version FROM "
                               "cur), " USER_EXISTS,
         3},
    [STORE_OP_WEBHOOK_CREATE] =
        {"webhook_create",
         "INSERT INTO webhook_endpoints (user_id, url, events, secret) SELECT $1, $2, "
         "ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4 WHERE (SELECT count(*) FROM "
         "webhook_endpoints WHERE user_id = $1) < $5::int RETURNING json_build_object('id', "
         "id, 'url', url, 'events', to_json(events), 'created_at', " TS("created_at") ")::text",
         5},
    [STORE_OP_WEBHOOK_LIST] =
        {"webhook_list",
         "SELECT coalesce(json_agg(json_build_object('id', w.id, 'url', w.url, 'events', "
         "to_json(w.events), 'created_at', " TS(
             "w.created_at") ") ORDER BY w.created_at, w.id), "
                             "'[]'::json)::text, " USER_EXISTS
                             " FROM webhook_endpoints w WHERE w.user_id = $1",
         1},
    [STORE_OP_WEBHOOK_DELETE] =
        {"webhook_delete",
         "WITH d AS (DELETE FROM webhook_endpoints WHERE user_id = $1 AND id = $2 RETURNING 1) "
         "SELECT (SELECT count(*) FROM d), " USER_EXISTS,
         2},
    [STORE_OP_CONVERSATION_OPEN] =
        {"conversation_open",
         "WITH ins AS (INSERT INTO conversations (user_id) SELECT $1 WHERE $2::uuid IS NULL RETURNING id) "
         "SELECT id::text FROM ins UNION ALL SELECT id::text FROM conversations WHERE $2::uuid IS NOT "
         "NULL AND id = $2::uuid AND user_id = $1",
         2},
    /* One statement: the conversation's activity time and every message, in array order. */
    [STORE_OP_MESSAGES_APPEND] =
        {"messages_append",
         "WITH c AS (UPDATE conversations SET updated_at = now() WHERE id = $2 AND user_id = $1 RETURNING "
         "id), m AS (INSERT INTO messages (conversation_id, user_id, role, content, tool_calls, "
         "tool_call_id) SELECT c.id, $1, x.e->>'role', coalesce(x.e->>'content', ''), "
         "nullif(x.e->'tool_calls', 'null'::jsonb), x.e->>'tool_call_id' FROM c CROSS JOIN "
         "jsonb_array_elements($3::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY x.n RETURNING id, seq) "
         "SELECT (SELECT id::text FROM m ORDER BY seq DESC LIMIT 1)",
         3},
    [STORE_OP_MESSAGES_RECENT] =
        {"messages_recent",
         "SELECT (SELECT count(*) FROM conversations WHERE id = $2 AND user_id = $1), (SELECT "
         "coalesce(json_agg(json_build_object('id', m.id, 'role', m.role, 'content', m.content, "
         "'tool_calls', m.tool_calls, 'tool_call_id', m.tool_call_id, 'created_at', " TS(
             "m.created_at") ") ORDER BY m.seq), '[]'::json)::text FROM (SELECT * FROM messages WHERE "
                             "conversation_id = $2 AND user_id = $1 ORDER BY seq DESC LIMIT $3::int) m)",
         3},
    [STORE_OP_CONVERSATION_LIST] =
        {"conversation_list",
         "SELECT json_build_object('id', c.id, 'created_at', " TS("c.created_at") ", 'updated_at', " TS(
             "c.updated_at") ")::text, (extract(epoch FROM c.created_at) * 1000000)::bigint::text || '.' || "
                             "c.id FROM conversations c WHERE c.user_id = $1 AND ($2::bigint IS NULL OR "
                             "(c.created_at, c.id) < (timestamptz 'epoch' + $2::bigint * interval '1 "
                             "microsecond', $3::uuid)) ORDER BY c.created_at DESC, c.id DESC LIMIT $4::int + "
                             "1",
         4},
    [STORE_OP_CONVERSATION_DELETE] =
        {"conversation_delete",
         "WITH d AS (DELETE FROM conversations WHERE user_id = $1 AND id = $2 RETURNING 1) SELECT count(*) "
         "FROM d",
         2},
};

struct pg_store {
    struct pgpool *pool;
};

/* One call in flight: owns copies of its arguments (the pool needs them until the result). */
struct pg_store_call {
    struct pgpool_query query;
    struct pg_store *store;
    enum store_op op;
    store_cb cb;
    void *arg;
    char *arg_copies[STORE_MAX_ARGS];
};

static void call_free(struct pg_store_call *c)
{
    for (int i = 0; i < STORE_MAX_ARGS; i++)
        free(c->arg_copies[i]);
    free(c);
}

/* Not prepared either (the table may not exist yet); both halves walk outbox_unpublished_idx. */
#define STR_(x) #x
#define STR(x)  STR_(x)
static const char outbox_backlog_sql[] =
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT " STR(
        STORE_OUTBOX_COUNT_MAX) ") s), coalesce((SELECT (extract(epoch FROM now() - created_at) * "
                                "1000)::bigint FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1), "
                                "0)";

static const char *value(PGresult *res, int col)
{
    if (PQntuples(res) < 1 || PQnfields(res) <= col || PQgetisnull(res, 0, col))
        return NULL;
    return PQgetvalue(res, 0, col);
}

static long long value_ll(PGresult *res, int col, long long fallback)
{
    const char *v = value(res, col);
    return v != NULL ? strtoll(v, NULL, 10) : fallback;
}

static enum store_status status_of(enum pgpool_error err)
{
    switch (err) {
    case PGPOOL_OK:
        return STORE_OK;
    case PGPOOL_ERR_QUEUE_FULL:
        return STORE_BUSY;
    case PGPOOL_ERR_TIMEOUT:
        return STORE_TIMEOUT;
    case PGPOOL_ERR_UNAVAILABLE:
    case PGPOOL_ERR_SHUTDOWN:
        return STORE_UNAVAILABLE;
    case PGPOOL_ERR_QUERY:
        return STORE_ERROR;
    }
    return STORE_ERROR;
}

/* "t"/"f" of an EXISTS column; false when absent. */
static bool value_true(PGresult *res, int col)
{
    const char *v = value(res, col);
    return v != NULL && v[0] == 't';
}

/* A write that found no row (columns: …, the version the statement saw first, whether the user
 * exists). With If-Match, a row that was there means it changed since the client's ETag (412).
 * Without one there is no precondition to fail: the row went away between the statement's snapshot
 * and its write (a concurrent delete), so it is gone (404). */
static void fill_conditional(struct store_result *r, PGresult *res, bool done, bool has_if_match)
{
    if (done)
        return;
    if (!value_true(res, 3))
        r->status = STORE_NO_USER;
    else if (has_if_match && value(res, 2) != NULL)
        r->status = STORE_PRECONDITION_FAILED;
    else
        r->status = STORE_NOT_FOUND;
    if (r->status == STORE_PRECONDITION_FAILED)
        r->version = value_ll(res, 2, 0); /* the current version: the 412's ETag */
}

/* "[row,row,…]" from the first `limit` rows; next_cursor from the last of them when one more exists.
 * Returns a malloc'd text (NULL on allocation failure). */
static char *page_json(PGresult *res, int limit, struct store_result *r)
{
    int rows = PQntuples(res);
    int shown = rows < limit ? rows : limit;
    size_t cap = 3;
    for (int i = 0; i < shown; i++)
        cap += (size_t)PQgetlength(res, i, 0) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    out[n++] = '[';
    for (int i = 0; i < shown; i++) {
        if (i > 0)
            out[n++] = ',';
        size_t len = (size_t)PQgetlength(res, i, 0);
        memcpy(out + n, PQgetvalue(res, i, 0), len);
        n += len;
    }
    out[n++] = ']';
    out[n] = '\0';
    r->json = out;
    r->json_len = n;
    r->next_cursor = rows > limit && shown > 0 ? PQgetvalue(res, shown - 1, 1) : NULL;
    return out;
}

static void on_result(void *arg, enum pgpool_error err, PGresult *res)
{
    struct pg_store_call *c = arg;
    struct store_result r = {.status = status_of(err)};
    char *list_json = NULL;
    if (err == PGPOOL_ERR_QUERY) {
        const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (sqlstate != NULL && strcmp(sqlstate, "23505") == 0)
            r.status = STORE_CONFLICT;
        else if (sqlstate != NULL && strcmp(sqlstate, "23503") == 0)
            r.status = STORE_NO_USER; /* the only foreign keys are the owner's (users) */
        else if (sqlstate != NULL && strncmp(sqlstate, "22", 2) == 0)
            r.status =
                STORE_INVALID; /* e.g. a date the type cannot hold: the client's value, not our fault */
        else if (sqlstate != NULL && strcmp(sqlstate, "57014") == 0)
            r.status = STORE_TIMEOUT; /* statement_timeout (DB_QUERY_TIMEOUT_MS) ended it: 503, not 500 */
        else if (sqlstate != NULL && strcmp(sqlstate, "42P01") == 0 && c->op == STORE_OP_SCHEMA_STATE) {
            r.status = STORE_OK;
            r.schema_missing = true;
        } else if (sqlstate != NULL && strcmp(sqlstate, "42P01") == 0 && c->op == STORE_OP_OUTBOX_BACKLOG) {
            r.status = STORE_OK; /* not migrated yet: nothing waits */
        } else {
            const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            log_write(LOG_ERROR, NULL, "database statement failed",
                      json_pack("{s:s,s:s,s:s}", "statement", statements[c->op].name, "sqlstate",
                                sqlstate != NULL ? sqlstate : "", "error", msg != NULL ? msg : ""));
            /* Class 53, insufficient resources (disk full, out of memory, too many connections): the
             * server's state, not the request's, so 503 + Retry-After instead of 500. */
            if (sqlstate != NULL && strncmp(sqlstate, "53", 2) == 0)
                r.status = STORE_UNAVAILABLE;
        }
    }
    if (err == PGPOOL_OK) {
        switch (c->op) {
        case STORE_OP_SCHEMA_STATE:
            r.schema_version = value_ll(res, 0, 0);
            r.schema_floor = value_ll(res, 1, 0);
            r.schema_missing = value(res, 0) == NULL;
            break;
        case STORE_OP_OUTBOX_BACKLOG:
            r.outbox_unpublished = value_ll(res, 0, 0);
            r.outbox_oldest_age_ms = value_ll(res, 1, 0);
            break;
        case STORE_OP_USER_CREATE:
            r.user_id = value(res, 0);
            break;
        case STORE_OP_USER_BY_EMAIL:
            r.user_id = value(res, 0);
            r.password_hash = value(res, 1);
            if (r.user_id == NULL)
                r.status = STORE_NOT_FOUND;
            break;
        case STORE_OP_TASK_LIST:
            if (PQntuples(res) == 1 && PQgetisnull(res, 0, 0)) {
                r.status = STORE_NO_USER; /* NO_USER_ROW, alone: the user's tasks went with it */
                break;
            }
            list_json = page_json(res, atoi(c->arg_copies[4]), &r);
            if (list_json == NULL)
                r.status = STORE_ERROR;
            break;
        case STORE_OP_TASK_GET:
            r.json = value(res, 0);
            r.version = value_ll(res, 1, 0);
            if (PQntuples(res) == 0)
                r.status = STORE_NOT_FOUND;
            else if (r.json == NULL)
                r.status = STORE_NO_USER;
            break;
        case STORE_OP_TASK_CREATE:
            r.json = value(res, 0);
            r.version = value_ll(res, 1, 0);
            if (r.json == NULL)
                r.status = STORE_NOT_FOUND;
            break;
        case STORE_OP_TASK_REPLACE:
            r.json = value(res, 0);
            r.version = value_ll(res, 1, 0);
            fill_conditional(&r, res, r.json != NULL, c->arg_copies[6] != NULL);
            break;
        case STORE_OP_TASK_TOGGLE:
            r.json = value(res, 0);
            r.version = value_ll(res, 1, 0);
            fill_conditional(&r, res, r.json != NULL, c->arg_copies[2] != NULL);
            break;
        case STORE_OP_TASK_DELETE:
            fill_conditional(&r, res, value_ll(res, 0, 0) > 0, c->arg_copies[2] != NULL);
            break;
        case STORE_OP_WEBHOOK_CREATE: /* no row: the per-user limit was reached */
            r.json = value(res, 0);
            if (r.json == NULL)
                r.status = STORE_CONFLICT;
            break;
        case STORE_OP_WEBHOOK_LIST:
            r.json = value(res, 0);
            if (r.json == NULL)
                r.json = "[]";
            if (!value_true(res, 1)) {
                r.status = STORE_NO_USER;
                r.json = NULL;
            }
            break;
        case STORE_OP_WEBHOOK_DELETE:
        case STORE_OP_CONVERSATION_DELETE:
            if (value_ll(res, 0, 0) == 0)
                r.status = value_true(res, 1) ? STORE_NOT_FOUND : STORE_NO_USER;
            break;
        case STORE_OP_CONVERSATION_OPEN:
        case STORE_OP_MESSAGES_APPEND:
            r.row_id = value(res, 0);
            if (r.row_id == NULL)
                r.status = STORE_NOT_FOUND;
            break;
        case STORE_OP_MESSAGES_RECENT:
            r.json = value(res, 1);
            if (value_ll(res, 0, 0) == 0 || r.json == NULL)
                r.status = STORE_NOT_FOUND;
            break;
        case STORE_OP_CONVERSATION_LIST:
            list_json = page_json(res, atoi(c->arg_copies[3]), &r);
            if (list_json == NULL)
                r.status = STORE_ERROR;
            break;
        }
        if (r.json != NULL && r.json_len == 0)
            r.json_len = strlen(r.json);
    }
    c->cb(c->arg, &r);
    free(list_json);
    call_free(c);
}

static store_handle pg_submit(void *impl, const struct store_call *call, enum store_status *immediate)
{
    struct pg_store *store = impl;
    struct pg_store_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        *immediate = STORE_BUSY;
        return NULL;
    }
    c->store = store;
    c->op = call->op;
    c->cb = call->cb;
    c->arg = call->arg;
    if (call->op == STORE_OP_SCHEMA_STATE) {
        /* Not prepared: the table may not exist yet, and a prepared plan would outlive migrations. */
        c->query.sql = schema_state_sql();
    } else if (call->op == STORE_OP_OUTBOX_BACKLOG) {
        c->query.sql = outbox_backlog_sql;
    } else {
        c->query.stmt = &statements[call->op];
    }
    c->query.nparams = call->nargs;
    for (int i = 0; i < call->nargs; i++) {
        if (call->args[i] == NULL)
            continue;
        c->arg_copies[i] = strdup(call->args[i]);
        if (c->arg_copies[i] == NULL) {
            call_free(c);
            *immediate = STORE_BUSY;
            return NULL;
        }
        c->query.params[i] = c->arg_copies[i];
    }
    c->query.cb = on_result;
    c->query.arg = c;
    enum pgpool_error err = pgpool_submit(store->pool, &c->query);
    if (err != PGPOOL_OK) {
        *immediate = status_of(err);
        call_free(c);
        return NULL;
    }
    return c;
}

static void pg_cancel(void *impl, store_handle handle)
{
    struct pg_store *store = impl;
    struct pg_store_call *c = handle;
    pgpool_cancel(store->pool, &c->query);
    call_free(c);
}

static void pg_destroy(void *impl)
{
    free(impl);
}

static const char *pg_unreachable_reason(void *impl)
{
    return pgpool_last_error(((struct pg_store *)impl)->pool);
}

static const struct store_backend pg_backend = {.submit = pg_submit,
                                                .cancel = pg_cancel,
                                                .destroy = pg_destroy,
                                                .unreachable_reason = pg_unreachable_reason};

struct store *store_create_pg(struct pgpool *pool)
{
    struct pg_store *impl = calloc(1, sizeof(*impl));
    if (impl == NULL)
        return NULL;
    impl->pool = pool;
    struct store *s = store_wrap(&pg_backend, impl);
    if (s == NULL)
        free(impl);
    return s;
}
