/* jsonschema: the validator. Schemas are trusted chart files but may still be cyclic ($ref "#")
 * or explosive (nested oneOf), hence the step and depth budgets. */
#include "jsonschema/jsonschema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define MAX_WARNINGS      64
#define PATH_MAX_BYTES    1024
#define MESSAGE_MAX_BYTES 512
#define MAX_PATTERNS      4096

struct compiled_pattern {
    const void *source;                  /* the schema string or object key it came from (identity) */
    struct jsonschema_pattern *compiled; /* NULL: PCRE2 refused it (a warning says so) */
};

struct jsonschema {
    json_t *root;
    char *warnings[MAX_WARNINGS];
    size_t warning_count;
    struct compiled_pattern *patterns;
    size_t pattern_count;
    size_t pattern_capacity;
};

/* One validation run. `report == NULL` means silent: stop at the first violation (used inside
 * anyOf/oneOf/not/if, where only success matters). */
struct run {
    struct jsonschema *schema;
    jsonschema_report_fn report;
    void *ctx;
    char *first_message; /* silent runs: the first violation, for anyOf/oneOf summaries */
    size_t first_message_len;
    long violations;
    unsigned long steps;
    unsigned depth;
    bool aborted;
    bool stopped;
    char abort_reason[128];
    char path[PATH_MAX_BYTES];
    size_t path_len;
};

static void add_warning(struct jsonschema *schema, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct jsonschema_pattern *pattern_for(struct jsonschema *schema, const void *identity,
                                              const char *pattern);

static void add_warning(struct jsonschema *schema, const char *fmt, ...)
{
    if (schema->warning_count >= MAX_WARNINGS)
        return;
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < schema->warning_count; i++)
        if (strcmp(schema->warnings[i], buf) == 0)
            return;
    char *copy = strdup(buf);
    if (copy != NULL)
        schema->warnings[schema->warning_count++] = copy;
}

size_t jsonschema_warning_count(const struct jsonschema *schema)
{
    return schema->warning_count;
}

const char *jsonschema_warning_at(const struct jsonschema *schema, size_t i)
{
    return i < schema->warning_count ? schema->warnings[i] : NULL;
}

const json_t *jsonschema_root(const struct jsonschema *schema)
{
    return schema->root;
}

/* ---- $ref ---- */

/* Follows a local JSON pointer ("#", "#/definitions/a~1b"). NULL when it does not resolve. */
static const json_t *resolve_pointer(const json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const json_t *node = root;
    const char *p = ref + 1;
    if (*p == '\0')
        return root;
    if (*p != '/')
        return NULL;
    char segment[256];
    while (*p == '/' && node != NULL) {
        p++;
        size_t n = 0;
        while (*p != '\0' && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1')) {
                c = *p++ == '0' ? '~' : '/';
            } else if (c == '%' && p[0] != '\0' && p[1] != '\0') {
                char hex[3] = {p[0], p[1], '\0'};
                char *end;
                long v = strtol(hex, &end, 16);
                if (*end == '\0' && v > 0) {
                    c = (char)v;
                    p += 2;
                }
            }
            if (n + 1 >= sizeof(segment))
                return NULL;
            segment[n++] = c;
        }
        segment[n] = '\0';
        if (json_is_object(node)) {
            node = json_object_get(node, segment);
        } else if (json_is_array(node)) {
            char *end;
            long index = strtol(segment, &end, 10);
            node = (*end == '\0' && index >= 0) ? json_array_get(node, (size_t)index) : NULL;
        } else {
            node = NULL;
        }
    }
    return node;
}

const json_t *jsonschema_resolve(const struct jsonschema *schema, const json_t *subschema)
{
    for (int hops = 0; hops < 32 && json_is_object(subschema); hops++) {
        const char *ref = json_string_value(json_object_get(subschema, "$ref"));
        if (ref == NULL)
            return subschema;
        const json_t *target = resolve_pointer(schema->root, ref);
        if (target == NULL)
            return subschema;
        subschema = target;
    }
    return subschema;
}

/* ---- loading: a walk that records what will not be enforced ---- */

static const char *const UNSUPPORTED_KEYWORDS[] = {
    "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
    "minContains",           "maxContains",      NULL,
};

