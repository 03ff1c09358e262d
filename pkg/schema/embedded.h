/* Internal: the table that migrations/embed.c generates from the .sql files in migrations/ at build time. */
#ifndef BOLLARD_SCHEMA_EMBEDDED_H
#define BOLLARD_SCHEMA_EMBEDDED_H

#include "schema/schema.h"

/* Ascending by version, no duplicates (the generator refuses anything else). */
extern const struct schema_migration schema_embedded_migrations[];
extern const size_t schema_embedded_migration_count;

#endif
