/* The in-process pipeline of `bollard dev` (see worker.h): the SQLite dialect of pkg/outbox, the memory
 * back-end of pkg/queue, the relay thread and a deliverer thread. Only the glue is here. */
#include "worker/internal.h"
#include "worker/worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <jansson.h>

#include "log/log.h"
#include "relay/relay.h"

#define DEV_STOP_MS 5000 /* longest wait for in-flight attempts at stop */
#define DEV_TICK_MS 100

struct worker_dev {
    const struct config *cfg;
    struct queue *q;
    struct outbox *outbox; /* the deliverer's connection */
    struct relay *relay;
    struct worker_deliverer d;
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

static void *deliverer_main(void *arg)
{
    struct worker_dev *h = arg;
    uint64_t deadline = 0;
    for (;;) {
        uint64_t now = base_now_ms();
        if (atomic_load(&h->stop) && deadline == 0) {
            uint64_t budget = (uint64_t)h->cfg->shutdown_timeout_seconds * 1000;
            deadline = now + (budget < DEV_STOP_MS ? budget : DEV_STOP_MS);
            if (h->d.slots.busy > 0)
                log_write(LOG_INFO, NULL, "dev webhook delivery: finishing in-flight deliveries",
                          json_pack("{s:i}", "in_flight", h->d.slots.busy));
            worker_deliverer_stop(&h->d);
        }
        if (deadline != 0 && (worker_deliverer_done(&h->d) || now >= deadline))
            break;
        int wait = deadline != 0 && deadline - now < DEV_TICK_MS ? (int)(deadline - now) : DEV_TICK_MS;
        worker_deliverer_turn(&h->d, NULL, 0, wait);
    }
    int aborted = worker_hand_back(&h->d);
    if (aborted > 0)
        log_write(
            LOG_WARN, NULL,
            "dev webhook delivery: stop deadline; unfinished deliveries are sent again on the next start",
            json_pack("{s:i}", "aborted", aborted));
    return NULL;
}

static void release(struct worker_dev *h)
{
    relay_free(h->relay); /* its last step stamps the rows the deliverer settled */
    struct queue_stats qs = queue_stats(h->q);
    if (h->started)
        log_write(LOG_INFO, NULL, "dev webhook delivery stopped",
                  json_pack("{s:I,s:I,s:I,s:I}", "delivered", (json_int_t)h->d.delivered, "failed_attempts",
                            (json_int_t)h->d.failed_attempts, "dead", (json_int_t)qs.dead, "dropped",
                            (json_int_t)h->d.dropped));
    worker_deliverer_free(&h->d);
    outbox_free(h->outbox);
    queue_free(h->q);
    curl_global_cleanup();
    free(h);
}

struct worker_dev *worker_dev_start(const struct config *cfg, const char *path)
{
    char why[BASE_WHY_MAX] = "out of memory";
    struct worker_dev *h = calloc(1, sizeof(*h));
    if (h == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(h);
        log_write(LOG_ERROR, NULL, "dev webhook delivery: cannot start",
                  json_pack("{s:s}", "failed", "libcurl"));
        return NULL;
    }
    h->cfg = cfg;
    h->q = queue_memory_new();
    h->outbox = outbox_sqlite_new(path, why, sizeof(why));
    struct outbox *relay_outbox = h->outbox != NULL ? outbox_sqlite_new(path, why, sizeof(why)) : NULL;
    if (h->q == NULL || relay_outbox == NULL ||
        !worker_deliverer_init(&h->d, cfg, h->q, h->outbox, "Bollard-Webhooks/1"))
        goto fail;
    h->relay = relay_start(relay_outbox, h->q);
    relay_outbox = NULL;
    if (h->relay == NULL)
        goto fail;
    /* The server's main thread waits for SIGTERM/SIGINT with sigtimedwait: none may land here. */
    sigset_t all, old;
    sigfillset(&all);
    int rc = pthread_sigmask(SIG_BLOCK, &all, &old);
    if (rc == 0) {
        rc = pthread_create(&h->thread, NULL, deliverer_main, h);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rc != 0)
        goto fail;
    h->started = true;
    log_write(LOG_INFO, NULL, "dev webhook delivery started (in process, off the outbox; no Redis)",
              json_pack("{s:i,s:i,s:i,s:b}", "concurrency", cfg->worker_concurrency, "max_attempts",
                        cfg->webhook_max_attempts, "timeout_ms", cfg->webhook_timeout_ms, "allow_private",
                        cfg->webhook_allow_private));
    return h;
fail:
    log_write(LOG_ERROR, NULL, "dev webhook delivery: cannot start", json_pack("{s:s}", "failed", why));
    outbox_free(relay_outbox);
    release(h);
    return NULL;
}

void worker_dev_stop(struct worker_dev *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stop, true); /* the deliverer's turns last DEV_TICK_MS at most */
    pthread_join(h->thread, NULL);
    release(h);
}
