/* worker: the consumer half of the event pipeline (ARCHITECTURE.md, "A job") and its two hosts.
 * `bollard worker` (CONTRACT §2): one process, no HTTP port — a relay thread (pkg/relay) moving the
 * PostgreSQL outbox into the Redis back-end of pkg/queue, and the main thread delivering the jobs as
 * signed webhooks (pkg/delivery). `bollard dev`: the same relay and deliverer on the SQLite file and the
 * in-process back-end, on threads of their own. The Redis names are pkg/queue's. */
#ifndef BOLLARD_WORKER_H
#define BOLLARD_WORKER_H

#include "config/config.h"

/* `bollard worker [--help]`. Returns the process exit status: 0 after SIGTERM/SIGINT (in-flight
 * deliveries finished or handed back), 1 on a start-up failure or a second signal, 64 on usage. */
int worker_main(const struct config *cfg, int argc, char **argv);
/* The arguments alone, before any configuration is read (so `--help` needs none): -1 when the
 * role may start, otherwise the exit code after printing help (0) or a usage error (64). */
int worker_args(int argc, char **argv);

struct worker_dev;

/* `bollard dev`'s deliveries off the SQLite file at `path` (already migrated): relay and deliverer
 * threads, every signal blocked in them. Call before any other thread that uses libcurl exists (it runs
 * curl's global set-up). NULL on failure (logged). */
struct worker_dev *worker_dev_start(const struct config *cfg, const char *path);
/* Call after the API drained: lets attempts in flight finish for up to min(SHUTDOWN_TIMEOUT_SECONDS,
 * 5 s), aborts the rest (their rows stay unpublished, so the next start delivers them), stamps the rows
 * that settled, joins and frees. NULL is a no-op. */
void worker_dev_stop(struct worker_dev *h);

#endif
