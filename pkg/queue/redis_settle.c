/* The Redis back-end's outcomes: ack, retry set, dead stream and hand-back in one pipeline per pass;
 * due retries back into the stream; trimming acknowledged entries. Multi-key changes are Lua scripts so
 * each is atomic (a job is never both in the retry set and pending, etc.). */
#include "queue/redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "log/log.h"

void queue_redis_promote(struct redis_queue *q)
{
    if (q->base.stopping)
        return;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", QUEUE_PROMOTE_BATCH);
    const char *argv[] = {"EVALSHA", q->scripts[SCRIPT_PROMOTE].sha, "2", QUEUE_STREAM_JOBS, QUEUE_ZSET_RETRY,
                          limit};
    redisReply *r = queue_redis_command(q, "promote retries", 6, argv, NULL);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= QUEUE_PROMOTE_BATCH)
        q->next_promote = 0; /* more are due */
    freeReplyObject(r);
}

void queue_redis_trim(struct redis_queue *q)
{
    const char *argv[] = {"EVALSHA", q->scripts[SCRIPT_TRIM].sha, "1", QUEUE_STREAM_JOBS};
    redisReply *r = queue_redis_command(q, "trim", 4, argv, NULL);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_INTEGER)
        q->base.stats.trims++;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        log_write(LOG_DEBUG, NULL, "stream trimmed up to the oldest pending entry",
                  json_pack("{s:I}", "removed", (json_int_t)r->integer));
    freeReplyObject(r);
}

/* ---- flushing outcomes */

static char *job_json(const struct queue_job *j, int attempt)
{
    char a[16];
    snprintf(a, sizeof(a), "%d", attempt);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s%}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                          "type", j->type, "attempt", a, "body", j->body, j->body_len);
    if (o == NULL)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

struct pipeline_entry {
    struct queue_job *job;
    char *owned; /* JSON member of a retry */
    char strings[4][32];
};

static bool pipeline_append(struct redis_queue *q, int argc, const char **argv, const size_t *lens)
{
    char why[SYNCCONN_WHY_MAX];
    return syncconn_redis_append(q->cmd, argc, argv, lens, why, sizeof(why));
}

/* Appends the command for one DONE job. Returns false when it cannot be built (the job is then
 * dead-lettered as malformed if it was meant for the retry set). */
