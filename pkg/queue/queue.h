/* queue: the webhook job queue between the outbox relay and the deliverers.
 *
 * The Redis names below are part of the deployment's interface: the worker writes them, the API reads
 * them for /metrics and operators read them with redis-cli. Keep them stable. They share the hash tag
 * {webhooks}, so they live in one Redis Cluster slot (the Lua scripts touch several of them at once). */
#ifndef BOLLARD_QUEUE_H
#define BOLLARD_QUEUE_H

/* Jobs waiting for delivery: one stream entry per (event, endpoint). Fields: event_id, endpoint_id,
 * type, attempt (1-based), body (the exact bytes POSTed and signed).
 *   queue depth:        XINFO GROUPS → "lag" of QUEUE_GROUP (entries not yet read), or XLEN
 *                       (XLEN also counts read-and-acked entries not trimmed yet, at most ~100/node)
 *   in delivery:        XPENDING QUEUE_STREAM_JOBS QUEUE_GROUP → count
 *   oldest pending age: the same reply's smallest id: now − its millisecond part */
#define QUEUE_STREAM_JOBS "bollard:{webhooks}:jobs"
/* The consumer group every worker reads QUEUE_STREAM_JOBS with. */
#define QUEUE_GROUP "deliverers"
/* Failed attempts waiting for their next try: sorted set scored by due time (Unix ms), members are
 * JSON jobs. ZCARD = retries scheduled. */
#define QUEUE_ZSET_RETRY "bollard:{webhooks}:retry"
/* Dead letters: jobs that exhausted WEBHOOK_MAX_ATTEMPTS or failed permanently (4xx other than
 * 408/429, refused target, invalid URL). Fields: event_id, endpoint_id, type, attempts, last_status,
 * last_error, failed_at_ms, consumer, body. Capped near QUEUE_DEAD_MAXLEN (XADD MAXLEN ~); every
 * dead letter is also a row in the webhook_failures table. XLEN = dead-letter count. */
#define QUEUE_STREAM_DEAD "bollard:{webhooks}:dead"
#define QUEUE_DEAD_MAXLEN 10000
/* Prefix of the relay's short-lived idempotency keys (one per outbox event in a publishing
 * transaction; removed after COMMIT, otherwise expire after QUEUE_DEDUPE_TTL_MS). */
#define QUEUE_DEDUPE_PREFIX "bollard:{webhooks}:published:"
#define QUEUE_DEDUPE_TTL_MS (6L * 3600 * 1000)
/* The relay stops publishing while stream + retry set hold this many jobs (events wait in the
 * outbox table meanwhile), so Redis memory stays bounded. */
#define QUEUE_BACKLOG_MAX 100000L

/* ==== figures: the queue's size, read for /metrics (pkg/queue/figures.c) ====
 * Asynchronous, on an event loop's Redis connection (pkg/redisconn). Self-contained section. */
#include <stdbool.h>

struct redisconn;

/* What one read found. With ok false (Redis unreachable, or a command failed) the counts are 0. */
struct queue_figures {
    bool ok;
    long long depth;                 /* XLEN QUEUE_STREAM_JOBS */
    long long pending;               /* XPENDING: read by a worker, not yet acknowledged */
    long long oldest_pending_age_ms; /* age of the oldest of them, 0 when none */
    long long retries;               /* ZCARD QUEUE_ZSET_RETRY */
    long long dead;                  /* XLEN QUEUE_STREAM_DEAD */
};

/* Called once on the loop thread with the figures (valid during the call only). */
typedef void (*queue_figures_cb)(void *arg, const struct queue_figures *figures);
struct queue_figures_read;

/* Starts a read; returns its handle, or NULL when nothing could be sent (not connected, out of
 * memory): then the callback is not called and the caller reports the queue as not read. */
struct queue_figures_read *queue_figures_read(struct redisconn *rc, queue_figures_cb cb, void *arg);
/* The caller lost interest: the callback will not run and the read's memory is released. */
void queue_figures_cancel(struct queue_figures_read *read);

#endif
