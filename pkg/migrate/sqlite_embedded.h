/* Internal to pkg/migrate: the SQLite migration table that migrations/embed.c generates from the
 * .sql files of migrations/sqlite/ at build time (see migrations/migrations.mk). */
#ifndef BOLLARD_MIGRATE_SQLITE_EMBEDDED_H
#define BOLLARD_MIGRATE_SQLITE_EMBEDDED_H

#include "schema/schema.h"

/* Ascending by version, no duplicates (the generator refuses anything else). */
extern const struct schema_migration migrate_sqlite_migrations[];
extern const size_t migrate_sqlite_migration_count;

#endif
