/* outbox: the database side of the event pipeline — the transactional outbox's rows (read, stamped
 * published, pruned after OUTBOX_RETENTION_DAYS), the endpoints they go to (URL + signing secret, read
 * at delivery time: secrets never go to the queue) and the dead-letter record (a webhook_failures row).
 * One interface, two dialects, each statement written once:
 *   outbox_pg_new      PostgreSQL over pkg/syncconn (`bollard worker`). The read is
 *                      SELECT … FOR UPDATE SKIP LOCKED of every unpublished row inside a transaction
 *                      (ids are not handed out in commit order, so no cursor), ended by outbox_commit.
 *   outbox_sqlite_new  the SQLite file of `bollard dev`. AUTOINCREMENT ids come in commit order, so the
 *                      read is "unpublished rows after the last one taken"; no transaction is held.
 * Both build the envelope receivers get in SQL, once per dialect: its bytes are what every attempt signs.
 * Deliveries in flight (PostgreSQL only; table outbox_deliveries): the relay tracks each (event, endpoint)
 * it published with the queue's loss-marker value (outbox_track), the deliverer deletes the row once the
 * outcome is recorded (outbox_settled), and after a Redis data loss the relay reads them back in id order
 * (outbox_tracked_max, outbox_tracked_read) to re-enqueue them. SQLite tracks nothing: dev's queue is in
 * process and its rows stay unpublished until their jobs settled.
 * Blocking calls, each bounded; one instance per thread. */
#ifndef BOLLARD_OUTBOX_H
#define BOLLARD_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"

#define OUTBOX_RETENTION_DAYS 7    /* a published row is kept this long */
#define OUTBOX_BATCH_MAX      1000 /* rows per read at most */

/* Rows of one read; the strings belong to the set until outbox_rows_free. */
struct outbox_rows {
    int n;
    struct queue_event *events;
    void *result; /* the dialect's storage */
};

enum outbox_status {
    OUTBOX_OK = 0,
    OUTBOX_ERR_DB,     /* database unavailable or the statement failed */
    OUTBOX_ERR_SCHEMA, /* the tables are missing: the schema is not (or no longer) compatible */
};

struct outbox_pg_config {
    const char *url;
    const char *application_name;
    int connect_timeout_ms;
    int query_timeout_ms;       /* per statement */
    int idle_in_transaction_ms; /* frees a read's row locks if this process hangs before its commit */
};

struct outbox;

/* PostgreSQL (copies what it needs; never connects here). NULL on out of memory. */
struct outbox *outbox_pg_new(const struct outbox_pg_config *cfg);
/* The SQLite file at `path` (already migrated); NULL with a reason. */
struct outbox *outbox_sqlite_new(const char *path, char *why, size_t cap);
/* Closes and frees (NULL is a no-op). */
void outbox_free(struct outbox *o);

/* The schema compatibility rule (CONTRACT §4) holds; false with a reason. */
bool outbox_schema_ok(struct outbox *o, char *why, size_t cap);
/* Up to `limit` unpublished rows in id order with their envelope and listening endpoints; `after` is the
 * last row id already taken (the SQLite scan's cursor; PostgreSQL's scan needs none). PostgreSQL opens a
 * transaction that outbox_commit or outbox_rollback ends (also when this fails). */
enum outbox_status outbox_read(struct outbox *o, long long after, int limit, struct outbox_rows *rows,
                               char *why, size_t cap);
/* Frees a read's rows. */
void outbox_rows_free(struct outbox *o, struct outbox_rows *rows);
/* Stamps published_at on these rows (within the read's transaction where there is one). */
bool outbox_mark(struct outbox *o, const long long *ids, int n, char *why, size_t cap);
/* Ends the read's transaction; false: maybe committed, maybe not. */
bool outbox_commit(struct outbox *o, char *why, size_t cap);
/* Ends it without publishing anything. */
void outbox_rollback(struct outbox *o);
/* Deletes up to 1,000 published rows past the retention among the oldest ids (bounded work per call).
 * Returns the number deleted, or -1. */
long outbox_prune(struct outbox *o, char *why, size_t cap);

#define OUTBOX_TRACKED_BATCH 500 /* tracked deliveries per outbox_tracked_read at most */

/* Records one delivery per (row, endpoint in its list) of these rows just published, with the queue's
 * loss-marker value `seq`, within the read's transaction (a delivery already tracked keeps its row).
 * SQLite: nothing to do, true. */
bool outbox_track(struct outbox *o, const struct queue_event *events, int n, long long seq, char *why,
                  size_t cap);
/* Forgets tracked deliveries whose outcome is recorded (delivered, endpoint gone, or dead-lettered):
 * event_ids[i] with endpoint_ids[i]. A row not found is fine. SQLite: true. */
bool outbox_settled(struct outbox *o, const char *const *event_ids, const char *const *endpoint_ids, int n,
                    char *why, size_t cap);
/* The highest redis_seq and the highest id among tracked deliveries (0 and 0 when none). */
bool outbox_tracked_max(struct outbox *o, long long *seq, long long *id, char *why, size_t cap);
/* Up to `limit` (≤ OUTBOX_TRACKED_BATCH) tracked deliveries with after < id ≤ upto, in id order, each as
 * an event whose row_id is the delivery's id and whose endpoints is its one endpoint id. Deliveries
 * whose outbox row is gone are not returned. Needs no transaction. */
enum outbox_status outbox_tracked_read(struct outbox *o, long long after, long long upto, int limit,
                                       struct outbox_rows *rows, char *why, size_t cap);

/* Called once per endpoint found (strings valid during the call only). */
typedef void (*outbox_endpoint_fn)(void *user, const char *id, const char *url, const char *secret);
/* Looks up these endpoint ids; an id not reported does not exist. False (nothing known) on failure. */
bool outbox_endpoints(struct outbox *o, const char *const *ids, int n, outbox_endpoint_fn fn, void *user,
                      char *why, size_t cap);
/* The webhook_failures row of a dead letter; at most one per (event, endpoint). status 0: none. */
bool outbox_record_failure(struct outbox *o, const char *event_id, const char *endpoint_id, int attempts,
                           long status, const char *error, char *why, size_t cap);

#endif
