/* tools: the assistant's tools on the user's tasks (CONTRACT §8-§9) — one table, with a JSON Schema
 * for each tool's arguments and result, used by the chat loop (as Chat Completions `tools`) and by
 * the MCP server (as `tools/list`). Every call runs through pkg/store's task calls, the same ones
 * the REST routes use, so ETags, the outbox and webhooks behave as there.
 *
 * The user is always the caller's (the token's), never an argument: a model cannot name another
 * user, and another user's task id is simply "not found". Bad arguments, arguments that are not
 * JSON, and store failures are tool errors (is_error), never a crash or an HTTP 5xx. */
#ifndef BOLLARD_TOOLS_H
#define BOLLARD_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/base.h"

struct store;

struct tools_def {
    const char *name;
    const char *description;
    const char *input_schema;  /* JSON Schema text of the arguments object */
    const char *output_schema; /* JSON Schema text of a successful result object */
};

const struct tools_def *tools_table(size_t *count);
const struct tools_def *tools_find(const char *name);
/* Chat Completions `tools`: [{type: "function", function: {name, description, parameters}}]. */
json_t *tools_chat_json(void);
/* MCP tools/list entries: [{name, description, inputSchema, outputSchema}]. */
json_t *tools_mcp_json(void);

/* result (stolen): on success the tool's result object (matching output_schema); on failure
 * {"error": "..."} with is_error true. */
typedef void (*tools_done_fn)(void *arg, bool is_error, json_t *result);

struct tools_call;

/* Runs tool `name` for user_id with `arguments` (JSON text, may be invalid or NULL). Returns a
 * handle while the call is in flight; NULL when it finished at once — cb has then already run. */
struct tools_call *tools_run(struct store *store, const char *user_id, const char *name,
                             const char *arguments, size_t arguments_len, tools_done_fn cb, void *arg);
/* The caller went away: cb will not run (a write already sent to the database may still commit). */
void tools_cancel(struct tools_call *call);

#endif
