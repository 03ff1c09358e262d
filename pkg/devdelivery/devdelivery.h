/* devdelivery: webhook delivery inside `bollard dev` — the worker's job without Redis (CONTRACT §7).
 *
 * A thread reads unpublished rows of the SQLite file's outbox table in id order, makes one delivery
 * per (event, webhook endpoint of the event's user listening for its type), and sends them through
 * pkg/delivery: the same envelope, X-Bollard-Signature, event-id header, SSRF policy after DNS
 * resolution, timeouts, outcome rules, backoff with jitter and WEBHOOK_MAX_ATTEMPTS as
 * `bollard worker` (delivery_judge). A dead letter is a webhook_failures row. A row's published_at
 * is stamped once every delivery of it has settled (delivered, dead-lettered, or its endpoint was
 * deleted), so retries wait in memory and a row still unsettled when the process stops is delivered
 * again on the next start: at least once, duplicates only across a stop, as with the worker.
 *
 * Bounded: at most DEVDELIVERY_EVENTS_MAX rows and DEVDELIVERY_JOBS_MAX deliveries in memory (more
 * rows wait in the table), WORKER_CONCURRENCY attempts in flight. SQLite allots outbox ids in commit
 * order (one writer at a time, AUTOINCREMENT), so an id cursor cannot skip a row committed late. */
#ifndef BOLLARD_DEVDELIVERY_H
#define BOLLARD_DEVDELIVERY_H

#include "config/config.h"

#define DEVDELIVERY_EVENTS_MAX 256
#define DEVDELIVERY_JOBS_MAX   1024
#define DEVDELIVERY_STOP_MS    5000 /* longest wait for in-flight attempts at stop */

struct devdelivery;

/* Opens the SQLite file at `path` (already migrated) and starts the delivery thread, with every
 * signal blocked in it (the server's main thread takes them). Call before any other thread that
 * uses libcurl exists: it runs curl's global set-up. NULL on failure (logged). */
struct devdelivery *devdelivery_start(const struct config *cfg, const char *path);
/* Stops scanning, lets attempts in flight finish for up to min(SHUTDOWN_TIMEOUT_SECONDS,
 * DEVDELIVERY_STOP_MS), aborts the rest (their rows stay unpublished), joins and frees. NULL is a
 * no-op. */
void devdelivery_stop(struct devdelivery *d);

#endif
