/* relay: the transactional outbox's publishing half, on a thread of its own. Moves committed outbox rows
 * (pkg/outbox) into the job queue (pkg/queue), one job per (event, matching webhook endpoint), at least
 * once across crashes, with any number of relays running at the same time. One step:
 *
 *   outbox_read     unpublished rows after the cursor (PostgreSQL: every unpublished row, FOR UPDATE
 *                   SKIP LOCKED, in a transaction; SQLite: after the last row taken, ids being in commit
 *                   order)
 *   queue_publish   the rows (Redis: atomically, deduplicated; memory: as many as it has room for)
 *   queue_durable   the rows that may be stamped now (Redis: the ones just published; memory: the ones
 *                   whose jobs all settled)
 *   outbox_track    each (event, endpoint) published, with the loss-marker value the publish set
 *                   (PostgreSQL only; the deliverer deletes the row once the outcome is recorded)
 *   outbox_mark, outbox_commit, queue_stamped
 *
 * Redis data loss (restart without persistence, FLUSHALL, fail-over to a lagging replica): every
 * RECONCILE_MS, and atomically in every publish, the queue's loss marker is compared with the highest
 * value a tracked delivery carries. Below it, Redis lost writes: the relay publishes nothing new and
 * re-enqueues every tracked delivery (id ≤ the highest at detection) in batches of OUTBOX_TRACKED_BATCH,
 * then raises the marker. A relay that dies mid-way leaves the marker low, so the next check (of any
 * relay) starts over: duplicates, never a loss.
 *
 * With the queue down or full nothing is marked published: rows wait in the table. The thread loop
 * polls the outbox (there is no LISTEN), checks the schema rule (CONTRACT §4) every 30 s while
 * compatible, prunes published rows past the retention every minute, logs each change of state, and
 * runs one last marking step when stopped (rows the deliverer settled meanwhile). Every signal is
 * blocked on it. */
#ifndef BOLLARD_RELAY_H
#define BOLLARD_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "outbox/outbox.h"
#include "queue/queue.h"

#define RELAY_BATCH 200 /* outbox rows per step */

enum relay_state {
    RELAY_OK = 0,
    RELAY_ERR_DB,      /* database unavailable or the statement failed */
    RELAY_ERR_REDIS,   /* queue (Redis) unavailable: rows stay unpublished */
    RELAY_BACKLOG,     /* too many queued jobs: rows stay unpublished for now */
    RELAY_ERR_SCHEMA,  /* the database schema is not (or no longer) compatible */
    RELAY_ERR_PUBLISH, /* Redis is up but refused the publish script: a bug, not an outage */
    RELAY_RECOVERING,  /* Redis lost data: re-enqueuing tracked deliveries before publishing again */
};

/* What the thread has done so far (read from any thread). */
struct relay_stats {
    uint64_t tick_ms; /* base_now_ms() of its last loop turn: a stalled relay stops ticking */
    long long events, jobs;
    long long recovered, recoveries; /* jobs re-enqueued after Redis data losses; losses handled */
    enum relay_state state;
    /* The last schema check (at start, then every 30 s while it holds, every second while not) found
     * the schema compatible with this binary: the worker's readiness (CONTRACT §4). */
    bool schema_ok;
};

struct relay;

/* Starts the thread on `outbox` (owned from now on, freed by relay_free) and `q` (shared with the
 * deliverer; must outlive the relay). NULL when the thread cannot start (the outbox is freed). */
struct relay *relay_start(struct outbox *outbox, struct queue *q);
/* Asks the thread to stop after its current step (returns at once). */
void relay_stop(struct relay *r);
/* Waits for the thread until deadline_ms (base_now_ms() clock); false when it did not end in time. */
bool relay_join(struct relay *r, uint64_t deadline_ms);
/* Stops, joins and frees (NULL is a no-op). Only after relay_join returned true, or to wait unbounded. */
void relay_free(struct relay *r);
/* Its counters and state. */
struct relay_stats relay_stats(struct relay *r);
/* A state as the heartbeat and the logs name it. */
const char *relay_state_name(enum relay_state state);

#endif
