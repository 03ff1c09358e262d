/* yamldoc: libyaml events -> a positioned tree, with Helm's (go-yaml v2, YAML 1.1) scalar typing.
 *
 * The event API is used rather than yaml_parser_load because the document loader materialises
 * aliases without any budget and silently keeps duplicate keys; here every node created (alias
 * copies included) counts against YAMLDOC_MAX_NODES, nesting against YAMLDOC_MAX_DEPTH, and
 * duplicate keys are recorded in the set. */
#include "yamldoc/yamldoc.h"
#include "yamldoc/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* One open mapping or sequence. */
struct frame {
    struct yamldoc_node *node;
    const char *anchor;
    /* How the parent refers to this collection (for duplicate-key paths). */
    const char *key_in_parent;
    size_t index_in_parent;
    bool is_document_root;
    /* Mappings: the key waiting for its value. */
    bool have_key;
    bool key_is_merge;
    const char *key;
    struct yamldoc_pos key_pos;
    /* Mappings: `<<` sources, applied when the mapping ends so explicit keys always win. */
    struct yamldoc_node *merge_sources;
};

struct loader {
    struct yamldoc_set *set;
    const char *source;
    const char *data;
    size_t len;
    yaml_parser_t parser;
    struct frame frames[YAMLDOC_MAX_DEPTH + 1];
    size_t depth;
    struct yamldoc_node *anchors; /* a MAP from anchor name to node: later definitions replace */
    size_t nodes;
    bool done;
    struct yamldoc_node *root;
    bool have_root;
    struct yamldoc_error *err;
};

