/* yamldoc: Helm's value combination — deep merge of -f files, coalescing onto chart defaults, and
 * the --set mini-language (helm.sh/helm/v3/pkg/strvals behaviour, re-implemented from its
 * documented rules). Nothing here mutates an input tree: changed spines are copied. */
#include "yamldoc/yamldoc.h"
#include "yamldoc/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- merge ---- */

static struct yamldoc_node *merge_at_depth(struct yamldoc_set *set, struct yamldoc_node *base,
                                           struct yamldoc_node *overlay, enum yamldoc_merge_mode mode,
                                           unsigned depth)
{
    if (base == NULL)
        return overlay;
    if (overlay == NULL)
        return base;
    /* Only two mappings merge; anything else in the overlay replaces the base value whole. */
    if (base->kind != YAMLDOC_MAP || overlay->kind != YAMLDOC_MAP || depth > 2 * YAMLDOC_MAX_DEPTH)
        return overlay;
    struct yamldoc_node *merged = yamldoc_node_new(set, YAMLDOC_MAP, overlay->pos);
    if (merged == NULL)
        return NULL;
    for (size_t i = 0; i < base->count; i++) {
        const char *key = base->entries[i].key;
        struct yamldoc_node *base_value = base->entries[i].value;
        struct yamldoc_node *over_value = yamldoc_map_get(overlay, key);
        struct yamldoc_node *value = base_value;
        if (over_value != NULL) {
            if (over_value->kind == YAMLDOC_NULL && mode == YAMLDOC_MERGE_COALESCE)
                continue; /* Helm: a user-supplied null deletes the chart's default */
            value = merge_at_depth(set, base_value, over_value, mode, depth + 1);
            if (value == NULL)
                return NULL;
        }
        if (yamldoc_map_put(set, merged, key, value, NULL) != 0)
            return NULL;
    }
    for (size_t i = 0; i < overlay->count; i++) {
        const char *key = overlay->entries[i].key;
        if (yamldoc_map_get(base, key) != NULL)
            continue;
        if (yamldoc_map_put(set, merged, key, overlay->entries[i].value, NULL) != 0)
            return NULL;
    }
    return merged;
}

struct yamldoc_node *yamldoc_merge(struct yamldoc_set *set, struct yamldoc_node *base,
                                   struct yamldoc_node *overlay, enum yamldoc_merge_mode mode)
{
    return merge_at_depth(set, base, overlay, mode, 0);
}

/* ---- --set ---- */

/* Helm's limits: 30 levels of dotted names, indexes up to 65536. */
#define SET_MAX_NAME_LEVEL 30
#define SET_TOKEN_MAX      4096
#define SET_EOF            (-1)

struct set_parser {
    struct yamldoc_set *set;
    const char *arg;
    size_t len;
    size_t at;
    bool force_string;
    unsigned depth;
    struct yamldoc_pos pos; /* of the assignment being parsed */
    const char *source;
    struct yamldoc_error *err;
};

