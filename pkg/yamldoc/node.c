/* yamldoc: the arena, node builders, mapping index, lookups and structural equality. */
#include "yamldoc/yamldoc.h"
#include "yamldoc/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define ARENA_CHUNK_BYTES ((size_t)64 << 10)
#define ARENA_ALIGN       16u
/* Below this many keys a linear scan is faster than hashing. */
#define MAP_INDEX_MIN_KEYS 8u
/* A report with thousands of duplicate keys helps nobody; the count is still exact. */
#define MAX_STORED_DUPLICATES 1000u
#define MAX_STORED_NOTES      100u

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct yamldoc_set *yamldoc_set_new(void)
{
    return calloc(1, sizeof(struct yamldoc_set));
}

void yamldoc_set_free(struct yamldoc_set *set)
{
    if (set == NULL)
        return;
    struct arena_chunk *chunk = set->chunks;
    while (chunk != NULL) {
        struct arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(set->duplicates);
    free(set->notes);
    free(set);
}

void *yamldoc_alloc(struct yamldoc_set *set, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    struct arena_chunk *chunk = set->chunks;
    if (chunk == NULL || chunk->size - chunk->used < size) {
        size_t chunk_size = size > ARENA_CHUNK_BYTES / 4 ? size : ARENA_CHUNK_BYTES;
        if (set->arena_bytes + chunk_size > YAMLDOC_MAX_ARENA_BYTES)
            return NULL;
        struct arena_chunk *fresh = malloc(sizeof(*fresh) + chunk_size);
        if (fresh == NULL)
            return NULL;
        fresh->size = chunk_size;
        fresh->used = 0;
        set->arena_bytes += chunk_size;
        if (chunk != NULL && size > ARENA_CHUNK_BYTES / 4) {
            /* A big one-off block goes behind the current chunk so its free tail stays usable. */
            fresh->next = chunk->next;
            chunk->next = fresh;
        } else {
            fresh->next = chunk;
            set->chunks = fresh;
        }
        chunk = fresh;
    }
    void *block = chunk->data + chunk->used;
    chunk->used += size;
    memset(block, 0, size);
    return block;
}

const char *yamldoc_strdup(struct yamldoc_set *set, const char *text, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *copy = yamldoc_alloc(set, len + 1);
    if (copy == NULL)
        return NULL;
    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

int yamldoc_record_duplicate(struct yamldoc_set *set, const struct yamldoc_duplicate *dup)
{
    set->duplicates_seen++;
    if (set->duplicate_count >= MAX_STORED_DUPLICATES)
        return 0;
    if (set->duplicate_count == set->duplicate_capacity) {
        size_t capacity = set->duplicate_capacity ? set->duplicate_capacity * 2 : 16;
        struct yamldoc_duplicate *grown = realloc(set->duplicates, capacity * sizeof(*grown));
        if (grown == NULL)
            return -1;
        set->duplicates = grown;
        set->duplicate_capacity = capacity;
    }
    set->duplicates[set->duplicate_count++] = *dup;
    return 0;
}

int yamldoc_record_note(struct yamldoc_set *set, const struct yamldoc_error *note)
{
    if (set->note_count >= MAX_STORED_NOTES)
        return 0;
    if (set->note_count == set->note_capacity) {
        size_t capacity = set->note_capacity ? set->note_capacity * 2 : 4;
        struct yamldoc_error *grown = realloc(set->notes, capacity * sizeof(*grown));
        if (grown == NULL)
            return -1;
        set->notes = grown;
        set->note_capacity = capacity;
    }
    set->notes[set->note_count++] = *note;
    return 0;
}

size_t yamldoc_duplicate_count(const struct yamldoc_set *set)
{
    return set->duplicate_count;
}

size_t yamldoc_duplicates_seen(const struct yamldoc_set *set)
{
    return set->duplicates_seen;
}

const struct yamldoc_duplicate *yamldoc_duplicate_at(const struct yamldoc_set *set, size_t i)
{
    return i < set->duplicate_count ? &set->duplicates[i] : NULL;
}

size_t yamldoc_note_count(const struct yamldoc_set *set)
{
    return set->note_count;
}

const struct yamldoc_error *yamldoc_note_at(const struct yamldoc_set *set, size_t i)
{
    return i < set->note_count ? &set->notes[i] : NULL;
}

struct yamldoc_node *yamldoc_node_new(struct yamldoc_set *set, enum yamldoc_kind kind, struct yamldoc_pos pos)
{
    struct yamldoc_node *node = yamldoc_alloc(set, sizeof(*node));
    if (node == NULL)
        return NULL;
    node->kind = kind;
    node->pos = pos;
    return node;
}

struct yamldoc_node *yamldoc_scalar_new(struct yamldoc_set *set, enum yamldoc_kind kind,
                                        struct yamldoc_pos pos, const char *text, size_t len)
{
    struct yamldoc_node *node = yamldoc_node_new(set, kind, pos);
    if (node == NULL)
        return NULL;
    node->text = yamldoc_strdup(set, text, len);
    if (node->text == NULL)
        return NULL;
    node->text_len = len;
    return node;
}

struct yamldoc_node *yamldoc_shallow_copy(struct yamldoc_set *set, const struct yamldoc_node *node,
                                          struct yamldoc_pos pos)
{
    struct yamldoc_node *copy = yamldoc_alloc(set, sizeof(*copy));
    if (copy == NULL)
        return NULL;
    *copy = *node;
    copy->pos = pos;
    /* The copy gets arrays of its own so that later puts never write into the original. */
    copy->entries = NULL;
    copy->items = NULL;
    copy->index = NULL;
    copy->index_size = 0;
    copy->count = 0;
    copy->capacity = 0;
    if (node->kind == YAMLDOC_MAP) {
        for (size_t i = 0; i < node->count; i++)
            if (yamldoc_map_put(set, copy, node->entries[i].key, node->entries[i].value, NULL) != 0)
                return NULL;
    } else if (node->kind == YAMLDOC_SEQ) {
        for (size_t i = 0; i < node->count; i++)
            if (yamldoc_seq_push(set, copy, node->items[i]) != 0)
                return NULL;
    }
    return copy;
}

static uint32_t hash_key(const char *key)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        hash ^= *p;
        hash *= 16777619u;
    }
    return hash;
}

