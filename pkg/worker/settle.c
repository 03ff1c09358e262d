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
        queue_job_done(j, QUEUE_DEAD, res->status, 0, res->error);
        return;
    }
}

/* Best effort, once: the queue's dead letter (Redis: the dead stream; memory: the log line) is the
 * record when the table cannot take it. */
static void record_failure(struct worker_deliverer *d, struct queue_job *j)
{
    char why[BASE_WHY_MAX];
    if (!outbox_record_failure(d->outbox, j->event_id, j->endpoint_id, j->attempt, j->status,
                               j->error[0] != '\0' ? j->error : "failed", why, sizeof(why))) {
        log_write(
            LOG_ERROR, NULL, "cannot record the failure in webhook_failures",
            json_pack("{s:s,s:s,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id, "error", why));
        d->db_up = false;
    }
    j->recorded = true;
}

void worker_settle_flush(struct worker_deliverer *d)
{
    for (int i = 0; i < d->slots.capacity; i++) {
        struct queue_job *j = &d->slots.jobs[i];
        if (j->state == QUEUE_JOB_DONE && j->outcome == QUEUE_DEAD && j->valid && !j->recorded)
            record_failure(d, j);
    }
    queue_settle(d->q, &d->slots);
}

int worker_hand_back(struct worker_deliverer *d)
{
    void *users[256];
    size_t n = delivery_abort_all(d->pool, users, sizeof(users) / sizeof(users[0]));
    for (size_t i = 0; i < n; i++)
        queue_job_done(users[i], QUEUE_REQUEUE, 0, 0, "shutdown deadline");
    for (int i = 0; i < d->slots.capacity; i++)
        if (d->slots.jobs[i].state == QUEUE_JOB_NEW)
            queue_job_done(&d->slots.jobs[i], QUEUE_REQUEUE, 0, 0, "shutdown deadline");
    worker_settle_flush(d);
    return (int)n;
}