static void check_schema_tree(struct jsonschema *schema, const json_t *node, unsigned depth)
{
    if (depth > 256)
        return;
    if (json_is_array(node)) {
        size_t i;
        const json_t *item;
        json_array_foreach (node, i, item)
            check_schema_tree(schema, item, depth + 1);
        return;
    }
    if (!json_is_object(node))
        return;
    const char *key;
    const json_t *value;
    json_object_foreach ((json_t *)node, key, value) {
        for (size_t i = 0; UNSUPPORTED_KEYWORDS[i] != NULL; i++)
            if (strcmp(key, UNSUPPORTED_KEYWORDS[i]) == 0)
                add_warning(schema, "keyword '%s' is not enforced", key);
        if (strcmp(key, "$ref") == 0 && json_is_string(value) &&
            resolve_pointer(schema->root, json_string_value(value)) == NULL)
            add_warning(schema, "$ref '%.200s' is not a local reference that resolves; not enforced",
                        json_string_value(value));
        /* Compiled now, so that a pattern PCRE2 refuses is noted even if no value reaches it. */
        if (strcmp(key, "pattern") == 0 && json_is_string(value))
            (void)pattern_for(schema, value, json_string_value(value));
        /* Property names and enum values are data, not schemas. */
        if (strcmp(key, "enum") == 0 || strcmp(key, "const") == 0 || strcmp(key, "default") == 0 ||
            strcmp(key, "examples") == 0)
            continue;
        if (strcmp(key, "properties") == 0 || strcmp(key, "patternProperties") == 0 ||
            strcmp(key, "definitions") == 0 || strcmp(key, "$defs") == 0 ||
            strcmp(key, "dependentSchemas") == 0) {
            const char *name;
            const json_t *sub;
            if (json_is_object(value)) {
                json_object_foreach ((json_t *)value, name, sub)
                    check_schema_tree(schema, sub, depth + 1);
            }
            continue;
        }
        check_schema_tree(schema, value, depth + 1);
    }
}

static struct jsonschema *finish_load(json_t *root, char *why, size_t cap)
{
    if (!json_is_object(root) && !json_is_boolean(root)) {
        base_why(why, cap, "a schema must be a JSON object");
        json_decref(root);
        return NULL;
    }
    struct jsonschema *schema = calloc(1, sizeof(*schema));
    if (schema == NULL) {
        base_why(why, cap, "out of memory");
        json_decref(root);
        return NULL;
    }
    schema->root = root;
    check_schema_tree(schema, root, 0);
    return schema;
}

struct jsonschema *jsonschema_load_file(const char *path, char *why, size_t cap)
{
    /* Read whole, then parse from memory: jansson's FILE reader costs a call per byte. */
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        base_why(why, cap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(JSONSCHEMA_MAX_FILE_BYTES + 1);
    size_t len = text != NULL ? fread(text, 1, JSONSCHEMA_MAX_FILE_BYTES + 1, file) : 0;
    bool read_failed = text == NULL || ferror(file);
    fclose(file);
    if (read_failed || len > JSONSCHEMA_MAX_FILE_BYTES) {
        base_why(why, cap, "%s: %s", path, read_failed ? "cannot read" : "larger than the schema size limit");
        free(text);
        return NULL;
    }
    json_error_t error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    free(text);
    if (root == NULL) {
        base_why(why, cap, "%s:%d:%d: %s", path, error.line, error.column, error.text);
        return NULL;
    }
    return finish_load(root, why, cap);
}

struct jsonschema *jsonschema_load_string(const char *text, char *why, size_t cap)
{
    json_error_t error;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        base_why(why, cap, "<schema>:%d:%d: %s", error.line, error.column, error.text);
        return NULL;
    }
    return finish_load(root, why, cap);
}

void jsonschema_free(struct jsonschema *schema)
{
    if (schema == NULL)
        return;
    for (size_t i = 0; i < schema->warning_count; i++)
        free(schema->warnings[i]);
    for (size_t i = 0; i < schema->pattern_count; i++)
        jsonschema_pattern_free(schema->patterns[i].compiled);
    free(schema->patterns);
    json_decref(schema->root);
    free(schema);
}

/* The compiled form of a schema pattern string, compiled once per schema; NULL when it cannot be
 * enforced (then a warning says why). */