static int set_fail(struct set_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_fail(struct set_parser *p, const char *fmt, ...)
{
    p->err->pos = p->pos;
    p->err->rule = "set-syntax";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int out_of_memory(struct set_parser *p)
{
    p->err->pos = p->pos;
    p->err->rule = "yaml-limit";
    snprintf(p->err->message, sizeof(p->err->message), "out of memory applying --set");
    return -1;
}

static int next_char(struct set_parser *p)
{
    if (p->at >= p->len)
        return SET_EOF;
    return (unsigned char)p->arg[p->at++];
}

/* Reads up to an unescaped stop character; a backslash makes the next character literal.
 * `*last` is the stop character or SET_EOF. */
static int read_until(struct set_parser *p, const char *stops, char *token, size_t *token_len, int *last)
{
    size_t n = 0;
    for (;;) {
        int c = next_char(p);
        if (c == SET_EOF) {
            *last = SET_EOF;
            break;
        }
        if (strchr(stops, c) != NULL) {
            *last = c;
            break;
        }
        if (c == '\\') {
            c = next_char(p);
            if (c == SET_EOF) {
                *last = SET_EOF;
                break;
            }
        }
        if (n + 1 >= SET_TOKEN_MAX)
            return set_fail(p, "--set token longer than %d bytes", SET_TOKEN_MAX);
        token[n++] = (char)c;
    }
    token[n] = '\0';
    *token_len = n;
    return 0;
}

/* strvals' typedVal: true/false/null (any case), integers without a leading zero, else string. */
static struct yamldoc_node *typed_value(struct set_parser *p, const char *text, size_t len)
{
    struct yamldoc_node *node = yamldoc_scalar_new(p->set, YAMLDOC_STRING, p->pos, text, len);
    if (node == NULL || p->force_string)
        return node;
    if (strcasecmp(text, "true") == 0 || strcasecmp(text, "false") == 0) {
        node->kind = YAMLDOC_BOOL;
        node->as.boolean = strcasecmp(text, "true") == 0;
    } else if (strcasecmp(text, "null") == 0) {
        node->kind = YAMLDOC_NULL;
    } else if (strcmp(text, "0") == 0) {
        node->kind = YAMLDOC_INT;
        node->as.integer = 0;
    } else if (len > 0 && text[0] != '0' && strlen(text) == len) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(text, &end, 10);
        /* Go's ParseInt(s, 10, 64): optional sign then digits only, no spaces, no overflow. */
        bool digits_only = text[0] == '-' || text[0] == '+' || (text[0] >= '0' && text[0] <= '9');
        for (const char *c = text + 1; digits_only && *c != '\0'; c++)
            digits_only = *c >= '0' && *c <= '9';
        if (digits_only && errno == 0 && end != NULL && *end == '\0' &&
            len > (size_t)(text[0] == '-' || text[0] == '+')) {
            node->kind = YAMLDOC_INT;
            node->as.integer = value;
        }
    }
    return node;
}

/* `{a,b,c}` after `=`; returns 1 when the value is not a list (nothing consumed). */
static int read_value_list(struct set_parser *p, struct yamldoc_node **out)
{
    if (p->at >= p->len || p->arg[p->at] != '{')
        return 1;
    p->at++;
    struct yamldoc_node *list = yamldoc_node_new(p->set, YAMLDOC_SEQ, p->pos);
    if (list == NULL)
        return out_of_memory(p);
    char token[SET_TOKEN_MAX];
    for (;;) {
        size_t len;
        int last;
        if (read_until(p, ",}", token, &len, &last) != 0)
            return -1;
        if (last == SET_EOF)
            return set_fail(p, "list must terminate with '}'");
        struct yamldoc_node *item = typed_value(p, token, len);
        if (item == NULL || yamldoc_seq_push(p->set, list, item) != 0)
            return out_of_memory(p);
        if (last == '}') {
            if (p->at < p->len && p->arg[p->at] == ',')
                p->at++;
            *out = list;
            return 0;
        }
    }
}

/* The value after `=`: a list, or a scalar up to the next unescaped comma. */
static int read_value(struct set_parser *p, struct yamldoc_node **out)
{
    int rc = read_value_list(p, out);
    if (rc <= 0)
        return rc;
    char token[SET_TOKEN_MAX];
    size_t len;
    int last;
    if (read_until(p, ",", token, &len, &last) != 0)
        return -1;
    *out = typed_value(p, token, len);
    return *out == NULL ? out_of_memory(p) : 0;
}

static int read_index(struct set_parser *p, size_t *index)
{
    char token[SET_TOKEN_MAX];
    size_t len;
    int last;
    if (read_until(p, "]", token, &len, &last) != 0)
        return -1;
    if (last != ']')
        return set_fail(p, "error parsing index: missing ']'");
    char *end = NULL;
    errno = 0;
    long long value = strtoll(token, &end, 10);
    if (len == 0 || errno != 0 || end == NULL || *end != '\0')
        return set_fail(p, "error parsing index: '%.40s' is not a number", token);
    if (value < 0)
        return set_fail(p, "error parsing index: negative %lld index not allowed", value);
    if (value > (long long)YAMLDOC_MAX_SET_INDEX)
        return set_fail(p, "error parsing index: index of %lld is greater than maximum supported index of %u",
                        value, YAMLDOC_MAX_SET_INDEX);
    *index = (size_t)value;
    return 0;
}

/* A private copy of `existing` when it has `kind`, else a fresh collection: callers mutate it. */
static struct yamldoc_node *owned_collection(struct set_parser *p, struct yamldoc_node *existing,
                                             enum yamldoc_kind kind)
{
    if (existing != NULL && existing->kind == kind)
        return yamldoc_shallow_copy(p->set, existing, existing->pos);
    return yamldoc_node_new(p->set, kind, p->pos);
}

static int set_index(struct set_parser *p, struct yamldoc_node *list, size_t index,
                     struct yamldoc_node *value)
{
    while (list->count <= index) {
        struct yamldoc_node *filler = yamldoc_node_new(p->set, YAMLDOC_NULL, p->pos);
        if (filler == NULL || yamldoc_seq_push(p->set, list, filler) != 0)
            return out_of_memory(p);
    }
    list->items[index] = value;
    return 0;
}

static int parse_key(struct set_parser *p, struct yamldoc_node *map, int name_level, bool *finished);

/* After `name[index]`: `=value`, `.key…` or another `[index]`. */
static int parse_list_item(struct set_parser *p, struct yamldoc_node *list, size_t index, int name_level)
{
    if (++p->depth > YAMLDOC_MAX_DEPTH)
        return set_fail(p, "--set nests deeper than %u levels", YAMLDOC_MAX_DEPTH);
    char token[SET_TOKEN_MAX];
    size_t len;
    int last;
    if (read_until(p, "[.=", token, &len, &last) != 0)
        return -1;
    if (len > 0)
        return set_fail(p, "unexpected data at end of array index: '%.40s'", token);
    struct yamldoc_node *existing = index < list->count ? list->items[index] : NULL;
    switch (last) {
    case SET_EOF:
        return set_fail(p, "missing value after index [%zu]", index);
    case '=': {
        struct yamldoc_node *value = NULL;
        if (read_value(p, &value) != 0)
            return -1;
        return set_index(p, list, index, value);
    }
    case '.': {
        if (name_level + 1 > SET_MAX_NAME_LEVEL)
            return set_fail(p, "value name nested level is greater than maximum supported nested level of %d",
                            SET_MAX_NAME_LEVEL);
        struct yamldoc_node *inner = owned_collection(p, existing, YAMLDOC_MAP);
        if (inner == NULL)
            return out_of_memory(p);
        bool finished = false;
        if (parse_key(p, inner, name_level + 1, &finished) != 0)
            return -1;
        return set_index(p, list, index, inner);
    }
    case '[': {
        size_t inner_index;
        if (read_index(p, &inner_index) != 0)
            return -1;
        struct yamldoc_node *inner = owned_collection(p, existing, YAMLDOC_SEQ);
        if (inner == NULL)
            return out_of_memory(p);
        if (parse_list_item(p, inner, inner_index, name_level) != 0)
            return -1;
        return set_index(p, list, index, inner);
    }
    default:
        return set_fail(p, "parse error: unexpected token '%c'", last);
    }
}

/* One `name…=value` assignment into `map` (which the caller owns). `*finished` at end of input. */
static int parse_key(struct set_parser *p, struct yamldoc_node *map, int name_level, bool *finished)
{
    if (++p->depth > YAMLDOC_MAX_DEPTH)
        return set_fail(p, "--set nests deeper than %u levels", YAMLDOC_MAX_DEPTH);
    char token[SET_TOKEN_MAX];
    size_t len;
    int last;
    if (read_until(p, "=[,.", token, &len, &last) != 0)
        return -1;
    if (last == SET_EOF) {
        if (len == 0) {
            *finished = true;
            return 0;
        }
        return set_fail(p, "key '%.60s' has no value", token);
    }
    const char *key = yamldoc_strdup(p->set, token, len);
    if (key == NULL)
        return out_of_memory(p);
    struct yamldoc_node *existing = yamldoc_map_get(map, key);
    switch (last) {
    case '=': {
        struct yamldoc_node *value = NULL;
        if (read_value(p, &value) != 0)
            return -1;
        if (len == 0)
            return 0; /* Helm ignores an empty name */
        return yamldoc_map_put(p->set, map, key, value, NULL) == 0 ? 0 : out_of_memory(p);
    }
    case ',':
        return set_fail(p, "key '%.60s' has no value (cannot end with ,)", token);
    case '.': {
        if (name_level + 1 > SET_MAX_NAME_LEVEL)
            return set_fail(p, "value name nested level is greater than maximum supported nested level of %d",
                            SET_MAX_NAME_LEVEL);
        struct yamldoc_node *inner = owned_collection(p, existing, YAMLDOC_MAP);
        if (inner == NULL)
            return out_of_memory(p);
        bool inner_finished = false;
        if (parse_key(p, inner, name_level + 1, &inner_finished) != 0)
            return -1;
        if (inner->count == 0)
            return set_fail(p, "key map '%.60s' has no value", token);
        if (inner_finished)
            *finished = true;
        return yamldoc_map_put(p->set, map, key, inner, NULL) == 0 ? 0 : out_of_memory(p);
    }
    case '[': {
        size_t index;
        if (read_index(p, &index) != 0)
            return -1;
        struct yamldoc_node *list = owned_collection(p, existing, YAMLDOC_SEQ);
        if (list == NULL)
            return out_of_memory(p);
        if (parse_list_item(p, list, index, name_level) != 0)
            return -1;
        if (len == 0)
            return 0;
        return yamldoc_map_put(p->set, map, key, list, NULL) == 0 ? 0 : out_of_memory(p);
    }
    default:
        return set_fail(p, "parse error");
    }
}

int yamldoc_apply_set(struct yamldoc_set *set, struct yamldoc_node **root, const char *arg, bool force_string,
                      unsigned set_number, struct yamldoc_error *err)
{
    char source[32];
    snprintf(source, sizeof(source), "--set[%u]", set_number);
    struct set_parser p = {
        .set = set,
        .arg = arg,
        .len = strlen(arg),
        .force_string = force_string,
        .err = err,
    };
    p.source = yamldoc_strdup(set, source, strlen(source));
    p.pos.source = p.source;
    p.pos.line = 1;
    p.pos.column = 1;
    if (p.source == NULL)
        return out_of_memory(&p);
    struct yamldoc_node *map = owned_collection(&p, *root, YAMLDOC_MAP);
    if (map == NULL)
        return out_of_memory(&p);
    bool finished = false;
    while (!finished && p.at < p.len) {
        p.pos.column = (uint32_t)p.at + 1;
        p.depth = 0;
        if (parse_key(&p, map, 0, &finished) != 0)
            return -1;
    }
    *root = map;
    return 0;
}
