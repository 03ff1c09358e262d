/* devdb: the SQLite database file of `bollard dev`. Applies the SQLite twin of every migration
 * (migrations/sqlite, embedded at build time) with the same bookkeeping table, checksums and
 * compatibility floor that `bollard migrate` keeps on PostgreSQL, so readiness (CONTRACT §4)
 * judges a dev database exactly as it judges a production one. */
#ifndef BOLLARD_DEVDB_H
#define BOLLARD_DEVDB_H

/* Outcomes; the numbers are `bollard migrate`'s exit codes for the same cases. */
enum devdb_status {
    DEVDB_OK = 0,           /* applied, or nothing to do */
    DEVDB_FAILED = 1,       /* a migration or the bookkeeping failed (rolled back), or I/O */
    DEVDB_CHECKSUM = 2,     /* an applied migration changed, or the history diverged */
    DEVDB_INCOMPATIBLE = 3, /* the file's floor is above this binary's level */
};

/* Opens (creating if needed) the SQLite file at `path` and applies every pending migration, each in
 * its own transaction together with its bookkeeping row. Reports one JSON log line per step and
 * per problem; the path itself is never logged (it is part of DATABASE_URL, a secret). */
enum devdb_status devdb_migrate(const char *path);

#endif