static int map_rebuild_index(struct yamldoc_set *set, struct yamldoc_node *map)
{
    size_t size = 16;
    while (size < map->capacity * 2)
        size *= 2;
    uint32_t *index = yamldoc_alloc(set, size * sizeof(*index));
    if (index == NULL)
        return -1;
    for (size_t i = 0; i < map->count; i++) {
        size_t slot = hash_key(map->entries[i].key) & (size - 1);
        while (index[slot] != 0)
            slot = (slot + 1) & (size - 1);
        index[slot] = (uint32_t)(i + 1);
    }
    map->index = index;
    map->index_size = size;
    return 0;
}

static ssize_t map_find(const struct yamldoc_node *map, const char *key)
{
    if (map->index != NULL) {
        size_t slot = hash_key(key) & (map->index_size - 1);
        while (map->index[slot] != 0) {
            size_t entry = map->index[slot] - 1;
            if (strcmp(map->entries[entry].key, key) == 0)
                return (ssize_t)entry;
            slot = (slot + 1) & (map->index_size - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->entries[i].key, key) == 0)
            return (ssize_t)i;
    return -1;
}

int yamldoc_map_put(struct yamldoc_set *set, struct yamldoc_node *map, const char *key,
                    struct yamldoc_node *value, struct yamldoc_node **replaced)
{
    if (replaced != NULL)
        *replaced = NULL;
    ssize_t found = map_find(map, key);
    if (found >= 0) {
        if (replaced != NULL)
            *replaced = map->entries[found].value;
        map->entries[found].value = value;
        return 0;
    }
    if (map->count >= UINT32_MAX - 1)
        return -1;
    bool grew = false;
    if (map->count == map->capacity) {
        size_t capacity = map->capacity ? map->capacity * 2 : 4;
        struct yamldoc_entry *entries = yamldoc_alloc(set, capacity * sizeof(*entries));
        if (entries == NULL)
            return -1;
        if (map->count > 0)
            memcpy(entries, map->entries, map->count * sizeof(*entries));
        map->entries = entries;
        map->capacity = capacity;
        grew = true;
    }
    map->entries[map->count].key = key;
    map->entries[map->count].value = value;
    map->count++;
    if (map->count >= MAP_INDEX_MIN_KEYS) {
        if (grew || map->index == NULL)
            return map_rebuild_index(set, map);
        size_t slot = hash_key(key) & (map->index_size - 1);
        while (map->index[slot] != 0)
            slot = (slot + 1) & (map->index_size - 1);
        map->index[slot] = (uint32_t)map->count;
    }
    return 0;
}

int yamldoc_seq_push(struct yamldoc_set *set, struct yamldoc_node *seq, struct yamldoc_node *item)
{
    if (seq->count == seq->capacity) {
        size_t capacity = seq->capacity ? seq->capacity * 2 : 4;
        struct yamldoc_node **items = yamldoc_alloc(set, capacity * sizeof(*items));
        if (items == NULL)
            return -1;
        if (seq->count > 0)
            memcpy(items, seq->items, seq->count * sizeof(*items));
        seq->items = items;
        seq->capacity = capacity;
    }
    seq->items[seq->count++] = item;
    return 0;
}

struct yamldoc_node *yamldoc_map_get(const struct yamldoc_node *map, const char *key)
{
    if (map == NULL || map->kind != YAMLDOC_MAP)
        return NULL;
    ssize_t found = map_find(map, key);
    return found >= 0 ? map->entries[found].value : NULL;
}

struct yamldoc_node *yamldoc_get_path(const struct yamldoc_node *root, const char *path)
{
    char segment[256];
    const struct yamldoc_node *node = root;
    const char *p = path;
    while (node != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= sizeof(segment))
            return NULL;
        memcpy(segment, p, len);
        segment[len] = '\0';
        node = yamldoc_map_get(node, segment);
        p += len;
        if (*p == '.')
            p++;
    }
    return (struct yamldoc_node *)node;
}

