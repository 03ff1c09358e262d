/* dev: `bollard dev` — the service in one process for a developer's machine: applies the SQLite
 * migrations (pkg/migrate), then serves the API (pkg/server) on the same embedded SQLite file, with
 * no PostgreSQL or Redis. Only with ENVIRONMENT=dev (pkg/config refuses it elsewhere). */
#ifndef BOLLARD_DEV_H
#define BOLLARD_DEV_H

#include "config/config.h"

/* argv[0] is "dev"; returns the process exit code. */
int dev_main(const struct config *cfg, int argc, char **argv);
/* The arguments alone, before any configuration is read: -1 to start, else the exit code (0 after
 * --help, 64 on a usage error). */
int dev_args(int argc, char **argv);

#endif
