/* Step two of the deliverer: a finished attempt's outcome (delivery_judge — the one rule), the
 * webhook_failures row of a dead letter, and the hand-back of unfinished jobs at the stop deadline. */
#include "worker/internal.h"

#include <jansson.h>

#include "log/log.h"

void worker_settle_result(struct worker_deliverer *d, const struct delivery_result *res)
{
    struct queue_job *j = res->user;
    if (j == NULL)
        return;
    static const int bounds_ms[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    long long ms = res->seconds > 0 ? (long long)(res->seconds * 1000.0 + 0.5) : 0;
    d->latency_count++;
    d->latency_sum_ms += ms;
    for (int b = 0; b < QUEUE_LATENCY_BUCKETS; b++)
        d->latency_le[b] += ms <= bounds_ms[b];
    long delay = 0;
    switch (delivery_judge(res, j->attempt, d->cfg->webhook_max_attempts, &delay)) {
    case DELIVERY_VERDICT_DONE:
        d->delivered++;
        queue_job_done(j, QUEUE_ACK, res->status, 0, NULL);
        return;
    case DELIVERY_VERDICT_RETRY:
        d->failed_attempts++;
        queue_job_done(j, QUEUE_RETRY, res->status, delay, res->error);
        return;
    case DELIVERY_VERDICT_DEAD:
        d->failed_attempts++;
        alert_sender_note(d->alert, 1, res->error);
        queue_job_done(j, QUEUE_DEAD, res->status, 0, res->error);
        return;
    }
}

/* A dead letter always has its row: when the insert fails the job is held (not settled, so not
 * acknowledged in Redis) and the insert tried again every RECORD_RETRY_MS until it lands. Bounded:
 * at most one try per interval per worker, and only the slots' worth of jobs can be held (a worker
 * whose slots are all held takes no new jobs, which is right while its database is away). A held
 * job survives a restart as a pending entry; whoever takes it again delivers it once more (a
 * duplicate is fine: receivers dedupe by X-Bollard-Event-Id) and records the row. */
#define RECORD_RETRY_MS 1000

static void record_failure(struct worker_deliverer *d, struct queue_job *j)
{
    char why[BASE_WHY_MAX];
    if (!outbox_record_failure(d->outbox, j->event_id, j->endpoint_id, j->attempt, j->status,
                               j->error[0] != '\0' ? j->error : "failed", why, sizeof(why))) {
        if (!j->held)
            log_write(LOG_ERROR, NULL,
                      "cannot record the failure in webhook_failures; holding the dead letter "
                      "and trying again",
                      json_pack("{s:s,s:s,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                                "error", why));
        j->held = true;
        d->db_up = false;
        return;
    }
    if (j->held)
        log_write(LOG_INFO, NULL, "dead letter recorded in webhook_failures after being held",
                  json_pack("{s:s,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id));
    j->held = false;
    j->recorded = true;
}

/* Delivered (or endpoint gone) and recorded dead letters are no longer in flight: their
 * outbox_deliveries rows go, before the queue acknowledges them (a crash in between redelivers: a
 * duplicate). Best effort: a row the database would not delete only makes a later Redis data loss
 * deliver it once more. In chunks, one statement each. */
#define UNTRACK_CHUNK 128

static void untrack(struct worker_deliverer *d)
{
    const char *events[UNTRACK_CHUNK], *endpoints[UNTRACK_CHUNK];
    struct queue_job *jobs[UNTRACK_CHUNK];
    int i = 0;
    while (i < d->slots.capacity) {
        int n = 0;
        for (; i < d->slots.capacity && n < UNTRACK_CHUNK; i++) {
            struct queue_job *j = &d->slots.jobs[i];
            if (j->state != QUEUE_JOB_DONE || !j->valid || j->untracked ||
                !(j->outcome == QUEUE_ACK || (j->outcome == QUEUE_DEAD && j->recorded)))
                continue;
            events[n] = j->event_id;
            endpoints[n] = j->endpoint_id;
            jobs[n++] = j;
        }
        if (n == 0)
            continue;
        char why[BASE_WHY_MAX];
        if (!outbox_settled(d->outbox, events, endpoints, n, why, sizeof(why)) && d->db_up) {
            log_write(LOG_WARN, NULL,
                      "cannot forget settled deliveries in outbox_deliveries; a Redis data loss "
                      "would deliver them again",
                      json_pack("{s:i,s:s}", "deliveries", n, "error", why));
            d->db_up = false;
        }
        for (int k = 0; k < n; k++)
            jobs[k]->untracked = true;
    }
}

void worker_settle_flush(struct worker_deliverer *d)
{
    uint64_t now = base_now_ms();
    bool retry_due = now >= d->record_retry_at;
    bool any_held = false;
    for (int i = 0; i < d->slots.capacity; i++) {
        struct queue_job *j = &d->slots.jobs[i];
        if (j->state == QUEUE_JOB_DONE && j->outcome == QUEUE_DEAD && j->valid && !j->recorded &&
            (!j->held || retry_due))
            record_failure(d, j);
        any_held |= j->state == QUEUE_JOB_DONE && j->held;
    }
    if (retry_due && any_held)
        d->record_retry_at = now + RECORD_RETRY_MS;
    untrack(d);
    queue_settle(d->q, &d->slots);
}

int worker_hand_back(struct worker_deliverer *d)
{
    void *users[256 + 1]; /* WORKER_CONCURRENCY at most, and the alert's slot */
    size_t n = delivery_abort_all(d->pool, users, sizeof(users) / sizeof(users[0]));
    size_t jobs = 0;
    for (size_t i = 0; i < n; i++) {
        if (d->alert != NULL && users[i] == (void *)d->alert) {
            alert_sender_aborted(d->alert); /* not a job: nothing to hand back */
            continue;
        }
        queue_job_done(users[i], QUEUE_REQUEUE, 0, 0, "shutdown deadline");
        jobs++;
    }
    n = jobs;
    for (int i = 0; i < d->slots.capacity; i++)
        if (d->slots.jobs[i].state == QUEUE_JOB_NEW)
            queue_job_done(&d->slots.jobs[i], QUEUE_REQUEUE, 0, 0, "shutdown deadline");
    worker_settle_flush(d);
    return (int)n;
}
