/* The queue's figures for /metrics: five Redis commands sent at once on the loop's connection. */
#include "queue/queue.h"
#include "redisconn/redisconn.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CALL_DEPTH, CALL_PENDING, CALL_RETRIES, CALL_DEAD, CALL_RECOVERED, N_CALLS };

struct figures_call {
    struct queue_figures_read *read;
    void *handle; /* NULL once answered */
};

struct queue_figures_read {
    struct redisconn *rc;
    queue_figures_cb cb;
    void *arg;
    struct figures_call calls[N_CALLS];
    int outstanding;
    long long oldest_pending_ms; /* the millisecond part of the oldest pending entry's id */
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
    } else {
        memset(f, 0, sizeof(*f));
    }
    read->cb(read->arg, f);
    free(read);
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
    static const char *const *const argv[N_CALLS] = {depth, pending, retries, dead, recovered};
    static const int argc[N_CALLS] = {2, 3, 2, 2, 2};
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
    for (int i = 0; i < N_CALLS; i++)
        if (read->calls[i].handle != NULL)
            redisconn_cancel(read->rc, read->calls[i].handle);
    free(read);
}
