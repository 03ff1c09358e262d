/* worker: `bollard worker` (CONTRACT §2). One process, no HTTP port: an outbox relay thread
 * (pkg/relay) feeding a Redis Stream, and the main thread consuming it with a consumer group and
 * delivering signed webhooks (pkg/delivery). ARCHITECTURE.md ("A job") describes the design.
 * The Redis names it uses are pkg/queue's. */
#ifndef BOLLARD_WORKER_H
#define BOLLARD_WORKER_H

#include "config/config.h"

/* `bollard worker [--help]`. Returns the process exit status: 0 after SIGTERM/SIGINT (in-flight
 * deliveries finished or handed back), 1 on a start-up failure or a second signal, 64 on usage. */
int worker_main(const struct config *cfg, int argc, char **argv);
/* The arguments alone, before any configuration is read (so `--help` needs none): -1 when the
 * role may start, otherwise the exit code after printing help (0) or a usage error (64). */
int worker_args(int argc, char **argv);

#endif
