/* The worker's figures into Redis (see queue.h, QUEUE_ZSET_WORKERS): one script on the command
 * connection every QUEUE_WORKER_REPORT_MS, so the API can export them for the whole fleet. */
#include "queue/redis_internal.h"

#include <stdio.h>
#include <string.h>

#define COUNTS        8
#define REPORT_FIELDS (COUNTS + QUEUE_LATENCY_BUCKETS)

void queue_redis_report(struct queue *base, const struct queue_worker_figures *f, bool gone)
{
    struct redis_queue *q = (struct redis_queue *)base;
    static const char *const count_names[COUNTS] = {"delivered",     "failed_attempts", "retried",
                                                    "dead_lettered", "reclaimed",       "in_flight",
                                                    "latency_count", "latency_sum_ms"};
    static const int bounds_ms[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    const long long counts[COUNTS] = {f->delivered, f->failed_attempts, f->retried,       f->dead_lettered,
                                      f->reclaimed, f->in_flight,       f->latency_count, f->latency_sum_ms};
    char key[sizeof(QUEUE_WORKER_PREFIX) + QUEUE_CONSUMER_MAX], ttl[24];
    char names[QUEUE_LATENCY_BUCKETS][32], values[REPORT_FIELDS][24];
    snprintf(key, sizeof(key), "%s%s", QUEUE_WORKER_PREFIX, q->consumer);
    snprintf(ttl, sizeof(ttl), "%d", QUEUE_WORKER_TTL_MS);
    const char *argv[7 + 2 * REPORT_FIELDS] = {
        "EVALSHA",          q->scripts[SCRIPT_REPORT].sha, "2",        key,
        QUEUE_ZSET_WORKERS, gone ? "gone" : ttl,           q->consumer};
    int argc = 7;
    for (int i = 0; !gone && i < REPORT_FIELDS; i++) {
        if (i < COUNTS) {
            argv[argc++] = count_names[i];
            snprintf(values[i], sizeof(values[i]), "%lld", counts[i]);
        } else {
            int b = i - COUNTS;
            snprintf(names[b], sizeof(names[b]), "latency_le_%d", bounds_ms[b]);
            argv[argc++] = names[b];
            snprintf(values[i], sizeof(values[i]), "%lld", f->latency_le[b]);
        }
        argv[argc++] = values[i];
    }
    redisReply *r =
        queue_redis_command(q, gone ? "remove worker figures" : "report worker figures", argc, argv, NULL);
    if (r != NULL)
        freeReplyObject(r);
}
