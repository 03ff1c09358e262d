/* worker internals shared by its files (not part of the public surface: see worker.h). The deliverer —
 * the consumer half of the pipeline, the same for both hosts (`bollard worker` on its main thread,
 * `bollard dev` on a thread of its own) — in three steps, none calling back into another:
 *   endpoints.c  NEW jobs: endpoint URL + secret (outbox, small cache) → delivery_start
 *   settle.c     finished attempts → delivery_judge → outcome; dead letters recorded; hand-back
 *   deliverer.c  one turn of the loop: queue chores and reads, the two steps above, the wait */
#ifndef BOLLARD_WORKER_INTERNAL_H
#define BOLLARD_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "alert/alert.h"
#include "config/config.h"
#include "delivery/delivery.h"
#include "outbox/outbox.h"
#include "queue/queue.h"

#define WORKER_ENDPOINT_SLOTS 512
#define WORKER_ENDPOINT_TTL   30000 /* ms an endpoint's URL and secret are reused from memory */
#define WORKER_DEFER_MS       5000  /* a job that could not be attempted (DB down) waits this long */
#define WORKER_LOOKUP_MAX     256   /* endpoint ids looked up per turn */

struct worker_endpoint {
    char id[BASE_UUID_LEN + 1];
    char *url;
    char *secret;
    uint64_t expires;
};

struct worker_deliverer {
    const struct config *cfg;
    struct queue *q;
    struct outbox *outbox;      /* endpoint lookups and failure records (this thread's instance) */
    struct delivery_pool *pool; /* the jobs' slots, and one more for the alert (pkg/alert) */
    struct alert_sender *alert; /* dead-letter alerts; NULL when ALERT_WEBHOOK_URL is unset */
    struct queue_slots slots;
    struct worker_endpoint endpoints[WORKER_ENDPOINT_SLOTS];
    bool db_up;
    uint64_t record_retry_at; /* next try at the rows of held dead letters (settle.c) */
    long long delivered, failed_attempts, dropped;
    /* every attempt's duration, for the fleet's figures (queue_report) */
    long long latency_count, latency_sum_ms, latency_le[QUEUE_LATENCY_BUCKETS];
    bool stopping;
};

/* deliverer.c */
/* One turn: queue chores, new jobs started, outcomes settled, then a wait of at most max_wait_ms for
 * transfers, for jobs, or on `extra` (revents filled in), and the results taken. */
void worker_deliverer_turn(struct worker_deliverer *d, struct curl_waitfd *extra, unsigned n_extra,
                           int max_wait_ms);
/* No new jobs from now on. */
void worker_deliverer_stop(struct worker_deliverer *d);
/* Nothing in flight and nothing on its way. */
bool worker_deliverer_done(const struct worker_deliverer *d);
/* While stopping, once per turn: true when the host's loop may end — the deliverer is done, or
 * `deadline` (base_now_ms() clock) has passed: then the attempts still running are aborted and handed
 * back, and their number logged with `handed_back_msg`. */
bool worker_deliverer_finished(struct worker_deliverer *d, uint64_t now, uint64_t deadline,
                               const char *handed_back_msg);

/* The pipeline both hosts run over one queue: the relay thread (pkg/relay) on an outbox instance of
 * its own and the deliverer on another. */
struct worker_pipeline {
    struct queue *q;
    struct outbox *outbox; /* the deliverer's */
    struct relay *relay;
    struct worker_deliverer d;
    bool curl_ready;
};

/* role ("worker", "dev") names the host in its alerts. Owns q, outbox and relay_outbox from the call on (a
 * NULL one is a failure: its creation failed). Runs curl's global set-up (not thread-safe: call before any
 * thread that uses libcurl exists), then the deliverer's, then starts the relay. False with the reason in
 * why. Either way the caller ends with worker_pipeline_close. */
bool worker_pipeline_open(struct worker_pipeline *p, const struct config *cfg, const char *role,
                          struct queue *q, struct outbox *outbox, struct outbox *relay_outbox, char *why,
                          size_t cap);
/* Logs `msg` with the delivery settings and the host's `fields` (taken; may be NULL). */
void worker_pipeline_log_started(const struct worker_pipeline *p, const char *msg, json_t *fields);
/* Reports the deliverer's and the queue's counters through queue_report (with `gone`: removes them). */
void worker_pipeline_report(const struct worker_pipeline *p, bool gone);
/* Logs `msg` with the pipeline's counters. */
void worker_pipeline_log_stopped(const struct worker_pipeline *p, const char *msg);
/* Stops the relay (its last step stamps what settled), joins it unbounded, frees everything. */
void worker_pipeline_close(struct worker_pipeline *p);

/* endpoints.c */
void worker_start_new_jobs(struct worker_deliverer *d);
void worker_endpoints_clear(struct worker_deliverer *d);

/* settle.c */
void worker_settle_result(struct worker_deliverer *d, const struct delivery_result *res);
/* Records dead letters, then hands every DONE job's outcome to the queue. */
void worker_settle_flush(struct worker_deliverer *d);
/* Stop deadline: aborts the attempts in flight and hands them (and jobs not started) back. Returns
 * how many attempts were aborted. */
int worker_hand_back(struct worker_deliverer *d);

#endif
