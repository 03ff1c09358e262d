/* The Redis back-end's connection helpers: one command with its failure logged, and the free slots. */
#include "queue/redis_internal.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "log/log.h"

int queue_redis_free_slots(const struct redis_queue *q, const struct queue_slots *s)
{
    int free = s->capacity - s->busy - q->reserved;
    return free > 0 ? free : 0;
}

/* Errors are logged when they change, and at most every 30 s while they persist. */
void queue_redis_failed(struct redis_queue *q, const char *what, const char *why)
{
    uint64_t now = base_now_ms();
    q->base.stats.up = syncconn_redis_connected(q->cmd);
    if (strcmp(why, q->last_redis_error) != 0 || now - q->redis_error_logged > 30000) {
        snprintf(q->last_redis_error, sizeof(q->last_redis_error), "%s", why);
        q->redis_error_logged = now;
        log_write(LOG_WARN, NULL, "redis operation failed",
                  json_pack("{s:s,s:s}", "operation", what, "error", why));
    }
}

bool queue_redis_reply_is(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           strncmp(r->str, prefix, strlen(prefix)) == 0;
}

redisReply *queue_redis_command(struct redis_queue *q, const char *what, int argc, const char **argv,
                                const size_t *lens)
{
    char why[SYNCCONN_WHY_MAX];
    redisReply *r = syncconn_redis_command(q->cmd, argc, argv, lens, why, sizeof(why));
    if (r == NULL) {
        queue_redis_failed(q, what, why);
        return NULL;
    }
    q->base.stats.up = true;
    if (r->type == REDIS_REPLY_ERROR) {
        if (queue_redis_reply_is(r, "NOGROUP"))
            q->group_ready = false; /* Redis lost the stream (restart without persistence) */
        queue_redis_failed(q, what, why);
    }
    return r;
}
