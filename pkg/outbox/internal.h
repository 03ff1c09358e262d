/* outbox internals: the dialect table behind outbox.h (not part of the public surface). */
#ifndef BOLLARD_OUTBOX_INTERNAL_H
#define BOLLARD_OUTBOX_INTERNAL_H

#include "outbox/outbox.h"

struct outbox_ops {
    bool (*schema_ok)(struct outbox *o, char *why, size_t cap);
    enum outbox_status (*read)(struct outbox *o, long long after, int limit, struct outbox_rows *rows,
                               char *why, size_t cap);
    void (*rows_free)(struct outbox_rows *rows);
    bool (*mark)(struct outbox *o, const long long *ids, int n, char *why, size_t cap);
    bool (*commit)(struct outbox *o, char *why, size_t cap);
    void (*rollback)(struct outbox *o);
    long (*prune)(struct outbox *o, char *why, size_t cap);
    bool (*endpoints)(struct outbox *o, const char *const *ids, int n, outbox_endpoint_fn fn, void *user,
                      char *why, size_t cap);
    bool (*record_failure)(struct outbox *o, const char *event_id, const char *endpoint_id, int attempts,
                           long status, const char *error, char *why, size_t cap);
    /* Delivery tracking; NULL in a dialect that tracks nothing (outbox.c answers for it). */
    bool (*track)(struct outbox *o, const struct queue_event *events, int n, long long seq, char *why,
                  size_t cap);
    bool (*settled)(struct outbox *o, const char *const *event_ids, const char *const *endpoint_ids, int n,
                    char *why, size_t cap);
    bool (*tracked_max)(struct outbox *o, long long *seq, long long *id, char *why, size_t cap);
    enum outbox_status (*tracked_read)(struct outbox *o, long long after, long long upto, int limit,
                                       struct outbox_rows *rows, char *why, size_t cap);
    void (*free)(struct outbox *o);
};

/* First member of each dialect's struct. */
struct outbox {
    const struct outbox_ops *ops;
};

#endif