static void set_error(struct yamldoc_error *err, const char *source, uint32_t line, uint32_t column,
                      const char *rule, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void set_error(struct yamldoc_error *err, const char *source, uint32_t line, uint32_t column,
                      const char *rule, const char *fmt, ...)
{
    err->pos.source = source;
    err->pos.line = line;
    err->pos.column = column;
    err->rule = rule;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

static struct yamldoc_pos mark_pos(const struct loader *ld, yaml_mark_t mark)
{
    struct yamldoc_pos pos = {ld->source, (uint32_t)mark.line + 1, (uint32_t)mark.column + 1};
    return pos;
}

static void limit_error(struct loader *ld, yaml_mark_t mark, const char *fmt, const char *what, size_t limit)
{
    char message[200];
    snprintf(message, sizeof(message), fmt, what, limit);
    set_error(ld->err, ld->source, (uint32_t)mark.line + 1, (uint32_t)mark.column + 1, "yaml-limit", "%s",
              message);
}

static void arena_error(struct loader *ld, yaml_mark_t mark)
{
    set_error(ld->err, ld->source, (uint32_t)mark.line + 1, (uint32_t)mark.column + 1, "yaml-limit",
              "input needs more than %zu MiB of memory", YAMLDOC_MAX_ARENA_BYTES >> 20);
}

static int count_node(struct loader *ld, yaml_mark_t mark)
{
    if (++ld->nodes > YAMLDOC_MAX_NODES) {
        limit_error(ld, mark, "%s: more than %zu values (alias expansion included)", "too many nodes",
                    (size_t)YAMLDOC_MAX_NODES);
        return -1;
    }
    return 0;
}

/* ---- scalar typing (YAML 1.1 as go-yaml v2 resolves it; Helm reads values with it) ---- */

static bool text_in(const char *text, const char *const *words)
{
    for (size_t i = 0; words[i] != NULL; i++)
        if (strcmp(text, words[i]) == 0)
            return true;
    return false;
}

static const char *const NULL_WORDS[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const TRUE_WORDS[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const FALSE_WORDS[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};

/* Go's strconv.ParseInt(s, 0, 64) after go-yaml removed underscores: sign, then 0x/0o/0b prefix or
 * a leading 0 for octal. */
static bool parse_go_int(const char *text, int64_t *out, bool *overflow)
{
    const char *p = text;
    bool negative = false;
    *overflow = false;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
    } else if (p[0] == '0' && p[1] != '\0') {
        base = 8;
        p += 1;
    }
    if (*p == '\0')
        return false;
    uint64_t value = 0;
    for (; *p != '\0'; p++) {
        int digit;
        if (*p >= '0' && *p <= '9')
            digit = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            digit = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            digit = *p - 'A' + 10;
        else
            return false;
        if (digit >= base)
            return false;
        if (value > (UINT64_MAX - (uint64_t)digit) / (uint64_t)base)
            *overflow = true;
        else
            value = value * (uint64_t)base + (uint64_t)digit;
    }
    if (*overflow)
        return true;
    if (negative) {
        if (value > (uint64_t)INT64_MAX + 1)
            *overflow = true;
        else
            *out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    } else if (value > (uint64_t)INT64_MAX) {
        *overflow = true; /* go-yaml makes it a uint64; as JSON it is just a (float) number */
    } else {
        *out = (int64_t)value;
    }
    return true;
}

/* go-yaml v2 only calls a plain scalar a float when it looks like one:
 * ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool looks_like_float(const char *p)
{
    if (*p == '+' || *p == '-')
        p++;
    size_t int_digits = 0, frac_digits = 0;
    while (*p >= '0' && *p <= '9') {
        p++;
        int_digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            frac_digits++;
        }
        if (int_digits == 0 && frac_digits == 0)
            return false;
    } else if (int_digits == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* Types a plain scalar; strings keep YAMLDOC_STRING. */
static void resolve_plain(struct yamldoc_node *node)
{
    const char *text = node->text;
    if (strlen(text) != node->text_len) /* an escaped NUL can only be a string */
        return;
    if (text_in(text, NULL_WORDS)) {
        node->kind = YAMLDOC_NULL;
        return;
    }
    if (text_in(text, TRUE_WORDS) || text_in(text, FALSE_WORDS)) {
        node->kind = YAMLDOC_BOOL;
        node->as.boolean = text_in(text, TRUE_WORDS);
        return;
    }
    static const char *const INF_WORDS[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const NEG_INF_WORDS[] = {"-.inf", "-.Inf", "-.INF", NULL};
    static const char *const NAN_WORDS[] = {".nan", ".NaN", ".NAN", NULL};
    if (text_in(text, INF_WORDS) || text_in(text, NEG_INF_WORDS) || text_in(text, NAN_WORDS)) {
        node->kind = YAMLDOC_FLOAT;
        node->as.number = text_in(text, NAN_WORDS) ? NAN : text_in(text, INF_WORDS) ? INFINITY : -INFINITY;
        return;
    }
    char digits[80];
    size_t n = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '_')
            continue;
        if (n + 1 >= sizeof(digits))
            return; /* far longer than any number */
        digits[n++] = *p;
    }
    digits[n] = '\0';
    if (n == 0 ||
        !(digits[0] == '+' || digits[0] == '-' || digits[0] == '.' || (digits[0] >= '0' && digits[0] <= '9')))
        return;
    int64_t integer;
    bool overflow;
    if (parse_go_int(digits, &integer, &overflow)) {
        if (!overflow) {
            node->kind = YAMLDOC_INT;
            node->as.integer = integer;
            return;
        }
        node->kind = YAMLDOC_FLOAT;
        node->as.number = strtod(digits, NULL);
        return;
    }
    if (looks_like_float(digits)) {
        node->kind = YAMLDOC_FLOAT;
        node->as.number = strtod(digits, NULL);
    }
}

static bool tag_is(const yaml_char_t *tag, const char *suffix)
{
    static const char PREFIX[] = "tag:yaml.org,2002:";
    const char *t = (const char *)tag;
    return t != NULL && strncmp(t, PREFIX, sizeof(PREFIX) - 1) == 0 &&
           strcmp(t + sizeof(PREFIX) - 1, suffix) == 0;
}

/* A mapping key as Helm sees it: go-yaml decodes `true:`/`on:` to a bool and sigs.k8s.io/yaml turns
 * it back into "true", numbers into their decimal text. */
static const char *key_text(struct loader *ld, const struct yamldoc_node *scalar)
{
    switch (scalar->kind) {
    case YAMLDOC_BOOL:
        return scalar->as.boolean ? "true" : "false";
    case YAMLDOC_NULL:
        return "null";
    case YAMLDOC_INT: {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%lld", (long long)scalar->as.integer);
        return yamldoc_strdup(ld->set, buf, (size_t)len);
    }
    default:
        return scalar->text;
    }
}

/* ---- tree building ---- */

static struct yamldoc_node *copy_tree(struct loader *ld, const struct yamldoc_node *src,
                                      struct yamldoc_pos pos, size_t depth, yaml_mark_t mark)
{
    if (depth > YAMLDOC_MAX_DEPTH) {
        limit_error(ld, mark, "%s: an alias expands deeper than %zu levels", "nesting too deep",
                    (size_t)YAMLDOC_MAX_DEPTH);
        return NULL;
    }
    if (count_node(ld, mark) != 0)
        return NULL;
    struct yamldoc_node *copy = yamldoc_alloc(ld->set, sizeof(*copy));
    if (copy == NULL)
        goto out_of_memory;
    *copy = *src;
    copy->pos = pos;
    copy->entries = NULL;
    copy->items = NULL;
    copy->index = NULL;
    copy->index_size = 0;
    copy->count = 0;
    copy->capacity = 0;
    for (size_t i = 0; i < src->count; i++) {
        if (src->kind == YAMLDOC_MAP) {
            const struct yamldoc_node *child = src->entries[i].value;
            struct yamldoc_node *child_copy = copy_tree(ld, child, child->pos, depth + 1, mark);
            if (child_copy == NULL)
                return NULL;
            if (yamldoc_map_put(ld->set, copy, src->entries[i].key, child_copy, NULL) != 0)
                goto out_of_memory;
        } else if (src->kind == YAMLDOC_SEQ) {
            const struct yamldoc_node *child = src->items[i];
            struct yamldoc_node *child_copy = copy_tree(ld, child, child->pos, depth + 1, mark);
            if (child_copy == NULL)
                return NULL;
            if (yamldoc_seq_push(ld->set, copy, child_copy) != 0)
                goto out_of_memory;
        }
    }
    return copy;
out_of_memory:
    arena_error(ld, mark);
    return NULL;
}

/* The dotted path of a key in the innermost open mapping, for duplicate reports. */
static const char *frame_path(struct loader *ld, const char *key)
{
    char path[512];
    size_t used = 0;
    path[0] = '\0';
    for (size_t i = 1; i <= ld->depth; i++) {
        const struct frame *f = &ld->frames[i];
        if (f->is_document_root)
            continue;
        int n = f->key_in_parent != NULL
                    ? snprintf(path + used, sizeof(path) - used, "%s%s", used ? "." : "", f->key_in_parent)
                    : snprintf(path + used, sizeof(path) - used, "[%zu]", f->index_in_parent);
        if (n < 0 || (size_t)n >= sizeof(path) - used)
            break;
        used += (size_t)n;
    }
    if (used < sizeof(path) - 1)
        snprintf(path + used, sizeof(path) - used, "%s%s", used ? "." : "", key);
    return yamldoc_strdup(ld->set, path, strlen(path));
}

/* Where the value about to be created sits: its key, its sequence item, or the document. */
static struct yamldoc_pos value_pos(struct loader *ld, yaml_mark_t mark)
{
    if (ld->depth > 0) {
        struct frame *top = &ld->frames[ld->depth];
        if (top->node->kind == YAMLDOC_MAP && top->have_key)
            return top->key_pos;
    }
    return mark_pos(ld, mark);
}

static int add_merge_source(struct loader *ld, struct frame *top, struct yamldoc_node *value,
                            yaml_mark_t mark)
{
    if (top->merge_sources == NULL) {
        top->merge_sources = yamldoc_node_new(ld->set, YAMLDOC_SEQ, top->key_pos);
        if (top->merge_sources == NULL)
            goto out_of_memory;
    }
    if (value->kind == YAMLDOC_MAP) {
        if (yamldoc_seq_push(ld->set, top->merge_sources, value) != 0)
            goto out_of_memory;
        return 0;
    }
    if (value->kind == YAMLDOC_SEQ) {
        for (size_t i = 0; i < value->count; i++) {
            if (value->items[i]->kind != YAMLDOC_MAP)
                goto not_a_map;
            if (yamldoc_seq_push(ld->set, top->merge_sources, value->items[i]) != 0)
                goto out_of_memory;
        }
        return 0;
    }
not_a_map:
    set_error(ld->err, ld->source, top->key_pos.line, top->key_pos.column, "yaml-syntax",
              "merge key '<<' needs a mapping or a list of mappings");
    return -1;
out_of_memory:
    arena_error(ld, mark);
    return -1;
}

/* Hands a finished value (or key) to the open collection, or makes it the document root. */
static int deliver(struct loader *ld, struct yamldoc_node *value, yaml_mark_t mark)
{
    if (ld->depth == 0) {
        ld->root = value;
        ld->have_root = true;
        return 0;
    }
    struct frame *top = &ld->frames[ld->depth];
    if (top->node->kind == YAMLDOC_SEQ) {
        if (yamldoc_seq_push(ld->set, top->node, value) != 0)
            goto out_of_memory;
        return 0;
    }
    if (!top->have_key) {
        if (value->kind == YAMLDOC_MAP || value->kind == YAMLDOC_SEQ) {
            set_error(ld->err, ld->source, (uint32_t)mark.line + 1, (uint32_t)mark.column + 1,
                      "values-structure",
                      "a mapping or sequence used as a key (values keys must be strings)");
            return -1;
        }
        top->key = key_text(ld, value);
        if (top->key == NULL)
            goto out_of_memory;
        top->key_pos = value->pos;
        top->have_key = true;
        return 0;
    }
    top->have_key = false;
    if (top->key_is_merge) {
        top->key_is_merge = false;
        return add_merge_source(ld, top, value, mark);
    }
    struct yamldoc_node *replaced = NULL;
    if (yamldoc_map_put(ld->set, top->node, top->key, value, &replaced) != 0)
        goto out_of_memory;
    if (replaced != NULL) {
        struct yamldoc_duplicate dup = {value->pos, replaced->pos, frame_path(ld, top->key)};
        if (dup.path == NULL || yamldoc_record_duplicate(ld->set, &dup) != 0)
            goto out_of_memory;
    }
    return 0;
out_of_memory:
    arena_error(ld, mark);
    return -1;
}

static int register_anchor(struct loader *ld, const yaml_char_t *anchor, struct yamldoc_node *node,
                           yaml_mark_t mark)
{
    if (anchor == NULL)
        return 0;
    const char *name = yamldoc_strdup(ld->set, (const char *)anchor, strlen((const char *)anchor));
    if (name == NULL || yamldoc_map_put(ld->set, ld->anchors, name, node, NULL) != 0) {
        arena_error(ld, mark);
        return -1;
    }
    return 0;
}

static bool in_key_position(const struct loader *ld)
{
    if (ld->depth == 0)
        return false;
    const struct frame *top = &ld->frames[ld->depth];
    return top->node->kind == YAMLDOC_MAP && !top->have_key;
}

static int on_scalar(struct loader *ld, const yaml_event_t *event)
{
    bool is_key = in_key_position(ld);
    struct yamldoc_pos pos = is_key ? mark_pos(ld, event->start_mark) : value_pos(ld, event->start_mark);
    if (count_node(ld, event->start_mark) != 0)
        return -1;
    struct yamldoc_node *node = yamldoc_scalar_new(
        ld->set, YAMLDOC_STRING, pos, (const char *)event->data.scalar.value, event->data.scalar.length);
    if (node == NULL) {
        arena_error(ld, event->start_mark);
        return -1;
    }
    const yaml_char_t *tag = event->data.scalar.tag;
    bool plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag_is(tag, "str") || (tag != NULL && strcmp((const char *)tag, "!") == 0)) {
        /* explicitly a string */
    } else if (plain || tag_is(tag, "int") || tag_is(tag, "float") || tag_is(tag, "bool") ||
               tag_is(tag, "null")) {
        resolve_plain(node);
    }
    if (is_key && plain && tag == NULL && strcmp(node->text, "<<") == 0) {
        struct frame *top = &ld->frames[ld->depth];
        top->key_is_merge = true;
        top->have_key = true;
        top->key = "<<";
        top->key_pos = pos;
        return register_anchor(ld, event->data.scalar.anchor, node, event->start_mark);
    }
    if (register_anchor(ld, event->data.scalar.anchor, node, event->start_mark) != 0)
        return -1;
    return deliver(ld, node, event->start_mark);
}

static int on_alias(struct loader *ld, const yaml_event_t *event)
{
    const char *name = (const char *)event->data.alias.anchor;
    const struct yamldoc_node *target = yamldoc_map_get(ld->anchors, name);
    if (target == NULL) {
        set_error(ld->err, ld->source, (uint32_t)event->start_mark.line + 1,
                  (uint32_t)event->start_mark.column + 1, "yaml-syntax",
                  "unknown anchor '%.100s' (aliases must follow their anchor)", name);
        return -1;
    }
    bool is_key = in_key_position(ld);
    struct yamldoc_pos pos = is_key ? mark_pos(ld, event->start_mark) : value_pos(ld, event->start_mark);
    struct yamldoc_node *copy = copy_tree(ld, target, pos, ld->depth, event->start_mark);
    if (copy == NULL)
        return -1;
    return deliver(ld, copy, event->start_mark);
}

static int on_collection_start(struct loader *ld, const yaml_event_t *event, enum yamldoc_kind kind)
{
    if (in_key_position(ld)) {
        set_error(ld->err, ld->source, (uint32_t)event->start_mark.line + 1,
                  (uint32_t)event->start_mark.column + 1, "values-structure",
                  "a mapping or sequence used as a key (values keys must be strings)");
        return -1;
    }
    if (ld->depth >= YAMLDOC_MAX_DEPTH) {
        limit_error(ld, event->start_mark, "%s: more than %zu levels", "nesting too deep",
                    (size_t)YAMLDOC_MAX_DEPTH);
        return -1;
    }
    if (count_node(ld, event->start_mark) != 0)
        return -1;
    struct yamldoc_node *node = yamldoc_node_new(ld->set, kind, value_pos(ld, event->start_mark));
    if (node == NULL) {
        arena_error(ld, event->start_mark);
        return -1;
    }
    const yaml_char_t *anchor =
        kind == YAMLDOC_MAP ? event->data.mapping_start.anchor : event->data.sequence_start.anchor;
    const char *anchor_copy = NULL;
    if (anchor != NULL) {
        anchor_copy = yamldoc_strdup(ld->set, (const char *)anchor, strlen((const char *)anchor));
        if (anchor_copy == NULL) {
            arena_error(ld, event->start_mark);
            return -1;
        }
    }
    const char *key_in_parent = NULL;
    size_t index_in_parent = 0;
    if (ld->depth > 0) {
        const struct frame *parent = &ld->frames[ld->depth];
        if (parent->node->kind == YAMLDOC_MAP)
            key_in_parent = parent->key;
        else
            index_in_parent = parent->node->count;
    }
    ld->depth++;
    struct frame *f = &ld->frames[ld->depth];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->anchor = anchor_copy;
    f->key_in_parent = key_in_parent;
    f->index_in_parent = index_in_parent;
    f->is_document_root = ld->depth == 1;
    return 0;
}

static int on_collection_end(struct loader *ld, const yaml_event_t *event)
{
    struct frame *f = &ld->frames[ld->depth];
    struct yamldoc_node *node = f->node;
    if (f->merge_sources != NULL) {
        /* YAML merge keys: the earliest source wins among sources, explicit keys win over all. */
        for (size_t s = 0; s < f->merge_sources->count; s++) {
            const struct yamldoc_node *source = f->merge_sources->items[s];
            for (size_t i = 0; i < source->count; i++) {
                if (yamldoc_map_get(node, source->entries[i].key) != NULL)
                    continue;
                if (yamldoc_map_put(ld->set, node, source->entries[i].key, source->entries[i].value, NULL) !=
                    0) {
                    arena_error(ld, event->start_mark);
                    return -1;
                }
            }
        }
    }
    ld->depth--;
    if (f->anchor != NULL) {
        if (yamldoc_map_put(ld->set, ld->anchors, f->anchor, node, NULL) != 0) {
            arena_error(ld, event->start_mark);
            return -1;
        }
    }
    return deliver(ld, node, event->start_mark);
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte offset only. */
static void offset_to_pos(const struct loader *ld, size_t offset, uint32_t *line, uint32_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < ld->len; i++) {
        if (ld->data[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)ld->data[i] & 0xC0) != 0x80) {
            (*column)++;
        }
    }
}