static bool is_number(const struct yamldoc_node *node)
{
    return node->kind == YAMLDOC_INT || node->kind == YAMLDOC_FLOAT;
}

static bool equal_at_depth(const struct yamldoc_node *a, const struct yamldoc_node *b, unsigned depth)
{
    if (a == b)
        return true;
    if (depth > 4 * YAMLDOC_MAX_DEPTH)
        return false;
    if (is_number(a) && is_number(b)) {
        if (a->kind == YAMLDOC_INT && b->kind == YAMLDOC_INT)
            return a->as.integer == b->as.integer;
        double x = a->kind == YAMLDOC_INT ? (double)a->as.integer : a->as.number;
        double y = b->kind == YAMLDOC_INT ? (double)b->as.integer : b->as.number;
        return x == y;
    }
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case YAMLDOC_NULL:
        return true;
    case YAMLDOC_BOOL:
        return a->as.boolean == b->as.boolean;
    case YAMLDOC_STRING:
        return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
    case YAMLDOC_MAP:
        if (a->count != b->count)
            return false;
        for (size_t i = 0; i < a->count; i++) {
            const struct yamldoc_node *other = yamldoc_map_get(b, a->entries[i].key);
            if (other == NULL || !equal_at_depth(a->entries[i].value, other, depth + 1))
                return false;
        }
        return true;
    case YAMLDOC_SEQ:
        if (a->count != b->count)
            return false;
        for (size_t i = 0; i < a->count; i++)
            if (!equal_at_depth(a->items[i], b->items[i], depth + 1))
                return false;
        return true;
    default:
        return false;
    }
}

bool yamldoc_equal(const struct yamldoc_node *a, const struct yamldoc_node *b)
{
    return equal_at_depth(a, b, 0);
}

const char *yamldoc_kind_name(enum yamldoc_kind kind)
{
    switch (kind) {
    case YAMLDOC_NULL:
        return "null";
    case YAMLDOC_BOOL:
        return "boolean";
    case YAMLDOC_INT:
        return "integer";
    case YAMLDOC_FLOAT:
        return "number";
    case YAMLDOC_STRING:
        return "string";
    case YAMLDOC_MAP:
        return "object";
    case YAMLDOC_SEQ:
        return "array";
    }
    return "unknown";
}
