/* yamldoc: YAML values files (libyaml) as a tree whose every value remembers where it was written,
 * plus Helm's way of combining them: deep merge of -f files, --set/--set-string, coalescing onto the
 * chart's own values.yaml.
 *
 * All nodes live in one arena owned by a `struct yamldoc_set` and are freed together. Trees are
 * immutable once built; merge and --set build new spines and share untouched subtrees, so a final
 * tree may be a DAG (never a cycle). Hostile input is bounded by the limits below; exceeding one is
 * a load error, never a crash. */
#ifndef BOLLARD_YAMLDOC_H
#define BOLLARD_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values files are small; these limits only stop hostile or accidental monsters early. */
#define YAMLDOC_MAX_FILE_BYTES  ((size_t)8 << 20)   /* per input file */
#define YAMLDOC_MAX_NODES       500000u             /* nodes materialised per file, aliases included */
#define YAMLDOC_MAX_DEPTH       128u                /* nesting of mappings/sequences */
#define YAMLDOC_MAX_ARENA_BYTES ((size_t)768 << 20) /* everything a yamldoc_set may allocate */
#define YAMLDOC_MAX_SET_INDEX   65536u              /* --set a[N]: Helm's own limit */

enum yamldoc_kind {
    YAMLDOC_NULL,
    YAMLDOC_BOOL,
    YAMLDOC_INT,
    YAMLDOC_FLOAT,
    YAMLDOC_STRING,
    YAMLDOC_MAP,
    YAMLDOC_SEQ,
};

/* Where a value came from: the key that holds it (or the sequence item, or the document).
 * `source` is a file name or "--set[N]" (N = 1-based position among --set/--set-string flags);
 * line/column are 1-based; line 0 means "no position". */
struct yamldoc_pos {
    const char *source;
    uint32_t line;
    uint32_t column;
};

struct yamldoc_node;

struct yamldoc_entry {
    const char *key;
    struct yamldoc_node *value;
};

struct yamldoc_node {
    enum yamldoc_kind kind;
    struct yamldoc_pos pos;
    /* Scalars: the text as written (strings: the decoded value). NUL-terminated; NULL for
     * collections. */
    const char *text;
    size_t text_len;
    union {
        bool boolean;
        int64_t integer;
        double number;
    } as;
    /* MAP: `entries[count]`, in document order; SEQ: `items[count]`. */
    size_t count;
    size_t capacity;
    struct yamldoc_entry *entries;
    struct yamldoc_node **items;
    /* MAP: open-addressing index into entries (slot = entry index + 1), built once a map grows
     * past a handful of keys so hostile files with huge mappings stay linear. */
    uint32_t *index;
    size_t index_size;
};

/* A load failure (exit status 2 territory): `rule` is "io-error", "yaml-syntax", "yaml-limit",
 * "values-structure" or "set-syntax". */
struct yamldoc_error {
    struct yamldoc_pos pos;
    const char *rule;
    char message[320];
};

/* Reported while loading, not fatal: Helm's loader silently keeps the last of duplicate keys. */
struct yamldoc_duplicate {
    struct yamldoc_pos pos;   /* the later key, whose value wins */
    struct yamldoc_pos first; /* the earlier one, which Helm drops */
    const char *path;         /* dotted path of the key */
};

struct yamldoc_set;

struct yamldoc_set *yamldoc_set_new(void);
void yamldoc_set_free(struct yamldoc_set *set);

/* Copies a string into the set's arena (NULL when the arena budget is spent). */
const char *yamldoc_strdup(struct yamldoc_set *set, const char *text, size_t len);

/* Duplicate keys seen so far by every load on this set: the first 1000 are kept, all are counted. */
size_t yamldoc_duplicate_count(const struct yamldoc_set *set);
size_t yamldoc_duplicates_seen(const struct yamldoc_set *set);
const struct yamldoc_duplicate *yamldoc_duplicate_at(const struct yamldoc_set *set, size_t i);
/* A non-fatal note from loading, e.g. documents after the first one that Helm ignores. */
size_t yamldoc_note_count(const struct yamldoc_set *set);
const struct yamldoc_error *yamldoc_note_at(const struct yamldoc_set *set, size_t i);

/* Loads the first document of a values file ("-" = stdin). The top level must be a mapping (an
 * empty file is an empty mapping). Returns 0, or -1 with `err` filled. */
int yamldoc_load_file(struct yamldoc_set *set, const char *path, struct yamldoc_node **out,
                      struct yamldoc_error *err);
int yamldoc_load_buffer(struct yamldoc_set *set, const char *source, const char *data, size_t len,
                        struct yamldoc_node **out, struct yamldoc_error *err);

/* How an overlay replaces values: Helm merges -f files with OVERRIDE (an explicit null stays null)
 * and coalesces the result onto the chart defaults with COALESCE (a null removes a default key). */
enum yamldoc_merge_mode { YAMLDOC_MERGE_OVERRIDE, YAMLDOC_MERGE_COALESCE };

/* Deep merge: mappings merge key by key, everything else (sequences included) is replaced whole.
 * Returns the merged tree (sharing subtrees with the inputs), or NULL when the arena is spent. */
struct yamldoc_node *yamldoc_merge(struct yamldoc_set *set, struct yamldoc_node *base,
                                   struct yamldoc_node *overlay, enum yamldoc_merge_mode mode);

/* Applies one --set (or --set-string when `force_string`) argument, Helm strvals syntax: comma-
 * separated `a.b=c`, `a={x,y}`, `a[0].b=c`, backslash escapes. `set_number` is the 1-based
 * position of the flag, used for positions. Returns 0 or -1 with `err` filled (rule "set-syntax"). */
int yamldoc_apply_set(struct yamldoc_set *set, struct yamldoc_node **root, const char *arg, bool force_string,
                      unsigned set_number, struct yamldoc_error *err);

/* Builders (used by the loader, merge and --set, and by tests). All return NULL / -1 only when the
 * arena budget is spent. yamldoc_map_put replaces an existing key's value (the last one wins, as in
 * Helm) and hands the old value back through `replaced` when that is not NULL. */
struct yamldoc_node *yamldoc_node_new(struct yamldoc_set *set, enum yamldoc_kind kind,
                                      struct yamldoc_pos pos);
struct yamldoc_node *yamldoc_scalar_new(struct yamldoc_set *set, enum yamldoc_kind kind,
                                        struct yamldoc_pos pos, const char *text, size_t len);
int yamldoc_map_put(struct yamldoc_set *set, struct yamldoc_node *map, const char *key,
                    struct yamldoc_node *value, struct yamldoc_node **replaced);
int yamldoc_seq_push(struct yamldoc_set *set, struct yamldoc_node *seq, struct yamldoc_node *item);
/* A copy of the node itself (children shared) carrying `pos`. */
struct yamldoc_node *yamldoc_shallow_copy(struct yamldoc_set *set, const struct yamldoc_node *node,
                                          struct yamldoc_pos pos);

/* Lookup helpers. `path` is dotted ("api.resources.limits"); NULL when absent. */
struct yamldoc_node *yamldoc_map_get(const struct yamldoc_node *map, const char *key);
struct yamldoc_node *yamldoc_get_path(const struct yamldoc_node *root, const char *path);

/* Structural equality (numbers compare by value, 1 == 1.0); positions are ignored. */
bool yamldoc_equal(const struct yamldoc_node *a, const struct yamldoc_node *b);

const char *yamldoc_kind_name(enum yamldoc_kind kind);

#endif
