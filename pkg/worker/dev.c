/* The in-process pipeline of `bollard dev` (see worker.h): the SQLite dialect of pkg/outbox, the memory
 * back-end of pkg/queue and worker_pipeline, with the deliverer on a thread of its own. Only the glue is
 * here. */
#include "worker/internal.h"
#include "worker/worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "log/log.h"

#define DEV_STOP_MS 5000 /* longest wait for in-flight attempts at stop */
#define DEV_TICK_MS 100

struct worker_dev {
    struct worker_pipeline p;
    pthread_t thread;
    atomic_bool stop;
};

static void *deliverer_main(void *arg)
{
    struct worker_dev *h = arg;
    uint64_t deadline = 0;
    for (;;) {
        uint64_t now = base_now_ms();
        if (deadline == 0 && atomic_load(&h->stop)) {
            uint64_t budget = (uint64_t)h->p.d.cfg->shutdown_timeout_seconds * 1000;
            deadline = now + (budget < DEV_STOP_MS ? budget : DEV_STOP_MS);
            worker_deliverer_stop(&h->p.d);
        }
        if (deadline != 0 &&
            worker_deliverer_finished(&h->p.d, now, deadline,
                                      "dev webhook delivery: stop deadline; unfinished deliveries are sent "
                                      "again on the next start"))
            break;
        int wait = deadline != 0 && deadline - now < DEV_TICK_MS ? (int)(deadline - now) : DEV_TICK_MS;
        worker_deliverer_turn(&h->p.d, NULL, 0, wait);
    }
    return NULL;
}

struct worker_dev *worker_dev_start(const struct config *cfg, const char *path)
{
    char why[BASE_WHY_MAX] = "out of memory";
    struct worker_dev *h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto fail;
    if (!worker_pipeline_open(&h->p, cfg, "dev", queue_memory_new(),
                              outbox_sqlite_new(path, why, sizeof(why)),
                              outbox_sqlite_new(path, why, sizeof(why)), why, sizeof(why)))
        goto fail;
    base_why(why, sizeof(why), "cannot start the delivery thread");
    if (base_thread_start(&h->thread, deliverer_main, h) != 0)
        goto fail;
    worker_pipeline_log_started(&h->p, "dev webhook delivery started (in process, off the outbox; no Redis)",
                                NULL);
    return h;
fail:
    log_printf(LOG_ERROR, "dev webhook delivery: cannot start: %s", why);
    if (h != NULL)
        worker_pipeline_close(&h->p);
    free(h);
    return NULL;
}

void worker_dev_stop(struct worker_dev *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stop, true); /* the deliverer's turns last DEV_TICK_MS at most */
    pthread_join(h->thread, NULL);
    worker_pipeline_log_stopped(&h->p, "dev webhook delivery stopped");
    worker_pipeline_close(&h->p); /* the relay's last step stamps the rows the deliverer settled */
    free(h);
}
