/* The queue's figures for /metrics: seven Redis commands sent at once on the loop's connection, then
 * one HGETALL per worker the workers set names (QUEUE_WORKERS_MAX at most). */
#include "queue/queue.h"
#include "redisconn/redisconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ZREVRANGE's last index: QUEUE_WORKERS_MAX − 1 as text. */
#define WORKERS_LAST "63"
_Static_assert(QUEUE_WORKERS_MAX == 64, "WORKERS_LAST must be QUEUE_WORKERS_MAX - 1");

enum { CALL_DEPTH, CALL_PENDING, CALL_RETRIES, CALL_DEAD, CALL_RECOVERED, CALL_TIME, CALL_WORKERS, N_CALLS };

struct figures_call {
    struct queue_figures_read *read;
    void *handle; /* NULL once answered */
};

struct queue_figures_read {
    struct redisconn *rc;
    queue_figures_cb cb;
    void *arg;
    struct figures_call calls[N_CALLS + QUEUE_WORKERS_MAX]; /* then one HGETALL per worker */
    int outstanding;
    long long oldest_pending_ms; /* the millisecond part of the oldest pending entry's id */
    long long redis_now_ms;      /* TIME: the workers' report times are Redis's too */
    long long report_ms[QUEUE_WORKERS_MAX];
    struct queue_figures figures;
};

static long long reply_integer(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

static void finish(struct queue_figures_read *read)
{
    struct queue_figures *f = &read->figures;
    if (f->ok) {
        long long age_ms =
            read->oldest_pending_ms > 0 ? (long long)time(NULL) * 1000 - read->oldest_pending_ms : 0;
        f->oldest_pending_age_ms = age_ms > 0 ? age_ms : 0;
        /* Workers whose figures expired between the two reads are left out. */
        int kept = 0;
        for (int i = 0; i < f->n_workers; i++) {
            if (read->report_ms[i] <= 0)
                continue;
            if (kept != i)
                f->workers[kept] = f->workers[i];
            long long worker_age = read->redis_now_ms - read->report_ms[i];
            f->workers[kept++].report_age_ms = worker_age > 0 ? worker_age : 0;
        }
        f->n_workers = kept;
    } else {
        memset(f, 0, sizeof(*f));
    }
    read->cb(read->arg, f);
    free(read);
}

static void on_reply(void *arg, redisReply *reply, const char *err);

/* One worker's hash (field/value pairs; empty once expired). */
static void take_worker(struct queue_figures_read *read, int w, const redisReply *reply)
{
    static const int bounds_ms[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    struct queue_worker_figures *f = &read->figures.workers[w];
    struct {
        const char *name;
        long long *into;
    } fields[9 + QUEUE_LATENCY_BUCKETS] = {
        {"unix_ms", &read->report_ms[w]},
        {"delivered", &f->delivered},
        {"failed_attempts", &f->failed_attempts},
        {"retried", &f->retried},
        {"dead_lettered", &f->dead_lettered},
        {"reclaimed", &f->reclaimed},
        {"in_flight", &f->in_flight},
        {"latency_count", &f->latency_count},
        {"latency_sum_ms", &f->latency_sum_ms},
    };
    char names[QUEUE_LATENCY_BUCKETS][32];
    for (int b = 0; b < QUEUE_LATENCY_BUCKETS; b++) {
        snprintf(names[b], sizeof(names[b]), "latency_le_%d", bounds_ms[b]);
        fields[9 + b].name = names[b];
        fields[9 + b].into = &f->latency_le[b];
    }
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        for (size_t n = 0; n < sizeof(fields) / sizeof(fields[0]); n++)
            if (strcmp(k->str, fields[n].name) == 0)
                *fields[n].into = strtoll(v->str, NULL, 10);
    }
}

/* The workers set's members, most recent first: one HGETALL each, sent before this reply's own call
 * is counted off, so the read cannot finish in between. */
static void ask_workers(struct queue_figures_read *read, const redisReply *reply)
{
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements && i < QUEUE_WORKERS_MAX;
         i++) {
        const redisReply *m = reply->element[i];
        if (m->type != REDIS_REPLY_STRING || m->len == 0 || m->len >= QUEUE_CONSUMER_MAX)
            continue;
        int w = read->figures.n_workers;
        struct figures_call *call = &read->calls[N_CALLS + w];
        snprintf(read->figures.workers[w].consumer, QUEUE_CONSUMER_MAX, "%s", m->str);
        char key[sizeof(QUEUE_WORKER_PREFIX) + QUEUE_CONSUMER_MAX];
        snprintf(key, sizeof(key), "%s%s", QUEUE_WORKER_PREFIX, m->str);
        const char *argv[2] = {"HGETALL", key};
        call->read = read;
        call->handle = redisconn_command(read->rc, on_reply, call, 2, argv, NULL);
        if (call->handle == NULL) {
            read->figures.ok = false;
            return;
        }
        read->figures.n_workers++;
        read->outstanding++;
    }
}