static void parser_error(struct loader *ld)
{
    const yaml_parser_t *p = &ld->parser;
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR) {
        set_error(ld->err, ld->source, 0, 0, "yaml-limit", "out of memory while parsing");
    } else if (p->error == YAML_READER_ERROR) {
        uint32_t line, column;
        offset_to_pos(ld, p->problem_offset, &line, &column);
        if (p->problem_value != -1)
            set_error(ld->err, ld->source, line, column, "yaml-syntax", "%s (byte 0x%02X)", problem,
                      (unsigned)p->problem_value & 0xFFu);
        else
            set_error(ld->err, ld->source, line, column, "yaml-syntax", "%s", problem);
    } else if (p->context != NULL) {
        set_error(ld->err, ld->source, (uint32_t)p->problem_mark.line + 1,
                  (uint32_t)p->problem_mark.column + 1, "yaml-syntax", "%s %s (line %zu)", problem,
                  p->context, p->context_mark.line + 1);
    } else {
        set_error(ld->err, ld->source, (uint32_t)p->problem_mark.line + 1,
                  (uint32_t)p->problem_mark.column + 1, "yaml-syntax", "%s", problem);
    }
}

/* Runs the event loop over the first document. */
static int parse_events(struct loader *ld)
{
    int documents = 0;
    while (!ld->done) {
        yaml_event_t event;
        if (!yaml_parser_parse(&ld->parser, &event)) {
            if (documents > 0 && ld->have_root && ld->depth == 0)
                return 0; /* junk after the first document: Helm never reads it either */
            parser_error(ld);
            return -1;
        }
        int rc = 0;
        switch (event.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (documents++ > 0) {
                struct yamldoc_error note;
                set_error(&note, ld->source, (uint32_t)event.start_mark.line + 1,
                          (uint32_t)event.start_mark.column + 1, "multiple-documents",
                          "only the first YAML document of a values file is used; this one is ignored");
                rc = yamldoc_record_note(ld->set, &note);
                ld->done = true;
            }
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(ld, &event);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(ld, &event);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_collection_start(ld, &event, YAMLDOC_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_collection_start(ld, &event, YAMLDOC_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_collection_end(ld, &event);
            break;
        case YAML_STREAM_END_EVENT:
            ld->done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int yamldoc_load_buffer(struct yamldoc_set *set, const char *source, const char *data, size_t len,
                        struct yamldoc_node **out, struct yamldoc_error *err)
{
    int result = -1;
    struct loader *ld = calloc(1, sizeof(*ld));
    if (ld == NULL) {
        set_error(err, source, 0, 0, "yaml-limit", "out of memory");
        return -1;
    }
    bool parser_ready = false;
    ld->set = set;
    ld->err = err;
    ld->data = data;
    ld->len = len;
    ld->source = yamldoc_strdup(set, source, strlen(source));
    ld->anchors = yamldoc_node_new(set, YAMLDOC_MAP, (struct yamldoc_pos){0});
    if (ld->source == NULL || ld->anchors == NULL) {
        set_error(err, source, 0, 0, "yaml-limit", "out of memory");
        goto cleanup;
    }
    if (len > YAMLDOC_MAX_FILE_BYTES) {
        set_error(err, ld->source, 0, 0, "yaml-limit", "file is larger than the %zu MiB limit",
                  YAMLDOC_MAX_FILE_BYTES >> 20);
        goto cleanup;
    }
    if (!yaml_parser_initialize(&ld->parser)) {
        set_error(err, ld->source, 0, 0, "yaml-limit", "cannot initialise the YAML parser");
        goto cleanup;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&ld->parser, (const unsigned char *)data, len);
    if (parse_events(ld) != 0)
        goto cleanup;
    struct yamldoc_pos top = {ld->source, 1, 1};
    if (!ld->have_root || ld->root->kind == YAMLDOC_NULL) {
        ld->root = yamldoc_node_new(set, YAMLDOC_MAP, top);
        if (ld->root == NULL) {
            set_error(err, ld->source, 0, 0, "yaml-limit", "out of memory");
            goto cleanup;
        }
    } else if (ld->root->kind != YAMLDOC_MAP) {
        set_error(err, ld->source, ld->root->pos.line, ld->root->pos.column, "values-structure",
                  "the top level of a values file must be a mapping, not %s",
                  yamldoc_kind_name(ld->root->kind));
        goto cleanup;
    }
    ld->root->pos = top;
    *out = ld->root;
    result = 0;
cleanup:
    if (parser_ready)
        yaml_parser_delete(&ld->parser);
    free(ld);
    return result;
}

/* Reads at most YAMLDOC_MAX_FILE_BYTES + 1 bytes, so a pipe or device cannot exhaust memory. */
static int read_bounded(int fd, char **data, size_t *len)
{
    size_t capacity = 64 << 10, used = 0;
    char *buf = malloc(capacity);
    if (buf == NULL)
        return ENOMEM;
    for (;;) {
        if (used == capacity) {
            if (capacity > YAMLDOC_MAX_FILE_BYTES) {
                break;
            }
            capacity *= 2;
            char *grown = realloc(buf, capacity);
            if (grown == NULL) {
                free(buf);
                return ENOMEM;
            }
            buf = grown;
        }
        ssize_t n = read(fd, buf + used, capacity - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            free(buf);
            return saved;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    *data = buf;
    *len = used;
    return 0;
}

int yamldoc_load_file(struct yamldoc_set *set, const char *path, struct yamldoc_node **out,
                      struct yamldoc_error *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *source = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, source, 0, 0, "io-error", "cannot open: %s", strerror(errno));
        return -1;
    }
    int result = -1;
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_error(err, source, 0, 0, "io-error", "cannot stat: %s", strerror(errno));
        goto cleanup;
    }
    if (S_ISDIR(st.st_mode)) {
        set_error(err, source, 0, 0, "io-error", "is a directory, not a values file");
        goto cleanup;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > YAMLDOC_MAX_FILE_BYTES) {
        set_error(err, source, 0, 0, "yaml-limit", "file is larger than the %zu MiB limit",
                  YAMLDOC_MAX_FILE_BYTES >> 20);
        goto cleanup;
    }
    int rc = read_bounded(fd, &data, &len);
    if (rc != 0) {
        set_error(err, source, 0, 0, "io-error", "cannot read: %s", strerror(rc));
        goto cleanup;
    }
    result = yamldoc_load_buffer(set, source, data, len, out, err);
cleanup:
    free(data);
    if (!is_stdin)
        close(fd);
    return result;
}