static bool append_outcome(struct redis_queue *q, struct pipeline_entry *pe)
{
    struct queue_job *j = pe->job;
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    switch (j->outcome) {
    case QUEUE_ACK: {
        const char *a[] = {"XACK", QUEUE_STREAM_JOBS, QUEUE_GROUP, j->ref};
        return pipeline_append(q, 4, a, NULL);
    }
    case QUEUE_RETRY:
    case QUEUE_DEFER: {
        int next = j->outcome == QUEUE_RETRY ? j->attempt + 1 : j->attempt;
        pe->owned = job_json(j, next);
        if (pe->owned == NULL)
            return false;
        snprintf(pe->strings[0], sizeof(pe->strings[0]), "%ld", j->delay_ms);
        const char *a[] = {"EVALSHA",
                           q->scripts[SCRIPT_RETRY].sha,
                           "2",
                           QUEUE_STREAM_JOBS,
                           QUEUE_ZSET_RETRY,
                           QUEUE_GROUP,
                           j->ref,
                           pe->strings[0],
                           pe->owned};
        return pipeline_append(q, 9, a, NULL);
    }
    case QUEUE_DEAD: {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        snprintf(pe->strings[0], sizeof(pe->strings[0]), "%d", QUEUE_DEAD_MAXLEN);
        snprintf(pe->strings[1], sizeof(pe->strings[1]), "%d", j->attempt);
        snprintf(pe->strings[2], sizeof(pe->strings[2]), "%ld", j->status);
        snprintf(pe->strings[3], sizeof(pe->strings[3]), "%lld",
                 (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
        const char *fixed[] = {"EVALSHA",
                               q->scripts[SCRIPT_DEAD].sha,
                               "2",
                               QUEUE_STREAM_JOBS,
                               QUEUE_STREAM_DEAD,
                               QUEUE_GROUP,
                               j->ref,
                               pe->strings[0],
                               "event_id",
                               j->event_id,
                               "endpoint_id",
                               j->endpoint_id,
                               "type",
                               j->type,
                               "attempts",
                               pe->strings[1],
                               "last_status",
                               pe->strings[2],
                               "last_error",
                               j->error,
                               "failed_at_ms",
                               pe->strings[3],
                               "consumer",
                               q->consumer};
        _Static_assert(sizeof(fixed) / sizeof(fixed[0]) + 2 <= sizeof(argv) / sizeof(argv[0]),
                       "room for every dead-letter field and the body");
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            argv[argc] = fixed[i];
            lens[argc] = strlen(fixed[i]);
            argc++;
        }
        argv[argc] = "body";
        lens[argc++] = 4;
        argv[argc] = j->body != NULL ? j->body : "";
        lens[argc++] = j->body_len;
        return pipeline_append(q, argc, argv, lens);
    }
    case QUEUE_REQUEUE: {
        snprintf(pe->strings[0], sizeof(pe->strings[0]), "%d", j->attempt);
        const char *a[] = {"EVALSHA",
                           q->scripts[SCRIPT_REQUEUE].sha,
                           "1",
                           QUEUE_STREAM_JOBS,
                           QUEUE_GROUP,
                           q->consumer,
                           j->ref,
                           j->event_id,
                           j->endpoint_id,
                           j->type,
                           pe->strings[0],
                           j->body != NULL ? j->body : ""};
        size_t l[12];
        for (int i = 0; i < 12; i++)
            l[i] = strlen(a[i]);
        l[11] = j->body != NULL ? j->body_len : 0;
        return pipeline_append(q, 12, a, l);
    }
    }
    return false;
}

void queue_redis_flush(struct redis_queue *q, struct queue_slots *s)
{
    struct pipeline_entry pending[256];
    int n = 0;
    for (int i = 0; i < s->capacity && n < (int)(sizeof(pending) / sizeof(pending[0])); i++) {
        struct queue_job *j = &s->jobs[i];
        if (j->state != QUEUE_JOB_DONE || j->held)
            continue;
        memset(&pending[n], 0, sizeof(pending[n]));
        pending[n++].job = j;
    }
    if (n == 0)
        return;
    char why[SYNCCONN_WHY_MAX];
    if (!syncconn_redis_ensure(q->cmd, why, sizeof(why))) {
        queue_redis_failed(q, "connect", why);
        return;
    }
    int appended = 0;
    for (int i = 0; i < n; i++) {
        if (!append_outcome(q, &pending[i])) {
            /* Only a JSON failure can get here (invalid UTF-8 in a body): it cannot be retried. */
            pending[i].job->outcome = QUEUE_DEAD;
            snprintf(pending[i].job->error, sizeof(pending[i].job->error), "job cannot be re-encoded");
            free(pending[i].owned);
            pending[i].owned = NULL;
            if (!append_outcome(q, &pending[i]))
                break;
        }
        appended++;
    }
    bool lost = false;
    for (int i = 0; i < appended; i++) {
        redisReply *r = NULL;
        if (!lost && (r = syncconn_redis_reply(q->cmd, why, sizeof(why))) == NULL) {
            queue_redis_failed(q, "flush outcomes", why);
            lost = true;
        }
        struct queue_job *j = pending[i].job;
        if (r != NULL) {
            if (r->type == REDIS_REPLY_ERROR) {
                if (queue_redis_reply_is(r, "NOGROUP")) {
                    /* The stream is gone with Redis' data; the job went with it. */
                    q->group_ready = false;
                    q->base.stats.dropped++;
                    queue_slot_release(s, j);
                } else if (queue_redis_reply_is(r, "NOSCRIPT")) {
                    lost = true; /* reconnecting reloads the scripts; the job stays DONE */
                } else {
                    queue_redis_failed(q, "flush outcome", r->str);
                }
            } else {
                queue_count_settled(&q->base, j);
                queue_slot_release(s, j);
            }
            freeReplyObject(r);
        }
        free(pending[i].owned);
    }
    for (int i = appended; i < n; i++)
        free(pending[i].owned);
    if (lost)
        syncconn_redis_drop(q->cmd);
    else
        q->base.stats.up = true;
}
