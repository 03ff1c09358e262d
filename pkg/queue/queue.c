/* The calls of queue.h, dispatched to the back-end (redis*.c or memory.c). */
#include "queue/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log/log.h"

void queue_free(struct queue *q)
{
    if (q != NULL)
        q->ops->free(q);
}

bool queue_ready(struct queue *q, char *why, size_t cap)
{
    return q->ops->ready == NULL || q->ops->ready(q, why, cap);
}

enum queue_status queue_publish(struct queue *q, const struct queue_event *events, int n, int *accepted,
                                long *jobs, char *why, size_t cap)
{
    *accepted = 0;
    *jobs = 0;
    return n > 0 ? q->ops->publish(q, events, n, accepted, jobs, why, cap) : QUEUE_OK;
}

int queue_durable(struct queue *q, const struct queue_event *taken, int n_taken, long long *ids, int cap)
{
    return q->ops->durable(q, taken, n_taken, ids, cap);
}

void queue_stamped(struct queue *q, const long long *ids, int n)
{
    q->ops->stamped(q, ids, n);
}

long long queue_marker_published(const struct queue *q)
{
    return q->marker_published;
}

long long queue_marker_expected(const struct queue *q)
{
    return q->marker_expected;
}

void queue_marker_expect(struct queue *q, long long seq)
{
    if (seq > q->marker_expected)
        q->marker_expected = seq;
}

enum queue_status queue_marker_check(struct queue *q, long long *marker, char *why, size_t cap)
{
    *marker = 0;
    return q->ops->marker_check != NULL ? q->ops->marker_check(q, marker, why, cap) : QUEUE_OK;
}

enum queue_status queue_reenqueue(struct queue *q, const struct queue_event *events, int n, long *jobs,
                                  char *why, size_t cap)
{
    *jobs = 0;
    return n > 0 && q->ops->reenqueue != NULL ? q->ops->reenqueue(q, events, n, jobs, why, cap) : QUEUE_OK;
}

void queue_recovery_begin(struct queue *q)
{
    if (q->ops->recovery_begin != NULL)
        q->ops->recovery_begin(q);
}

enum queue_status queue_marker_raise(struct queue *q, long long recovered, char *why, size_t cap)
{
    return q->ops->marker_raise != NULL ? q->ops->marker_raise(q, recovered, why, cap) : QUEUE_OK;
}

void queue_poll(struct queue *q, struct queue_slots *s, uint64_t now)
{
    q->ops->poll(q, s, now);
}

int queue_arm(struct queue *q, struct queue_slots *s, uint64_t now)
{
    return q->ops->arm(q, s, now);
}

void queue_ready_fd(struct queue *q, struct queue_slots *s)
{
    q->ops->ready_fd(q, s);
}

int queue_next_ms(struct queue *q, const struct queue_slots *s, uint64_t now, int max_ms)
{
    return q->ops->next_ms(q, s, now, max_ms);
}

void queue_settle(struct queue *q, struct queue_slots *s)
{
    q->ops->settle(q, s);
}

void queue_stop(struct queue *q)
{
    q->stopping = true;
    if (q->ops->stop != NULL)
        q->ops->stop(q);
}

bool queue_idle(const struct queue *q)
{
    return q->ops->idle == NULL || q->ops->idle(q);
}

void queue_report(struct queue *q, const struct queue_worker_figures *f, bool gone)
{
    if (q->ops->report != NULL)
        q->ops->report(q, f, gone);
}

struct queue_stats queue_stats(const struct queue *q)
{
    return q->stats;
}

struct queue_job *queue_slot_take(struct queue_slots *s)
{
    for (int i = 0; i < s->capacity; i++) {
        struct queue_job *j = &s->jobs[i];
        if (j->state == QUEUE_JOB_FREE) {
            memset(j, 0, sizeof(*j));
            j->state = QUEUE_JOB_NEW;
            s->busy++;
            return j;
        }
    }
    return NULL;
}

void queue_slot_release(struct queue_slots *s, struct queue_job *job)
{
    if (job->state == QUEUE_JOB_FREE)
        return;
    free(job->body);
    memset(job, 0, sizeof(*job));
    s->busy--;
}

void queue_job_done(struct queue_job *job, enum queue_outcome outcome, long status, long delay_ms,
                    const char *error)
{
    job->state = QUEUE_JOB_DONE;
    job->outcome = outcome;
    job->status = status;
    job->delay_ms = delay_ms;
    snprintf(job->error, sizeof(job->error), "%s", error != NULL ? error : "");
}

void queue_count_settled(struct queue *q, const struct queue_job *j)
{
    switch (j->outcome) {
    case QUEUE_RETRY:
        q->stats.retried++;
        log_write(LOG_WARN, NULL, "delivery failed; retry scheduled",
                  json_pack("{s:s,s:s,s:i,s:I,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                            "attempt", j->attempt, "retry_in_ms", (json_int_t)j->delay_ms, "error",
                            j->error));
        break;
    case QUEUE_DEAD:
        q->stats.dead++;
        log_write(LOG_WARN, NULL, "delivery dead-lettered",
                  json_pack("{s:s,s:s,s:i,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                            "attempts", j->attempt, "error", j->error));
        break;
    case QUEUE_REQUEUE:
        q->stats.requeued++;
        break;
    case QUEUE_ACK:
    case QUEUE_DEFER:
        break;
    }
}
