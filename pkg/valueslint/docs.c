/* valueslint: `chart values docs` — one Markdown row per value the schema declares, with its type,
 * the chart's default (from values.yaml, else the schema's "default") and its "description". */
#include "valueslint/valueslint.h"

#include "jsonschema/jsonschema.h"

#include <stdlib.h>
#include <string.h>

#define DOCS_MAX_DEPTH 32
#define CELL_MAX_BYTES 160

struct docs_state {
    const struct jsonschema *schema;
    const struct yamldoc_node *defaults;
    FILE *out;
};

/* Markdown table cells cannot hold '|' or newlines; outside code spans, '<' would start HTML. */
static void put_cell(FILE *out, const char *text, bool code)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '|')
            fputs("\\|", out);
        else if (*p == '<' && !code)
            fputs("&lt;", out);
        else if (*p == '>' && !code)
            fputs("&gt;", out);
        else if (*p == '\n' || *p == '\r')
            fputc(' ', out);
        else
            fputc(*p, out);
    }
}

struct text_buf {
    char *data;
    size_t cap;
    size_t len;
};

static void append(struct text_buf *buf, const char *text)
{
    size_t n = strlen(text);
    if (buf->len + n + 1 > buf->cap)
        n = buf->cap > buf->len + 1 ? buf->cap - buf->len - 1 : 0;
    memcpy(buf->data + buf->len, text, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

/* A compact, JSON-like rendering of a default value, cut at the cell size. */
static void render_node(struct text_buf *buf, const struct yamldoc_node *node, unsigned depth)
{
    if (depth > 8 || buf->len + 4 >= buf->cap) {
        append(buf, "…");
        return;
    }
    switch (node->kind) {
    case YAMLDOC_NULL:
        append(buf, "null");
        break;
    case YAMLDOC_BOOL:
        append(buf, node->as.boolean ? "true" : "false");
        break;
    case YAMLDOC_INT:
    case YAMLDOC_FLOAT:
        append(buf, node->text ? node->text : "?");
        break;
    case YAMLDOC_STRING:
        append(buf, "\"");
        append(buf, node->text);
        append(buf, "\"");
        break;
    case YAMLDOC_MAP:
        append(buf, "{");
        for (size_t i = 0; i < node->count; i++) {
            append(buf, i ? ", " : "");
            append(buf, node->entries[i].key);
            append(buf, ": ");
            render_node(buf, node->entries[i].value, depth + 1);
        }
        append(buf, "}");
        break;
    case YAMLDOC_SEQ:
        append(buf, "[");
        for (size_t i = 0; i < node->count; i++) {
            append(buf, i ? ", " : "");
            render_node(buf, node->items[i], depth + 1);
        }
        append(buf, "]");
        break;
    }
}

static void type_text(const json_t *schema, char *out, size_t len)
{
    const json_t *type = json_object_get(schema, "type");
    out[0] = '\0';
    if (json_is_string(type)) {
        snprintf(out, len, "%s", json_string_value(type));
    } else if (json_is_array(type)) {
        size_t i, used = 0;
        const json_t *item;
        json_array_foreach (type, i, item) {
            int n = snprintf(out + used, len - used, "%s%s", i ? " \\| " : "", json_string_value(item));
            if (n < 0 || used + (size_t)n >= len)
                break;
            used += (size_t)n;
        }
    } else if (json_object_get(schema, "enum") != NULL) {
        snprintf(out, len, "enum");
    }
}

static void print_row(struct docs_state *state, const char *path, const json_t *schema)
{
    char type[80], default_text[CELL_MAX_BYTES + 8];
    struct text_buf buf = {default_text, CELL_MAX_BYTES, 0};
    default_text[0] = '\0';
    type_text(schema, type, sizeof(type));
    const struct yamldoc_node *value = yamldoc_get_path(state->defaults, path);
    if (value != NULL) {
        render_node(&buf, value, 0);
    } else if (json_object_get(schema, "default") != NULL) {
        char *dump = json_dumps(json_object_get(schema, "default"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (dump != NULL)
            append(&buf, dump);
        free(dump);
    }
    fprintf(state->out, "| `%s` | %s | ", path, type);
    if (default_text[0] != '\0') {
        fputc('`', state->out);
        put_cell(state->out, default_text, true);
        fputc('`', state->out);
    }
    fputs(" | ", state->out);
    const char *description = json_string_value(json_object_get(schema, "description"));
    if (description != NULL)
        put_cell(state->out, description, false);
    const json_t *options = json_object_get(schema, "enum");
    if (json_is_array(options)) {
        char *dump = json_dumps(options, JSON_COMPACT);
        if (dump != NULL) {
            size_t len = description ? strlen(description) : 0;
            fputs(len == 0 ? "One of " : description[len - 1] == '.' ? " One of " : ". One of ", state->out);
            put_cell(state->out, dump, false);
            fputc('.', state->out);
        }
        free(dump);
    }
    fputs(" |\n", state->out);
}

static void walk(struct docs_state *state, const char *prefix, const json_t *schema, unsigned depth)
{
    const json_t *properties = json_object_get(schema, "properties");
    if (!json_is_object(properties) || depth > DOCS_MAX_DEPTH)
        return;
    const char *name;
    const json_t *sub;
    json_object_foreach ((json_t *)properties, name, sub) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", name);
        /* Description on the referencing schema wins over the referenced definition's. */
        const json_t *resolved = jsonschema_resolve(state->schema, sub);
        json_t *merged = json_deep_copy(resolved);
        if (merged == NULL)
            continue;
        const json_t *own_description = json_object_get(sub, "description");
        if (own_description != NULL)
            json_object_set(merged, "description", (json_t *)own_description);
        if (json_is_object(json_object_get(merged, "properties")))
            walk(state, path, merged, depth + 1);
        else
            print_row(state, path, merged);
        json_decref(merged);
    }
}

int valueslint_docs(const char *schema_path, const char *chart_values_path, FILE *out, FILE *err)
{
    int status = VALUESLINT_EXIT_ERROR;
    struct jsonschema *schema = NULL;
    struct yamldoc_set *set = yamldoc_set_new();
    struct yamldoc_node *defaults = NULL;
    char message[512];
    if (set == NULL) {
        fprintf(err, "chart values docs: out of memory\n");
        goto cleanup;
    }
    schema = jsonschema_load_file(schema_path, message, sizeof(message));
    if (schema == NULL) {
        fprintf(err, "chart values docs: %s\n", message);
        goto cleanup;
    }
    if (chart_values_path != NULL) {
        struct yamldoc_error load_error;
        if (yamldoc_load_file(set, chart_values_path, &defaults, &load_error) != 0) {
            fprintf(err, "%s:%u:%u: error: %s [%s]\n", load_error.pos.source, load_error.pos.line,
                    load_error.pos.column, load_error.message, load_error.rule);
            goto cleanup;
        }
    }
    struct docs_state state = {schema, defaults, out};
    fputs("| Key | Type | Default | Description |\n|---|---|---|---|\n", out);
    walk(&state, "", jsonschema_root(schema), 0);
    status = fflush(out) == 0 && !ferror(out) ? VALUESLINT_EXIT_CLEAN : VALUESLINT_EXIT_ERROR;
cleanup:
    jsonschema_free(schema);
    yamldoc_set_free(set);
    return status;
}
