/* pkg/store on SQLite for `bollard dev`: placeholder until the SQLite back end lands. */
#include "store/store_impl.h"
#include "log/log.h"

struct store *store_create_sqlite(h2o_evloop_t *loop, h2o_multithread_queue_t *queue, const char *path)
{
    (void)loop;
    (void)queue;
    (void)path;
    log_printf(LOG_ERROR, "the SQLite store is not built yet");
    return NULL;
}
