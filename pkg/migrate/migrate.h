/* migrate: the schema migration runner behind `bollard migrate [up|status|plan]`. */
#ifndef BOLLARD_MIGRATE_H
#define BOLLARD_MIGRATE_H

#include "config/config.h"

/* Exit codes of `bollard migrate` (documented in README and `bollard migrate --help`). */
enum migrate_exit {
    MIGRATE_EXIT_OK = 0,           /* applied, or nothing to do, or database ahead but compatible */
    MIGRATE_EXIT_FAILED = 1,       /* a migration (or the bookkeeping) failed; rolled back */
    MIGRATE_EXIT_CHECKSUM = 2,     /* an applied migration changed, or history diverged */
    MIGRATE_EXIT_INCOMPATIBLE = 3, /* database floor above this binary's level */
    MIGRATE_EXIT_UNREACHABLE = 4,  /* database not reachable within MIGRATE_CONNECT_TIMEOUT_SECONDS */
    MIGRATE_EXIT_LOCK_TIMEOUT = 5, /* another runner held the lock for MIGRATE_LOCK_TIMEOUT_SECONDS */
    MIGRATE_EXIT_INTERRUPTED = 6,  /* SIGTERM/SIGINT; the current migration rolled back */
    MIGRATE_EXIT_USAGE = 64,       /* EX_USAGE */
};

/* argv[0] is "migrate"; returns the process exit code. */
int migrate_main(const struct config *cfg, int argc, char **argv);

#endif
