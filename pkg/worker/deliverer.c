/* The deliverer's loop turn (see internal.h): the same for `bollard worker` and `bollard dev`. */
#include "worker/internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

bool worker_deliverer_init(struct worker_deliverer *d, const struct config *cfg, struct queue *q,
                           struct outbox *outbox, const char *user_agent)
{
    memset(d, 0, sizeof(*d));
    d->cfg = cfg;
    d->q = q;
    d->outbox = outbox;
    d->db_up = true;
    d->slots.capacity = cfg->worker_concurrency;
    d->slots.jobs = calloc((size_t)d->slots.capacity, sizeof(*d->slots.jobs));
    /* WEBHOOK_* turned into options once, for both hosts. */
    struct delivery_options opts = {.timeout_ms = cfg->webhook_timeout_ms,
                                    .allow_private = cfg->webhook_allow_private,
                                    .user_agent = user_agent};
    d->pool = delivery_pool_new(d->slots.capacity, &opts);
    return d->slots.jobs != NULL && d->pool != NULL;
}

void worker_deliverer_free(struct worker_deliverer *d)
{
    for (int i = 0; d->slots.jobs != NULL && i < d->slots.capacity; i++)
        free(d->slots.jobs[i].body);
    free(d->slots.jobs);
    delivery_pool_free(d->pool);
    worker_endpoints_clear(d);
}

void worker_deliverer_turn(struct worker_deliverer *d, struct curl_waitfd *extra, unsigned n_extra,
                           int max_wait_ms)
{
    uint64_t now = base_now_ms();
    queue_poll(d->q, &d->slots, now);
    worker_start_new_jobs(d);
    worker_settle_flush(d); /* outcomes that could not be written (Redis down) are retried next turn */
    int fd = queue_arm(d->q, &d->slots, now);
    struct curl_waitfd fds[8];
    unsigned n = 0;
    for (unsigned i = 0; i < n_extra && n < 7; i++)
        fds[n++] = extra[i];
    if (fd >= 0)
        fds[n++] = (struct curl_waitfd){.fd = fd, .events = CURL_WAIT_POLLIN};
    int wait = queue_next_ms(d->q, &d->slots, now, max_wait_ms);
    if (!delivery_wait(d->pool, fds, n, wait)) {
        log_write(LOG_ERROR, NULL, "curl multi poll failed", NULL);
        poll(NULL, 0, wait); /* a bounded pause instead of a busy loop */
    }
    for (unsigned i = 0; i < n_extra && i < 7; i++)
        extra[i].revents = fds[i].revents;
    struct delivery_result res;
    while (delivery_next_result(d->pool, &res))
        worker_settle_result(d, &res);
    if (fd >= 0 && (fds[n - 1].revents & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI)) != 0) {
        queue_ready_fd(d->q, &d->slots);
        worker_start_new_jobs(d);
    }
}

void worker_deliverer_stop(struct worker_deliverer *d)
{
    d->stopping = true;
    queue_stop(d->q);
}

bool worker_deliverer_done(const struct worker_deliverer *d)
{
    /* A held dead letter does not keep a stop waiting: it stays pending in the queue, and the
     * next consumer to take it records its row. */
    int held = 0;
    for (int i = 0; i < d->slots.capacity; i++)
        held += d->slots.jobs[i].state == QUEUE_JOB_DONE && d->slots.jobs[i].held;
    return d->slots.busy == held && queue_idle(d->q);
}
