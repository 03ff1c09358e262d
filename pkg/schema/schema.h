/* schema: the migrations built into this binary and the compatibility rule of CONTRACT §4. */
#ifndef BOLLARD_SCHEMA_H
#define BOLLARD_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

/* Highest migration version this binary was built with. */
long schema_binary_level(void);
/* Highest version this binary's code needs: its last expand migration. A contract only removes what
 * the code no longer uses, so a binary works before its own contracts are applied (that is what lets
 * its pods turn ready during the rollout, before the contract phase). */
long schema_needed_level(void);
/* Parameterless SQL returning one row (applied_version bigint, floor bigint) from the bookkeeping
 * table; it fails with SQLSTATE 42P01 when migrate never ran. */
const char *schema_state_sql(void);
enum schema_compat { SCHEMA_COMPATIBLE = 0, SCHEMA_NOT_MIGRATED, SCHEMA_BEHIND, SCHEMA_TOO_NEW };
/* db_version/db_floor as read with schema_state_sql; writes a one-line human reason (no secrets)
 * into reason. */
enum schema_compat schema_compat_evaluate(long db_version, long db_floor, char *reason, size_t cap);

/* SCHEMA_NOT_MIGRATED: no migration applied (table missing or empty; pass db_version 0).
 * SCHEMA_BEHIND: the database lacks migrations this binary needs (db_version < binary level).
 * SCHEMA_TOO_NEW: a contract migration raised the floor above this binary's level. */

/* The same rule for any level; schema_compat_evaluate() is schema_compat_evaluate_levels() with
 * schema_needed_level() and schema_binary_level(); _for() is _levels() with needed == level. */
enum schema_compat schema_compat_evaluate_for(long binary_level, long db_version, long db_floor, char *reason,
                                              size_t cap);
/* SCHEMA_BEHIND when db_version < needed_level, SCHEMA_TOO_NEW when db_floor > binary_level. */
enum schema_compat schema_compat_evaluate_levels(long needed_level, long binary_level, long db_version,
                                                 long db_floor, char *reason, size_t cap);

/* ---- The embedded migrations (generated from the .sql files in migrations/ at build time). ---- */

/* The bookkeeping table the runner writes and schema_state_sql() reads. */
#define SCHEMA_TABLE "bollard_schema_migrations"

enum schema_kind { SCHEMA_EXPAND = 1, SCHEMA_CONTRACT = 2 };

#define SCHEMA_NAME_MAX       128
#define SCHEMA_SHA256_HEX_LEN 64

/* Everything is parsed, validated and checksummed at build time; these are read-only constants. */
struct schema_migration {
    long version;          /* from the file name: 0001_users.sql -> 1 */
    const char *name;      /* from the file name: "users" */
    enum schema_kind kind; /* from the first line: "-- bollard: expand" or "-- bollard: contract" */
    const char *sql;       /* the whole file, NUL-terminated */
    size_t sql_len;
    const char *checksum; /* lower-case hex SHA-256 of the file's bytes */
};

/* Number of migrations built into this binary, in ascending version order. */
size_t schema_migration_count(void);
/* The i-th one (0 <= i < count); NULL when out of range. */
const struct schema_migration *schema_migration_at(size_t i);
/* Floor after applying everything up to and including index i (expand keeps it, contract raises it
 * to that migration's version); prev_floor is the floor before the first migration (0). */
long schema_floor_after(long prev_floor, const struct schema_migration *m);

/* ---- Phases (CONTRACT §4): expand before a rollout, contract after it. ---- */

/* all (default): every pending migration. expand: the pending ones up to, not including, the first
 * pending contract (an expand after it waits for the contract phase, so a contract never runs
 * before the expands that precede it and nothing runs out of order). contract: every pending one
 * (the contracts and whatever follows them; expands still pending before them first). */
enum schema_phase { SCHEMA_PHASE_ALL = 0, SCHEMA_PHASE_EXPAND, SCHEMA_PHASE_CONTRACT };
/* How many of the n pending migrations (pending[] indexes into migrations[], ascending) belong to
 * the expand phase: the prefix before the first contract. */
size_t schema_expand_phase_count(const struct schema_migration *migrations, const size_t *pending, size_t n);
/* How many of them a run of `phase` applies (a prefix of pending). */
size_t schema_phase_count(enum schema_phase phase, const struct schema_migration *migrations,
                          const size_t *pending, size_t n);
/* Highest expand version in migrations[0..n) (0 when none): schema_needed_level() of that set. */
long schema_needed_level_of(const struct schema_migration *migrations, size_t n);
bool schema_phase_parse(const char *text, enum schema_phase *phase);
const char *schema_phase_name(enum schema_phase phase);

/* ---- Pure helpers (shared with the build-time embedder; unit-tested). ---- */

/* "0001_users.sql" -> version 1, name "users". Returns false (with a reason) when the name is not
 * NNNN_name.sql with NNNN > 0 and name of [a-z0-9_]. */
bool schema_parse_filename(const char *filename, long *version, char *name, size_t name_cap, char *err,
                           size_t err_cap);
/* Reads the kind from the first line of the SQL ("-- bollard: expand|contract"). */
bool schema_parse_kind(const char *sql, size_t len, enum schema_kind *kind, char *err, size_t err_cap);
const char *schema_kind_name(enum schema_kind kind);
/* Lower-case hex SHA-256 of data into out[65]; false only if the crypto library fails. */
bool schema_sha256_hex(const void *data, size_t len, char out[SCHEMA_SHA256_HEX_LEN + 1]);

#endif
