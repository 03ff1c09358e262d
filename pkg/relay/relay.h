/* relay: the transactional outbox's publishing half. Moves committed outbox rows to the Redis jobs
 * stream, one job per (event, matching webhook endpoint), exactly once per row in the normal case
 * and at least once across crashes, with any number of relays running at the same time:
 *
 *   BEGIN
 *   SELECT … FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED
 *   EVALSHA publish: per row, SET <dedupe_prefix><event_id> NX PX ttl and, only if it was set,
 *                    XADD one job per endpoint — atomically, so a row is either fully published or
 *                    not at all, and publishing it again (after a crash before COMMIT) does nothing
 *   UPDATE outbox SET published_at = now() WHERE id = ANY(…)
 *   COMMIT, then UNLINK the dedupe keys (they only guard the window before COMMIT)
 *
 * The scan is "every unpublished row", never "rows after the last id seen", so a row whose
 * transaction commits late is picked up by the next batch; SKIP LOCKED lets several relays share the
 * rows without waiting on each other. With Redis down nothing is marked published: rows wait in the
 * table. Above backlog_max queued jobs (stream + retries) the relay pauses, so Redis memory stays
 * bounded while events wait in PostgreSQL. Blocking calls, each bounded: run it on its own thread. */
#ifndef BOLLARD_RELAY_H
#define BOLLARD_RELAY_H

#include <stdbool.h>
#include <stddef.h>

struct relay_config {
    const char *database_url;
    const char *redis_url;
    const char *application_name;
    int db_connect_timeout_ms;
    int db_query_timeout_ms; /* per statement */
    int redis_timeout_ms;    /* per command */
    const char *stream_key;  /* jobs stream */
    const char *retry_key;   /* retry sorted set (counted for the backlog) */
    const char *dedupe_prefix;
    int batch_size;     /* outbox rows per transaction */
    long backlog_max;   /* pause publishing at this many queued jobs */
    long dedupe_ttl_ms; /* lifetime of a dedupe key left behind by a crash */
    int retention_days; /* published rows older than this are deleted by relay_prune */
};

enum relay_status {
    RELAY_ERR_DB = -1,      /* PostgreSQL unavailable or the statement failed */
    RELAY_ERR_REDIS = -2,   /* Redis unavailable: rows stay unpublished */
    RELAY_BACKLOG = -3,     /* too many queued jobs: rows stay unpublished for now */
    RELAY_ERR_SCHEMA = -4,  /* the database schema is not (or no longer) compatible */
    RELAY_ERR_PUBLISH = -5, /* Redis is up but refused the publish script: a bug, not an outage */
};

struct relay;

struct relay *relay_new(const struct relay_config *cfg);
void relay_free(struct relay *r);

/* Checks the schema compatibility rule (CONTRACT §4) against the database; false with a reason. */
bool relay_schema_ok(struct relay *r, char *why, size_t cap);
/* One batch. Returns the number of outbox rows published (0: nothing to do), or a relay_status with
 * `why` set. *jobs (may be NULL) receives the number of stream entries added. */
int relay_step(struct relay *r, long *jobs, char *why, size_t cap);
/* Deletes up to 1,000 published rows older than the retention among the oldest ids (bounded work
 * per call). Returns the number deleted, or -1. */
long relay_prune(struct relay *r, char *why, size_t cap);

#endif
