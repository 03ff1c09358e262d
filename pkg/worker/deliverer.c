/* The deliverer's loop turn (see internal.h): the same for `bollard worker` and `bollard dev`. */
#include "worker/internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log/log.h"
#include "relay/relay.h"

/* Slots for WORKER_CONCURRENCY jobs and the curl pool; false on failure. `outbox` stays the caller's. */
static bool deliverer_init(struct worker_deliverer *d, const struct config *cfg, struct queue *q,
                           struct outbox *outbox, const char *user_agent, const char *role)
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
    /* The alert's attempt has a slot of its own, so it never takes one a job would get. */
    d->alert = alert_sender_new(cfg, role);
    d->pool = delivery_pool_new(d->slots.capacity + (d->alert != NULL ? 1 : 0), &opts);
    return d->slots.jobs != NULL && d->pool != NULL;
}

static void deliverer_free(struct worker_deliverer *d)
{
    for (int i = 0; d->slots.jobs != NULL && i < d->slots.capacity; i++)
        free(d->slots.jobs[i].body);
    free(d->slots.jobs);
    delivery_pool_free(d->pool); /* before the sender: an attempt in flight points at its body */
    alert_sender_free(d->alert);
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
    long alert_ms = alert_sender_next_ms(d->alert, now);
    if (alert_ms >= 0 && alert_ms < wait)
        wait = (int)alert_ms;
    if (!delivery_wait(d->pool, fds, n, wait)) {
        log_write(LOG_ERROR, NULL, "curl multi poll failed", NULL);
        poll(NULL, 0, wait); /* a bounded pause instead of a busy loop */
    }
    for (unsigned i = 0; i < n_extra && i < 7; i++)
        extra[i].revents = fds[i].revents;
    struct delivery_result res;
    while (delivery_next_result(d->pool, &res))
        if (!alert_sender_result(d->alert, &res, base_now_ms()))
            worker_settle_result(d, &res);
    /* After the results: the dead letters they brought are in the alert that is due. */
    alert_sender_tick(d->alert, d->pool, base_now_ms());
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

bool worker_deliverer_finished(struct worker_deliverer *d, uint64_t now, uint64_t deadline,
                               const char *handed_back_msg)
{
    if (worker_deliverer_done(d))
        return true;
    if (now < deadline)
        return false;
    int n = worker_hand_back(d);
    if (n > 0)
        log_write(LOG_WARN, NULL, handed_back_msg, json_pack("{s:i}", "jobs", n));
    return true;
}

bool worker_pipeline_open(struct worker_pipeline *p, const struct config *cfg, const char *role,
                          struct queue *q, struct outbox *outbox, struct outbox *relay_outbox, char *why,
                          size_t cap)
{
    memset(p, 0, sizeof(*p));
    p->q = q;
    p->outbox = outbox;
    p->curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!p->curl_ready || q == NULL || outbox == NULL || relay_outbox == NULL) {
        base_why(why, cap, "%s",
                 !p->curl_ready ? "cannot initialise libcurl" : "out of memory, or a bad URL");
        goto fail;
    }
    if (!deliverer_init(&p->d, cfg, q, outbox, "Bollard-Webhooks/1", role)) {
        base_why(why, cap, "out of memory (deliverer)");
        goto fail;
    }
    p->relay = relay_start(relay_outbox, q); /* owns relay_outbox from here */
    relay_outbox = NULL;
    if (p->relay == NULL) {
        base_why(why, cap, "cannot start the relay thread");
        goto fail;
    }
    return true;
fail:
    outbox_free(relay_outbox);
    return false;
}

void worker_pipeline_log_started(const struct worker_pipeline *p, const char *msg, json_t *fields)
{
    const struct config *cfg = p->d.cfg;
    json_t *o = json_pack("{s:i,s:i,s:i,s:b,s:b}", "concurrency", cfg->worker_concurrency, "max_attempts",
                          cfg->webhook_max_attempts, "timeout_ms", cfg->webhook_timeout_ms, "allow_private",
                          cfg->webhook_allow_private, "alerts", p->d.alert != NULL);
    if (o != NULL && p->d.alert != NULL)
        json_object_set_new(o, "alert_min_interval_seconds", json_integer(cfg->alert_min_interval_seconds));
    if (o != NULL && fields != NULL)
        json_object_update(o, fields);
    json_decref(fields);
    log_write(LOG_INFO, NULL, msg, o);
}

void worker_pipeline_report(const struct worker_pipeline *p, bool gone)
{
    const struct worker_deliverer *d = &p->d;
    struct queue_stats qs = queue_stats(p->q);
    struct queue_worker_figures f = {.delivered = d->delivered,
                                     .failed_attempts = d->failed_attempts,
                                     .retried = qs.retried,
                                     .dead_lettered = qs.dead,
                                     .reclaimed = qs.reclaimed,
                                     .in_flight = d->slots.busy,
                                     .latency_count = d->latency_count,
                                     .latency_sum_ms = d->latency_sum_ms};
    memcpy(f.latency_le, d->latency_le, sizeof(f.latency_le));
    queue_report(p->q, &f, gone);
}

void worker_pipeline_log_stopped(const struct worker_pipeline *p, const char *msg)
{
    struct queue_stats qs = queue_stats(p->q);
    log_write(LOG_INFO, NULL, msg,
              json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "delivered", (json_int_t)p->d.delivered,
                        "failed_attempts", (json_int_t)p->d.failed_attempts, "retried",
                        (json_int_t)qs.retried, "dead_lettered", (json_int_t)qs.dead, "dropped",
                        (json_int_t)(p->d.dropped + qs.dropped), "handed_back", (json_int_t)qs.requeued));
}

void worker_pipeline_close(struct worker_pipeline *p)
{
    relay_free(p->relay);
    p->relay = NULL;
    deliverer_free(&p->d);
    outbox_free(p->outbox);
    queue_free(p->q);
    if (p->curl_ready)
        curl_global_cleanup();
    memset(p, 0, sizeof(*p));
}
