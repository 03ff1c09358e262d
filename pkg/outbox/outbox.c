/* The calls of outbox.h, dispatched to the dialect (pg.c or sqlite.c). */
#include "outbox/internal.h"

#include <string.h>

void outbox_free(struct outbox *o)
{
    if (o != NULL)
        o->ops->free(o);
}

bool outbox_schema_ok(struct outbox *o, char *why, size_t cap)
{
    return o->ops->schema_ok(o, why, cap);
}

enum outbox_status outbox_read(struct outbox *o, long long after, int limit, struct outbox_rows *rows,
                               char *why, size_t cap)
{
    memset(rows, 0, sizeof(*rows));
    if (limit < 1 || limit > OUTBOX_BATCH_MAX)
        limit = OUTBOX_BATCH_MAX;
    return o->ops->read(o, after, limit, rows, why, cap);
}

void outbox_rows_free(struct outbox *o, struct outbox_rows *rows)
{
    o->ops->rows_free(rows);
    memset(rows, 0, sizeof(*rows));
}

bool outbox_mark(struct outbox *o, const long long *ids, int n, char *why, size_t cap)
{
    return n == 0 || o->ops->mark(o, ids, n, why, cap);
}

bool outbox_commit(struct outbox *o, char *why, size_t cap)
{
    return o->ops->commit(o, why, cap);
}

void outbox_rollback(struct outbox *o)
{
    o->ops->rollback(o);
}

long outbox_prune(struct outbox *o, char *why, size_t cap)
{
    return o->ops->prune(o, why, cap);
}

bool outbox_endpoints(struct outbox *o, const char *const *ids, int n, outbox_endpoint_fn fn, void *user,
                      char *why, size_t cap)
{
    return n == 0 || o->ops->endpoints(o, ids, n, fn, user, why, cap);
}

bool outbox_record_failure(struct outbox *o, const char *event_id, const char *endpoint_id, int attempts,
                           long status, const char *error, char *why, size_t cap)
{
    return o->ops->record_failure(o, event_id, endpoint_id, attempts, status, error, why, cap);
}

bool outbox_track(struct outbox *o, const struct queue_event *events, int n, long long seq, char *why,
                  size_t cap)
{
    return n == 0 || o->ops->track == NULL || o->ops->track(o, events, n, seq, why, cap);
}

bool outbox_settled(struct outbox *o, const char *const *event_ids, const char *const *endpoint_ids, int n,
                    char *why, size_t cap)
{
    return n == 0 || o->ops->settled == NULL || o->ops->settled(o, event_ids, endpoint_ids, n, why, cap);
}

bool outbox_tracked_max(struct outbox *o, long long *seq, long long *id, char *why, size_t cap)
{
    *seq = 0;
    *id = 0;
    return o->ops->tracked_max == NULL || o->ops->tracked_max(o, seq, id, why, cap);
}

enum outbox_status outbox_tracked_read(struct outbox *o, long long after, long long upto, int limit,
                                       struct outbox_rows *rows, char *why, size_t cap)
{
    memset(rows, 0, sizeof(*rows));
    if (limit < 1 || limit > OUTBOX_TRACKED_BATCH)
        limit = OUTBOX_TRACKED_BATCH;
    if (o->ops->tracked_read == NULL)
        return OUTBOX_OK;
    return o->ops->tracked_read(o, after, upto, limit, rows, why, cap);
}
