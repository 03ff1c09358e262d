/* migrate: the schema migration runner — `bollard migrate [up|status|plan]` on PostgreSQL, and the
 * SQLite twin set that `bollard dev` applies to its file — one algorithm for both (CONTRACT §4). */
#ifndef BOLLARD_MIGRATE_H
#define BOLLARD_MIGRATE_H

#include "base/base.h"
#include "config/config.h"

/* Exit codes of `bollard migrate` (documented in README and `bollard migrate --help`); `bollard dev`
 * exits with the same numbers for the same cases. */
enum migrate_exit {
    MIGRATE_EXIT_OK = BASE_EXIT_OK,          /* applied, or nothing to do, or database ahead but compatible */
    MIGRATE_EXIT_FAILED = BASE_EXIT_FAILURE, /* a migration (or the bookkeeping) failed; rolled back */
    MIGRATE_EXIT_CHECKSUM = 2,               /* an applied migration changed, or history diverged */
    MIGRATE_EXIT_INCOMPATIBLE = 3,           /* database floor above this binary's level */
    MIGRATE_EXIT_UNREACHABLE = 4,  /* database not reachable within MIGRATE_CONNECT_TIMEOUT_SECONDS */
    MIGRATE_EXIT_LOCK_TIMEOUT = 5, /* another runner held the lock for MIGRATE_LOCK_TIMEOUT_SECONDS */
    MIGRATE_EXIT_INTERRUPTED = 6,  /* SIGTERM/SIGINT; the current migration rolled back */
    MIGRATE_EXIT_PHASE_ORDER = 7,  /* --phase expand: an expand this binary needs waits behind a contract */
    MIGRATE_EXIT_ROLLOUT = 8,      /* --wait-rollout: the Deployment did not finish rolling out in time */
    MIGRATE_EXIT_USAGE = BASE_EXIT_USAGE,
};

/* argv[0] is "migrate"; returns the process exit code. */
int migrate_main(const struct config *cfg, int argc, char **argv);
/* The arguments alone, before any configuration is read (so `--help` and usage errors need no
 * DATABASE_URL): -1 when they are valid, else the exit code after printing help (0) or usage (64). */
int migrate_args(int argc, char **argv);

/* `bollard dev`: opens (creating if needed) the SQLite file at `path` and applies every pending
 * SQLite migration with the same bookkeeping, checksums and floor as on PostgreSQL, so readiness
 * judges a dev database exactly as a production one. Returns OK, FAILED (also I/O), CHECKSUM or
 * INCOMPATIBLE; reports JSON log lines, never the path (it is part of DATABASE_URL, a secret). */
enum migrate_exit migrate_sqlite(const char *path);

#endif
