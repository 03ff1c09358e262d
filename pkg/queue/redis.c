/* The Redis Streams back-end (see queue.h): set-up and the periodic chores of the consumer half. */
#include "queue/redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char queue_redis_publish_lua[];
extern const char queue_redis_reenqueue_lua[];
extern const char queue_redis_raise_lua[];

static const struct syncconn_redis_script script_table[SCRIPT_COUNT] = {
    [SCRIPT_RETRY] = {.name = "retry", .source = LUA_RETRY},
    [SCRIPT_DEAD] = {.name = "dead", .source = LUA_DEAD},
    [SCRIPT_PROMOTE] = {.name = "promote", .source = LUA_PROMOTE},
    [SCRIPT_REQUEUE] = {.name = "requeue", .source = LUA_REQUEUE},
    [SCRIPT_RENEW] = {.name = "renew", .source = LUA_RENEW},
    [SCRIPT_TRIM] = {.name = "trim", .source = LUA_TRIM},
    [SCRIPT_REPORT] = {.name = "report", .source = LUA_REPORT},
};

static void poll_chores(struct queue *base, struct queue_slots *s, uint64_t now)
{
    struct redis_queue *q = (struct redis_queue *)base;
    if (!queue_redis_ensure_group(q))
        return;
    if (q->recovering)
        queue_redis_recover_step(q, s);
    if (now >= q->next_renew) {
        q->next_renew = now + q->visibility_ms / 3;
        queue_redis_renew(q, s);
    }
    if (now >= q->next_reclaim) {
        /* Skipped while every slot is taken (or promised to the blocking read): it stays due and
         * runs as soon as a slot frees up, instead of a whole interval later. */
        int ran = queue_redis_reclaim(q, s);
        if (ran >= 0)
            q->next_reclaim =
                ran > 0 ? now : now + (q->visibility_ms / 5 > 1000 ? q->visibility_ms / 5 : 1000);
    }
    if (now >= q->next_promote) {
        q->next_promote = now + QUEUE_PROMOTE_MS;
        queue_redis_promote(q);
    }
    if (now >= q->next_trim) {
        q->next_trim = now + QUEUE_TRIM_MS;
        queue_redis_trim(q);
    }
}

static int arm(struct queue *base, struct queue_slots *s, uint64_t now)
{
    struct redis_queue *q = (struct redis_queue *)base;
    queue_redis_read_send(q, s);
    queue_redis_read_check_deadline(q, now);
    if (q->read_outstanding && syncconn_redis_reply_buffered(q->reader)) {
        /* Already read (cannot happen with one command in flight, but polling would not see it). */
        queue_redis_read_receive(q, s);
        return -1;
    }
    return q->read_outstanding ? syncconn_redis_fd(q->reader) : -1;
}

static void ready_fd(struct queue *base, struct queue_slots *s)
{
    queue_redis_read_receive((struct redis_queue *)base, s);
}

static int next_ms(struct queue *base, const struct queue_slots *s, uint64_t now, int max_ms)
{
    struct redis_queue *q = (struct redis_queue *)base;
    uint64_t next = now + (uint64_t)max_ms;
    bool can_reclaim = !base->stopping && !q->recovering && queue_redis_free_slots(q, s) > 0;
    const uint64_t due[] = {base->stopping ? next : q->next_promote, can_reclaim ? q->next_reclaim : next,
                            q->next_renew, q->next_trim};
    for (size_t i = 0; i < sizeof(due) / sizeof(due[0]); i++)
        if (due[i] < next)
            next = due[i];
    return next > now ? (int)(next - now) : 0;
}

static void settle(struct queue *base, struct queue_slots *s)
{
    queue_redis_flush((struct redis_queue *)base, s);
}

static void stop(struct queue *base)
{
    (void)base; /* reads and chores look at base->stopping */
}

static bool idle(const struct queue *base)
{
    return !((const struct redis_queue *)base)->read_outstanding;
}

static void redis_free(struct queue *base)
{
    struct redis_queue *q = (struct redis_queue *)base;
    syncconn_redis_free(q->producer);
    syncconn_redis_free(q->cmd);
    syncconn_redis_free(q->reader);
    queue_redis_dedupe_clear(q);
    free(q);
}

static const struct queue_ops redis_ops = {
    .ready = queue_redis_ready,
    .publish = queue_redis_publish,
    .durable = queue_redis_durable,
    .stamped = queue_redis_stamped,
    .marker_check = queue_redis_marker_check,
    .reenqueue = queue_redis_reenqueue,
    .recovery_begin = queue_redis_recovery_begin,
    .marker_raise = queue_redis_marker_raise,
    .poll = poll_chores,
    .arm = arm,
    .ready_fd = ready_fd,
    .next_ms = next_ms,
    .settle = settle,
    .stop = stop,
    .idle = idle,
    .report = queue_redis_report,
    .free = redis_free,
};

struct queue *queue_redis_new(const struct queue_redis_config *cfg)
{
    struct redis_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->base.ops = &redis_ops;
    snprintf(q->consumer, sizeof(q->consumer), "%s", cfg->consumer);
    q->timeout_ms = cfg->timeout_ms;
    q->visibility_ms = (uint64_t)cfg->visibility_ms;
    snprintf(q->recover_cursor, sizeof(q->recover_cursor), "0");
    snprintf(q->reclaim_cursor, sizeof(q->reclaim_cursor), "0-0");
    q->recovering = true;
    memcpy(q->scripts, script_table, sizeof(script_table));
    q->publish_script[0] =
        (struct syncconn_redis_script){.name = "publish", .source = queue_redis_publish_lua};
    q->publish_script[1] =
        (struct syncconn_redis_script){.name = "reenqueue", .source = queue_redis_reenqueue_lua};
    q->publish_script[2] = (struct syncconn_redis_script){.name = "raise", .source = queue_redis_raise_lua};
    q->producer = syncconn_redis_new(cfg->url, cfg->timeout_ms, cfg->tls, q->publish_script, 3);
    q->cmd = syncconn_redis_new(cfg->url, cfg->consumer_bound_ms, cfg->tls, q->scripts, SCRIPT_COUNT);
    q->reader = syncconn_redis_new(cfg->url, cfg->consumer_bound_ms, cfg->tls, NULL, 0);
    if (q->producer == NULL || q->cmd == NULL || q->reader == NULL) {
        redis_free(&q->base);
        return NULL;
    }
    return &q->base;
}