static void on_reply(void *arg, redisReply *reply, const char *err)
{
    (void)err;
    struct figures_call *call = arg;
    struct queue_figures_read *read = call->read;
    int index = (int)(call - read->calls);
    call->handle = NULL;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* A missing group (no worker ever ran) is an empty queue, not a failure. */
        if (!(index == CALL_PENDING && reply != NULL && strstr(reply->str, "NOGROUP") != NULL))
            read->figures.ok = false;
    } else if (index == CALL_DEPTH) {
        read->figures.depth = reply_integer(reply);
    } else if (index == CALL_PENDING && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
        read->figures.pending = reply_integer(reply->element[0]);
        const redisReply *min_id = reply->element[1];
        if (min_id->type == REDIS_REPLY_STRING)
            read->oldest_pending_ms = strtoll(min_id->str, NULL, 10); /* "<ms>-<seq>" */
    } else if (index == CALL_RETRIES) {
        read->figures.retries = reply_integer(reply);
    } else if (index == CALL_DEAD) {
        read->figures.dead = reply_integer(reply);
    } else if (index == CALL_RECOVERED && reply->type == REDIS_REPLY_STRING) {
        read->figures.recovered = strtoll(reply->str, NULL, 10); /* nil (never recovered): 0 */
    } else if (index == CALL_TIME && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
               reply->element[0]->type == REDIS_REPLY_STRING &&
               reply->element[1]->type == REDIS_REPLY_STRING) {
        read->redis_now_ms = strtoll(reply->element[0]->str, NULL, 10) * 1000 +
                             strtoll(reply->element[1]->str, NULL, 10) / 1000;
    } else if (index == CALL_WORKERS) {
        ask_workers(read, reply);
    } else if (index >= N_CALLS) {
        take_worker(read, index - N_CALLS, reply);
    }
    if (--read->outstanding == 0)
        finish(read);
}

struct queue_figures_read *queue_figures_read(struct redisconn *rc, queue_figures_cb cb, void *arg)
{
    if (rc == NULL || !redisconn_is_connected(rc))
        return NULL;
    struct queue_figures_read *read = calloc(1, sizeof(*read));
    if (read == NULL)
        return NULL;
    read->rc = rc;
    read->cb = cb;
    read->arg = arg;
    read->figures.ok = true;
    static const char *const depth[] = {"XLEN", QUEUE_STREAM_JOBS};
    static const char *const pending[] = {"XPENDING", QUEUE_STREAM_JOBS, QUEUE_GROUP};
    static const char *const retries[] = {"ZCARD", QUEUE_ZSET_RETRY};
    static const char *const dead[] = {"XLEN", QUEUE_STREAM_DEAD};
    static const char *const recovered[] = {"GET", QUEUE_RECOVERED_KEY};
    static const char *const now[] = {"TIME"};
    static const char *const workers[] = {"ZREVRANGE", QUEUE_ZSET_WORKERS, "0", WORKERS_LAST};
    static const char *const *const argv[N_CALLS] = {depth, pending, retries, dead, recovered, now, workers};
    static const int argc[N_CALLS] = {2, 3, 2, 2, 2, 1, 4};
    for (int i = 0; i < N_CALLS; i++) {
        read->calls[i].read = read;
        read->calls[i].handle =
            redisconn_command(rc, on_reply, &read->calls[i], argc[i], (const char **)argv[i], NULL);
        if (read->calls[i].handle == NULL) {
            queue_figures_cancel(read);
            return NULL;
        }
        read->outstanding++;
    }
    return read;
}

void queue_figures_cancel(struct queue_figures_read *read)
{
    if (read == NULL)
        return;
    for (int i = 0; i < N_CALLS + QUEUE_WORKERS_MAX; i++)
        if (read->calls[i].handle != NULL)
            redisconn_cancel(read->rc, read->calls[i].handle);
    free(read);
}