static struct jsonschema_pattern *pattern_for(struct jsonschema *schema, const void *identity,
                                              const char *pattern)
{
    for (size_t i = 0; i < schema->pattern_count; i++)
        if (schema->patterns[i].source == identity)
            return schema->patterns[i].compiled;
    if (schema->pattern_count >= MAX_PATTERNS)
        return NULL;
    if (schema->pattern_count == schema->pattern_capacity) {
        size_t capacity = schema->pattern_capacity ? schema->pattern_capacity * 2 : 16;
        struct compiled_pattern *grown = realloc(schema->patterns, capacity * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        schema->patterns = grown;
        schema->pattern_capacity = capacity;
    }
    char why[BASE_WHY_MAX];
    struct compiled_pattern *entry = &schema->patterns[schema->pattern_count++];
    entry->source = identity;
    entry->compiled = jsonschema_pattern_compile(pattern, why, sizeof(why));
    if (entry->compiled == NULL)
        add_warning(schema, "pattern '%.120s' not enforced: %s", pattern, why);
    return entry->compiled;
}

/* ---- reporting ---- */

static size_t path_push_key(struct run *run, const char *key)
{
    size_t saved = run->path_len;
    int n = snprintf(run->path + run->path_len, sizeof(run->path) - run->path_len, "%s%s",
                     run->path_len ? "." : "", key);
    if (n > 0)
        run->path_len = (size_t)n + run->path_len >= sizeof(run->path) ? sizeof(run->path) - 1
                                                                       : run->path_len + (size_t)n;
    return saved;
}

static size_t path_push_index(struct run *run, size_t index)
{
    size_t saved = run->path_len;
    int n = snprintf(run->path + run->path_len, sizeof(run->path) - run->path_len, "[%zu]", index);
    if (n > 0)
        run->path_len = (size_t)n + run->path_len >= sizeof(run->path) ? sizeof(run->path) - 1
                                                                       : run->path_len + (size_t)n;
    return saved;
}

static void path_pop(struct run *run, size_t saved)
{
    run->path_len = saved;
    run->path[saved] = '\0';
}

static void violation(struct run *run, const struct yamldoc_node *node, const char *rule, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static void violation(struct run *run, const struct yamldoc_node *node, const char *rule, const char *fmt,
                      ...)
{
    run->violations++;
    if (run->report == NULL) {
        if (run->first_message != NULL && run->violations == 1) {
            char message[MESSAGE_MAX_BYTES];
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(message, sizeof(message), fmt, ap);
            va_end(ap);
            snprintf(run->first_message, run->first_message_len, "%s%s%s", run->path,
                     run->path_len ? ": " : "", message);
        }
        run->stopped = true; /* silent runs only need to know that something failed */
        return;
    }
    char message[MESSAGE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    struct jsonschema_violation v = {node, run->path, rule, message};
    if (run->report(run->ctx, &v) != 0)
        run->stopped = true;
}

/* A short rendering of a scalar for messages. */
static const char *describe(const struct yamldoc_node *node, char *buf, size_t len)
{
    switch (node->kind) {
    case YAMLDOC_MAP:
        return "an object";
    case YAMLDOC_SEQ:
        return "an array";
    case YAMLDOC_NULL:
        return "null";
    case YAMLDOC_STRING:
        snprintf(buf, len, "string \"%.40s%s\"", node->text, node->text_len > 40 ? "…" : "");
        return buf;
    default:
        snprintf(buf, len, "%s %.40s", yamldoc_kind_name(node->kind), node->text ? node->text : "");
        return buf;
    }
}

/* ---- value helpers ---- */

static bool node_is_number(const struct yamldoc_node *node)
{
    return node->kind == YAMLDOC_INT || node->kind == YAMLDOC_FLOAT;
}

static double node_number(const struct yamldoc_node *node)
{
    return node->kind == YAMLDOC_INT ? (double)node->as.integer : node->as.number;
}

static bool node_is_integral(const struct yamldoc_node *node)
{
    if (node->kind == YAMLDOC_INT)
        return true;
    return node->kind == YAMLDOC_FLOAT && isfinite(node->as.number) &&
           floor(node->as.number) == node->as.number;
}

static bool type_matches(const struct yamldoc_node *node, const char *type)
{
    if (strcmp(type, "null") == 0)
        return node->kind == YAMLDOC_NULL;
    if (strcmp(type, "boolean") == 0)
        return node->kind == YAMLDOC_BOOL;
    if (strcmp(type, "integer") == 0)
        return node_is_integral(node);
    if (strcmp(type, "number") == 0)
        return node_is_number(node);
    if (strcmp(type, "string") == 0)
        return node->kind == YAMLDOC_STRING;
    if (strcmp(type, "object") == 0)
        return node->kind == YAMLDOC_MAP;
    if (strcmp(type, "array") == 0)
        return node->kind == YAMLDOC_SEQ;
    return true; /* "any" and unknown type names constrain nothing */
}

static bool json_equals_node(const json_t *json, const struct yamldoc_node *node, unsigned depth)
{
    if (depth > 2 * YAMLDOC_MAX_DEPTH)
        return false;
    switch (json_typeof(json)) {
    case JSON_NULL:
        return node->kind == YAMLDOC_NULL;
    case JSON_TRUE:
        return node->kind == YAMLDOC_BOOL && node->as.boolean;
    case JSON_FALSE:
        return node->kind == YAMLDOC_BOOL && !node->as.boolean;
    case JSON_INTEGER:
        if (node->kind == YAMLDOC_INT)
            return node->as.integer == json_integer_value(json);
        return node->kind == YAMLDOC_FLOAT && node->as.number == (double)json_integer_value(json);
    case JSON_REAL:
        return node_is_number(node) && node_number(node) == json_real_value(json);
    case JSON_STRING:
        return node->kind == YAMLDOC_STRING && node->text_len == json_string_length(json) &&
               memcmp(node->text, json_string_value(json), node->text_len) == 0;
    case JSON_ARRAY:
        if (node->kind != YAMLDOC_SEQ || node->count != json_array_size(json))
            return false;
        for (size_t i = 0; i < node->count; i++)
            if (!json_equals_node(json_array_get(json, i), node->items[i], depth + 1))
                return false;
        return true;
    case JSON_OBJECT: {
        if (node->kind != YAMLDOC_MAP || node->count != json_object_size(json))
            return false;
        for (size_t i = 0; i < node->count; i++) {
            const json_t *member = json_object_get(json, node->entries[i].key);
            if (member == NULL || !json_equals_node(member, node->entries[i].value, depth + 1))
                return false;
        }
        return true;
    }
    }
    return false;
}

static size_t utf8_length(const char *text, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            count++;
    return count;
}

static bool get_number(const json_t *schema, const char *keyword, double *out)
{
    const json_t *value = json_object_get(schema, keyword);
    if (!json_is_number(value))
        return false;
    *out = json_number_value(value);
    return true;
}

static bool get_count(const json_t *schema, const char *keyword, size_t *out)
{
    const json_t *value = json_object_get(schema, keyword);
    if (!json_is_number(value) || json_number_value(value) < 0)
        return false;
    *out = (size_t)json_number_value(value);
    return true;
}

/* A structural hash consistent with yamldoc_equal (mappings hash order-independently). */
static uint64_t node_hash(const struct yamldoc_node *node, unsigned depth)
{
    uint64_t h = 1469598103934665603ull;
    if (depth > 2 * YAMLDOC_MAX_DEPTH)
        return h;
    if (node_is_number(node)) {
        double d = node_number(node);
        if (d == 0)
            d = 0; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        return (h ^ bits) * 1099511628211ull;
    }
    h = (h ^ (uint64_t)node->kind) * 1099511628211ull;
    if (node->kind == YAMLDOC_BOOL)
        return (h ^ node->as.boolean) * 1099511628211ull;
    if (node->kind == YAMLDOC_STRING) {
        for (size_t i = 0; i < node->text_len; i++)
            h = (h ^ (unsigned char)node->text[i]) * 1099511628211ull;
        return h;
    }
    if (node->kind == YAMLDOC_SEQ) {
        for (size_t i = 0; i < node->count; i++)
            h = (h ^ node_hash(node->items[i], depth + 1)) * 1099511628211ull;
        return h;
    }
    if (node->kind == YAMLDOC_MAP) {
        uint64_t sum = 0;
        for (size_t i = 0; i < node->count; i++) {
            uint64_t k = 1469598103934665603ull;
            for (const char *c = node->entries[i].key; *c != '\0'; c++)
                k = (k ^ (unsigned char)*c) * 1099511628211ull;
            sum += k * 31 + node_hash(node->entries[i].value, depth + 1);
        }
        return (h ^ sum) * 1099511628211ull;
    }
    return h;
}

struct hashed_item {
    uint64_t hash;
    size_t index;
};

static int compare_hashed(const void *a, const void *b)
{
    const struct hashed_item *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Index of the later item of the first duplicate pair, or -1. O(n log n) for long arrays. */
static long find_duplicate_item(const struct yamldoc_node *seq, size_t *first)
{
    if (seq->count < 2)
        return -1;
    struct hashed_item *items = calloc(seq->count, sizeof(*items));
    if (items == NULL)
        return -1;
    for (size_t i = 0; i < seq->count; i++) {
        items[i].hash = node_hash(seq->items[i], 0);
        items[i].index = i;
    }
    qsort(items, seq->count, sizeof(*items), compare_hashed);
    long found = -1;
    for (size_t i = 0; i + 1 < seq->count && found < 0; i++) {
        for (size_t j = i + 1; j < seq->count && items[j].hash == items[i].hash && j < i + 64; j++) {
            if (yamldoc_equal(seq->items[items[i].index], seq->items[items[j].index])) {
                found = (long)items[j].index;
                *first = items[i].index;
                break;
            }
        }
    }
    free(items);
    return found;
}

/* ---- the validator ---- */

static bool validate(struct run *run, const json_t *schema, const struct yamldoc_node *node);

static bool keep_going(const struct run *run)
{
    return !run->aborted && !run->stopped;
}

/* Runs `schema` on `node` silently; fills `message` with the first violation when it fails. */
static bool passes(struct run *run, const json_t *schema, const struct yamldoc_node *node, char *message,
                   size_t message_len)
{
    struct run trial = {
        .schema = run->schema,
        .first_message = message,
        .first_message_len = message_len,
        .steps = run->steps,
        .depth = run->depth,
    };
    if (message != NULL && message_len > 0)
        message[0] = '\0';
    memcpy(trial.path, run->path, run->path_len + 1);
    trial.path_len = run->path_len;
    bool ok = validate(&trial, schema, node);
    run->steps = trial.steps;
    if (trial.aborted) {
        run->aborted = true;
        memcpy(run->abort_reason, trial.abort_reason, sizeof(run->abort_reason));
    }
    return ok && trial.violations == 0;
}

static void check_type(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    const json_t *type = json_object_get(schema, "type");
    if (type == NULL)
        return;
    char expected[160] = "";
    if (json_is_string(type)) {
        if (type_matches(node, json_string_value(type)))
            return;
        snprintf(expected, sizeof(expected), "%s", json_string_value(type));
    } else if (json_is_array(type)) {
        size_t i;
        const json_t *item;
        size_t used = 0;
        json_array_foreach (type, i, item) {
            if (!json_is_string(item))
                continue;
            if (type_matches(node, json_string_value(item)))
                return;
            int n = snprintf(expected + used, sizeof(expected) - used, "%s%s", used ? " or " : "",
                             json_string_value(item));
            if (n > 0 && used + (size_t)n < sizeof(expected))
                used += (size_t)n;
        }
    } else {
        return;
    }
    char buf[96];
    violation(run, node, "schema-type", "expected %s, got %s", expected, describe(node, buf, sizeof(buf)));
}

static void check_enum_const(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    char buf[96];
    const json_t *constant = json_object_get(schema, "const");
    if (constant != NULL && !json_equals_node(constant, node, 0)) {
        char *dump = json_dumps(constant, JSON_COMPACT | JSON_ENCODE_ANY);
        violation(run, node, "schema-const", "must be %.80s, got %s", dump ? dump : "the constant",
                  describe(node, buf, sizeof(buf)));
        free(dump);
    }
    const json_t *options = json_object_get(schema, "enum");
    if (!json_is_array(options))
        return;
    size_t i;
    const json_t *option;
    json_array_foreach (options, i, option)
        if (json_equals_node(option, node, 0))
            return;
    char *dump = json_dumps(options, JSON_COMPACT);
    violation(run, node, "schema-enum", "%s is not one of %.200s", describe(node, buf, sizeof(buf)),
              dump ? dump : "the allowed values");
    free(dump);
}

static void check_number(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    if (!node_is_number(node))
        return;
    double value = node_number(node);
    double limit;
    const char *text = node->text ? node->text : "";
    const json_t *exclusive_min = json_object_get(schema, "exclusiveMinimum");
    const json_t *exclusive_max = json_object_get(schema, "exclusiveMaximum");
    if (get_number(schema, "minimum", &limit)) {
        bool strict = json_is_true(exclusive_min); /* draft-04 */
        if (strict ? !(value > limit) : !(value >= limit))
            violation(run, node, "schema-range", "%s is %s %g", text,
                      strict ? "not greater than" : "less than the minimum", limit);
    }
    if (get_number(schema, "maximum", &limit)) {
        bool strict = json_is_true(exclusive_max);
        if (strict ? !(value < limit) : !(value <= limit))
            violation(run, node, "schema-range", "%s is %s %g", text,
                      strict ? "not less than" : "greater than the maximum", limit);
    }
    if (json_is_number(exclusive_min) && !(value > json_number_value(exclusive_min)))
        violation(run, node, "schema-range", "%s must be greater than %g", text,
                  json_number_value(exclusive_min));
    if (json_is_number(exclusive_max) && !(value < json_number_value(exclusive_max)))
        violation(run, node, "schema-range", "%s must be less than %g", text,
                  json_number_value(exclusive_max));
    if (get_number(schema, "multipleOf", &limit) && limit > 0) {
        double quotient = value / limit;
        if (!isfinite(quotient) || fabs(quotient - round(quotient)) > 1e-9)
            violation(run, node, "schema-range", "%s is not a multiple of %g", text, limit);
    }
}

static void check_string(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    if (node->kind != YAMLDOC_STRING)
        return;
    size_t length = utf8_length(node->text, node->text_len);
    size_t limit;
    if (get_count(schema, "minLength", &limit) && length < limit)
        violation(run, node, "schema-length", "\"%.40s\" is shorter than %zu characters", node->text, limit);
    if (get_count(schema, "maxLength", &limit) && length > limit)
        violation(run, node, "schema-length", "\"%.40s%s\" is longer than %zu characters", node->text,
                  node->text_len > 40 ? "…" : "", limit);
    const json_t *pattern = json_object_get(schema, "pattern");
    if (json_is_string(pattern)) {
        struct jsonschema_pattern *compiled = pattern_for(run->schema, pattern, json_string_value(pattern));
        char why[BASE_WHY_MAX];
        enum jsonschema_match match =
            compiled != NULL
                ? jsonschema_pattern_match(compiled, node->text, node->text_len, why, sizeof(why))
                : JSONSCHEMA_MATCH_YES;
        /* A value the matcher gives up on fails closed, saying why. */
        if (match == JSONSCHEMA_MATCH_NO)
            violation(run, node, "schema-pattern", "\"%.60s\" does not match the pattern %.120s", node->text,
                      json_string_value(pattern));
        else if (match == JSONSCHEMA_MATCH_ERROR)
            violation(run, node, "schema-pattern",
                      "\"%.60s\" could not be matched against the pattern %.120s: %s", node->text,
                      json_string_value(pattern), why);
    }
}

static void check_array(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    if (node->kind != YAMLDOC_SEQ)
        return;
    size_t limit;
    if (get_count(schema, "minItems", &limit) && node->count < limit)
        violation(run, node, "schema-items", "has %zu items, fewer than the minimum %zu", node->count, limit);
    if (get_count(schema, "maxItems", &limit) && node->count > limit)
        violation(run, node, "schema-items", "has %zu items, more than the maximum %zu", node->count, limit);
    if (json_is_true(json_object_get(schema, "uniqueItems"))) {
        size_t first = 0;
        long duplicate = find_duplicate_item(node, &first);
        if (duplicate >= 0)
            violation(run, node->items[duplicate], "schema-unique",
                      "items [%zu] and [%ld] are equal; items must be unique", first, duplicate);
    }
    /* Tuple forms: draft-07 `items: [..]` + additionalItems, 2020-12 prefixItems + items. */
    const json_t *prefix = json_object_get(schema, "prefixItems");
    const json_t *items = json_object_get(schema, "items");
    const json_t *rest = NULL;
    if (json_is_array(items)) {
        prefix = items;
        rest = json_object_get(schema, "additionalItems");
    } else if (json_is_array(prefix)) {
        rest = items;
    } else {
        prefix = NULL;
        rest = items;
    }
    for (size_t i = 0; i < node->count && keep_going(run); i++) {
        const json_t *item_schema =
            (prefix != NULL && i < json_array_size(prefix)) ? json_array_get(prefix, i) : rest;
        if (item_schema == NULL)
            continue;
        size_t saved = path_push_index(run, i);
        validate(run, item_schema, node->items[i]);
        path_pop(run, saved);
    }
    const json_t *contains = json_object_get(schema, "contains");
    if (contains != NULL && keep_going(run)) {
        bool found = false;
        for (size_t i = 0; i < node->count && !found && !run->aborted; i++)
            found = passes(run, contains, node->items[i], NULL, 0);
        if (!found && !run->aborted)
            violation(run, node, "schema-items", "no item matches the 'contains' schema");
    }
}

/* The closest property name within a small edit distance, or NULL. */
static const char *suggest_key(const json_t *properties, const char *key)
{
    if (!json_is_object(properties))
        return NULL;
    size_t cap = strlen(key) <= 4 ? 1 : strlen(key) <= 8 ? 2 : 3;
    const char *best = NULL;
    size_t best_distance = cap + 1;
    const char *name;
    const json_t *sub;
    json_object_foreach ((json_t *)properties, name, sub) {
        (void)sub;
        size_t d = base_edit_distance(key, name, cap);
        if (d < best_distance) {
            best = name;
            best_distance = d;
        }
    }
    if (best != NULL)
        return best;
    /* Longer slips that share a long prefix (replicaCount for replicas, the usual Helm name). */
    size_t best_prefix = 0;
    json_object_foreach ((json_t *)properties, name, sub) {
        size_t prefix = 0;
        while (key[prefix] != '\0' && key[prefix] == name[prefix])
            prefix++;
        size_t shorter = strlen(key) < strlen(name) ? strlen(key) : strlen(name);
        if (prefix >= 5 && prefix * 3 >= shorter * 2 && prefix > best_prefix) {
            best = name;
            best_prefix = prefix;
        }
    }
    return best;
}

static void list_keys(const json_t *properties, char *buf, size_t len)
{
    size_t used = 0;
    size_t shown = 0;
    const char *name;
    const json_t *sub;
    buf[0] = '\0';
    json_object_foreach ((json_t *)properties, name, sub) {
        (void)sub;
        if (shown == 8) {
            snprintf(buf + used, len - used, ", …");
            return;
        }
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
        if (n < 0 || used + (size_t)n >= len)
            return;
        used += (size_t)n;
        shown++;
    }
}

static bool key_matches_pattern_properties(struct run *run, const json_t *pattern_props, const char *key,
                                           const struct yamldoc_node *value)
{
    if (!json_is_object(pattern_props))
        return false;
    bool matched = false;
    const char *pattern;
    const json_t *sub;
    json_object_foreach ((json_t *)pattern_props, pattern, sub) {
        /* jansson keeps object keys at stable addresses: the key itself identifies the pattern. */
        struct jsonschema_pattern *compiled = pattern_for(run->schema, pattern, pattern);
        char why[BASE_WHY_MAX];
        /* A key the matcher gives up on counts as not matching (it is then judged as any other key). */
        if (compiled == NULL ||
            jsonschema_pattern_match(compiled, key, strlen(key), why, sizeof(why)) != JSONSCHEMA_MATCH_YES)
            continue;
        matched = true;
        if (keep_going(run))
            validate(run, sub, value);
    }
    return matched;
}

static void check_object(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    if (node->kind != YAMLDOC_MAP)
        return;
    const json_t *required = json_object_get(schema, "required");
    if (json_is_array(required)) {
        size_t i;
        const json_t *name;
        json_array_foreach (required, i, name) {
            if (json_is_string(name) && yamldoc_map_get(node, json_string_value(name)) == NULL)
                violation(run, node, "schema-required", "missing required key '%s'", json_string_value(name));
        }
    }
    size_t limit;
    if (get_count(schema, "minProperties", &limit) && node->count < limit)
        violation(run, node, "schema-required", "has %zu keys, fewer than the minimum %zu", node->count,
                  limit);
    if (get_count(schema, "maxProperties", &limit) && node->count > limit)
        violation(run, node, "schema-items", "has %zu keys, more than the maximum %zu", node->count, limit);

    /* dependencies (draft-07: array or schema), dependentRequired, dependentSchemas (2019-09+) */
    static const char *const DEPENDENCY_KEYWORDS[] = {"dependencies", "dependentRequired",
                                                      "dependentSchemas"};
    for (size_t k = 0; k < 3; k++) {
        const json_t *deps = json_object_get(schema, DEPENDENCY_KEYWORDS[k]);
        if (!json_is_object(deps))
            continue;
        const char *trigger;
        const json_t *dep;
        json_object_foreach ((json_t *)deps, trigger, dep) {
            if (yamldoc_map_get(node, trigger) == NULL || !keep_going(run))
                continue;
            if (json_is_array(dep)) {
                size_t i;
                const json_t *name;
                json_array_foreach (dep, i, name)
                    if (json_is_string(name) && yamldoc_map_get(node, json_string_value(name)) == NULL)
                        violation(run, node, "schema-required", "'%s' requires key '%s'", trigger,
                                  json_string_value(name));
            } else {
                validate(run, dep, node);
            }
        }
    }

    const json_t *properties = json_object_get(schema, "properties");
    const json_t *pattern_props = json_object_get(schema, "patternProperties");
    const json_t *additional = json_object_get(schema, "additionalProperties");
    const json_t *property_names = json_object_get(schema, "propertyNames");
    for (size_t i = 0; i < node->count && keep_going(run); i++) {
        const char *key = node->entries[i].key;
        const struct yamldoc_node *value = node->entries[i].value;
        size_t saved = path_push_key(run, key);
        if (property_names != NULL) {
            struct yamldoc_node key_node = *value;
            key_node.kind = YAMLDOC_STRING;
            key_node.text = key;
            key_node.text_len = strlen(key);
            key_node.count = 0;
            char message[MESSAGE_MAX_BYTES];
            if (!passes(run, property_names, &key_node, message, sizeof(message)) && !run->aborted)
                violation(run, value, "unknown-key", "key name '%s' is not allowed (%s)", key, message);
        }
        const json_t *property = json_is_object(properties) ? json_object_get(properties, key) : NULL;
        bool matched = property != NULL;
        if (property != NULL)
            validate(run, property, value);
        if (key_matches_pattern_properties(run, pattern_props, key, value))
            matched = true;
        /* Helm hands every chart a `global` map; a schema that forbids extra keys must not trip on it. */
        bool helm_global = saved == 0 && run->path_len == strlen("global") && strcmp(key, "global") == 0;
        if (!matched && additional != NULL && keep_going(run) && !helm_global) {
            if (json_is_false(additional)) {
                path_pop(run, saved);
                const char *suggestion = suggest_key(properties, key);
                char where[PATH_MAX_BYTES + 16];
                snprintf(where, sizeof(where), "%s%s", run->path_len ? "in " : "at ",
                         run->path_len ? run->path : "the top level");
                if (suggestion != NULL) {
                    violation(run, value, "unknown-key", "unknown key '%s' %s (did you mean '%s'?)", key,
                              where, suggestion);
                } else if (json_is_object(properties) && json_object_size(properties) > 0) {
                    char keys[300];
                    list_keys(properties, keys, sizeof(keys));
                    violation(run, value, "unknown-key", "unknown key '%s' %s (allowed: %s)", key, where,
                              keys);
                } else {
                    violation(run, value, "unknown-key", "unknown key '%s' %s (no keys allowed)", key, where);
                }
                continue;
            }
            if (json_is_object(additional))
                validate(run, additional, value);
        }
        path_pop(run, saved);
    }
}

static void check_combinators(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    const json_t *all = json_object_get(schema, "allOf");
    if (json_is_array(all)) {
        size_t i;
        const json_t *sub;
        json_array_foreach (all, i, sub) {
            if (!keep_going(run))
                return;
            validate(run, sub, node);
        }
    }
    char message[MESSAGE_MAX_BYTES];
    const json_t *any = json_object_get(schema, "anyOf");
    if (json_is_array(any) && keep_going(run)) {
        bool ok = false;
        char first[MESSAGE_MAX_BYTES] = "";
        size_t i;
        const json_t *sub;
        json_array_foreach (any, i, sub) {
            if (passes(run, sub, node, message, sizeof(message))) {
                ok = true;
                break;
            }
            if (run->aborted)
                return;
            if (first[0] == '\0')
                snprintf(first, sizeof(first), "%s", message);
        }
        if (!ok)
            violation(run, node, "schema-anyof", "matches none of the allowed forms (anyOf; first: %s)",
                      first);
    }
    const json_t *one = json_object_get(schema, "oneOf");
    if (json_is_array(one) && keep_going(run)) {
        size_t matches = 0;
        char first[MESSAGE_MAX_BYTES] = "";
        size_t i;
        const json_t *sub;
        json_array_foreach (one, i, sub) {
            if (passes(run, sub, node, message, sizeof(message)))
                matches++;
            else if (first[0] == '\0')
                snprintf(first, sizeof(first), "%s", message);
            if (run->aborted)
                return;
        }
        if (matches == 0)
            violation(run, node, "schema-oneof", "matches none of the allowed forms (oneOf; first: %s)",
                      first);
        else if (matches > 1)
            violation(run, node, "schema-oneof", "matches %zu of the oneOf forms; exactly one is allowed",
                      matches);
    }
    const json_t *not_schema = json_object_get(schema, "not");
    if (not_schema != NULL && keep_going(run)) {
        /* A "description" inside the 'not' says what is excluded, e.g. "a variable the chart sets". */
        const json_t *why = json_object_get(not_schema, "description");
        if (passes(run, not_schema, node, NULL, 0) && !run->aborted) {
            if (json_is_string(why))
                violation(run, node, "schema-not", "is not allowed: %.200s", json_string_value(why));
            else
                violation(run, node, "schema-not", "matches a form that is not allowed ('not')");
        }
    }
    const json_t *if_schema = json_object_get(schema, "if");
    if (if_schema != NULL && keep_going(run)) {
        bool condition = passes(run, if_schema, node, NULL, 0);
        if (run->aborted)
            return;
        const json_t *branch = json_object_get(schema, condition ? "then" : "else");
        if (branch != NULL)
            validate(run, branch, node);
    }
}

static bool validate(struct run *run, const json_t *schema, const struct yamldoc_node *node)
{
    if (!keep_going(run))
        return false;
    if (++run->steps > JSONSCHEMA_MAX_STEPS) {
        run->aborted = true;
        snprintf(run->abort_reason, sizeof(run->abort_reason),
                 "schema evaluation took more than %lu steps (exponential anyOf/oneOf?)",
                 JSONSCHEMA_MAX_STEPS);
        return false;
    }
    if (run->depth >= JSONSCHEMA_MAX_DEPTH) {
        run->aborted = true;
        snprintf(run->abort_reason, sizeof(run->abort_reason),
                 "schema nests deeper than %u levels at %.60s ($ref cycle?)", JSONSCHEMA_MAX_DEPTH,
                 run->path);
        return false;
    }
    long before = run->violations;
    run->depth++;
    if (json_is_false(schema)) {
        violation(run, node, "schema-false", "no value is allowed here");
    } else if (json_is_object(schema)) {
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        if (ref != NULL) {
            const json_t *target = resolve_pointer(run->schema->root, ref);
            if (target != NULL)
                validate(run, target, node);
        }
        if (keep_going(run))
            check_type(run, schema, node);
        if (keep_going(run))
            check_enum_const(run, schema, node);
        if (keep_going(run))
            check_number(run, schema, node);
        if (keep_going(run))
            check_string(run, schema, node);
        if (keep_going(run))
            check_array(run, schema, node);
        if (keep_going(run))
            check_object(run, schema, node);
        if (keep_going(run))
            check_combinators(run, schema, node);
    }
    run->depth--;
    return run->violations == before && !run->aborted;
}

long jsonschema_validate(struct jsonschema *schema, const struct yamldoc_node *root,
                         jsonschema_report_fn report, void *ctx, char *err, size_t err_len)
{
    struct run run = {.schema = schema, .report = report, .ctx = ctx};
    validate(&run, schema->root, root);
    if (run.aborted) {
        snprintf(err, err_len, "%s", run.abort_reason);
        return -1;
    }
    return run.violations;
}
