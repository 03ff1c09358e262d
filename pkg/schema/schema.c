/* The migrations built into this binary (see embedded.h) and the rule applied to them. */
#include "schema/embedded.h"
#include "schema/schema.h"

long schema_binary_level(void)
{
    if (schema_embedded_migration_count == 0)
        return 0;
    return schema_embedded_migrations[schema_embedded_migration_count - 1].version;
}

long schema_needed_level(void)
{
    return schema_needed_level_of(schema_embedded_migrations, schema_embedded_migration_count);
}

/* max(floor) is the latest row's floor: floors never decrease (expand keeps, contract raises). */
const char *schema_state_sql(void)
{
    return "SELECT coalesce(max(version), 0)::bigint AS applied_version, coalesce(max(floor), 0)::bigint AS "
           "floor "
           "FROM " SCHEMA_TABLE;
}

enum schema_compat schema_compat_evaluate(long db_version, long db_floor, char *reason, size_t cap)
{
    return schema_compat_evaluate_levels(schema_needed_level(), schema_binary_level(), db_version, db_floor,
                                         reason, cap);
}

size_t schema_migration_count(void)
{
    return schema_embedded_migration_count;
}

const struct schema_migration *schema_migration_at(size_t i)
{
    return i < schema_embedded_migration_count ? &schema_embedded_migrations[i] : NULL;
}
