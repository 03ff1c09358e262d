/* app: `bollard api` — wires the application onto pkg/server's event loops. It owns every handle the
 * handlers use (struct api_context: store, Redis, health, hashing, metrics), chooses the store's back
 * end (PostgreSQL through pkg/pgpool, or SQLite for `bollard dev`), and feeds the per-request and
 * per-loop figures into pkg/metrics. */
#ifndef BOLLARD_APP_H
#define BOLLARD_APP_H

#include "config/config.h"

/* The api role's entry point (the signature every role has); runs until shut down and returns the
 * process exit code. Takes no arguments of its own. */
int app_main(const struct config *cfg, int argc, char **argv);
/* The arguments alone, before any configuration is read: -1 to start, else the exit code (0 after
 * --help, 64 on a usage error). */
int app_args(int argc, char **argv);

#endif
