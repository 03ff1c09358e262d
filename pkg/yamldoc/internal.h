/* Private to pkg/yamldoc: the set's layout and the helpers its .c files share. */
#ifndef BOLLARD_YAMLDOC_INTERNAL_H
#define BOLLARD_YAMLDOC_INTERNAL_H

#include "yamldoc/yamldoc.h"

struct arena_chunk;

struct yamldoc_set {
    struct arena_chunk *chunks;
    size_t arena_bytes;
    struct yamldoc_duplicate *duplicates;
    size_t duplicate_count;
    size_t duplicate_capacity;
    size_t duplicates_seen;
    struct yamldoc_error *notes;
    size_t note_count;
    size_t note_capacity;
};

/* Zeroed, 16-byte aligned arena memory; NULL once YAMLDOC_MAX_ARENA_BYTES would be exceeded. */
void *yamldoc_alloc(struct yamldoc_set *set, size_t size);
int yamldoc_record_duplicate(struct yamldoc_set *set, const struct yamldoc_duplicate *dup);
int yamldoc_record_note(struct yamldoc_set *set, const struct yamldoc_error *note);

#endif
