/* worker: `bollard worker` (CONTRACT §2). One process, no HTTP port: an outbox relay thread
 * (pkg/relay) feeding a Redis Stream, and the main thread consuming it with a consumer group and
 * delivering signed webhooks (pkg/delivery). See pkg/worker/README.md for the design.
 *
 * The Redis names below are part of the deployment's interface: the API reads them for /metrics and
 * operators read them with redis-cli. Keep them stable. They share the hash tag {webhooks}, so they
 * live in one Redis Cluster slot (the Lua scripts touch several of them at once). */
#ifndef BOLLARD_WORKER_H
#define BOLLARD_WORKER_H

#include "config/config.h"

/* Jobs waiting for delivery: one stream entry per (event, endpoint). Fields: event_id, endpoint_id,
 * type, attempt (1-based), body (the exact bytes POSTed and signed).
 *   queue depth:        XINFO GROUPS → "lag" of WORKER_GROUP (entries not yet read), or XLEN
 *                       (XLEN also counts read-and-acked entries not trimmed yet, at most ~100/node)
 *   in delivery:        XPENDING WORKER_STREAM_JOBS WORKER_GROUP → count
 *   oldest pending age: the same reply's smallest id: now − its millisecond part */
#define WORKER_STREAM_JOBS "bollard:{webhooks}:jobs"
/* The consumer group every worker reads WORKER_STREAM_JOBS with. */
#define WORKER_GROUP "deliverers"
/* Failed attempts waiting for their next try: sorted set scored by due time (Unix ms), members are
 * JSON jobs. ZCARD = retries scheduled. */
#define WORKER_ZSET_RETRY "bollard:{webhooks}:retry"
/* Dead letters: jobs that exhausted WEBHOOK_MAX_ATTEMPTS or failed permanently (4xx other than
 * 408/429, refused target, invalid URL). Fields: event_id, endpoint_id, type, attempts, last_status,
 * last_error, failed_at_ms, consumer, body. Capped near WORKER_DEAD_MAXLEN (XADD MAXLEN ~); every
 * dead letter is also a row in the webhook_failures table. XLEN = dead-letter count. */
#define WORKER_STREAM_DEAD "bollard:{webhooks}:dead"
#define WORKER_DEAD_MAXLEN 10000
/* Prefix of the relay's short-lived idempotency keys (one per outbox event in a publishing
 * transaction; removed after COMMIT, otherwise expire after WORKER_DEDUPE_TTL_MS). */
#define WORKER_DEDUPE_PREFIX "bollard:{webhooks}:published:"
#define WORKER_DEDUPE_TTL_MS (6L * 3600 * 1000)
/* The relay stops publishing while stream + retry set hold this many jobs (events wait in the
 * outbox table meanwhile), so Redis memory stays bounded. */
#define WORKER_BACKLOG_MAX 100000L

/* `bollard worker [--help]`. Returns the process exit status: 0 after SIGTERM/SIGINT (in-flight
 * deliveries finished or handed back), 1 on a start-up failure or a second signal, 64 on usage. */
int worker_main(const struct config *cfg, int argc, char **argv);

#endif
