/* The pure parts of the schema module: file names, kind headers, checksums, the compatibility rule.
 * Also compiled into the build-time embedder (migrations/embed.c), so no dependency on the rest but
 * pkg/base (compiled into the embedder as well). */
#include "schema/schema.h"

#include <string.h>

#include <openssl/evp.h>

#include "base/base.h"

#define SCHEMA_VERSION_MAX 999999999999L

bool schema_parse_filename(const char *filename, long *version, char *name, size_t name_cap, char *err,
                           size_t err_cap)
{
    const char *base = strrchr(filename, '/');
    base = base != NULL ? base + 1 : filename;
    const char *p = base;
    long v = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > SCHEMA_VERSION_MAX / 10) {
            base_why(err, err_cap, "%s: version number too large", base);
            return false;
        }
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || *p != '_') {
        base_why(err, err_cap, "%s: name must be NNNN_name.sql (digits, underscore, name)", base);
        return false;
    }
    if (v <= 0) {
        base_why(err, err_cap, "%s: version must be greater than 0", base);
        return false;
    }
    p++;
    const char *name_start = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
        p++;
    size_t name_len = (size_t)(p - name_start);
    if (name_len == 0 || strcmp(p, ".sql") != 0) {
        base_why(err, err_cap, "%s: name must be NNNN_name.sql with a name of [a-z0-9_]", base);
        return false;
    }
    if (name_len >= name_cap || name_len >= SCHEMA_NAME_MAX) {
        base_why(err, err_cap, "%s: name longer than %d characters", base, SCHEMA_NAME_MAX - 1);
        return false;
    }
    memcpy(name, name_start, name_len);
    name[name_len] = '\0';
    *version = v;
    return true;
}

static size_t skip_blanks(const char *s, size_t i, size_t end)
{
    while (i < end && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

bool schema_parse_kind(const char *sql, size_t len, enum schema_kind *kind, char *err, size_t err_cap)
{
    static const char usage[] = "first line must be \"-- bollard: expand\" or \"-- bollard: contract\"";
    static const char tag[] = "bollard:";
    const char *nl = memchr(sql, '\n', len);
    size_t end = nl != NULL ? (size_t)(nl - sql) : len;
    if (end > 0 && sql[end - 1] == '\r')
        end--;
    size_t i = 0;
    if (end < 2 || sql[0] != '-' || sql[1] != '-')
        goto bad;
    i = skip_blanks(sql, 2, end);
    if (end - i < sizeof(tag) - 1 || memcmp(sql + i, tag, sizeof(tag) - 1) != 0)
        goto bad;
    i = skip_blanks(sql, i + sizeof(tag) - 1, end);
    size_t word = i;
    while (i < end && sql[i] >= 'a' && sql[i] <= 'z')
        i++;
    size_t word_len = i - word;
    if (skip_blanks(sql, i, end) != end)
        goto bad;
    if (word_len == 6 && memcmp(sql + word, "expand", 6) == 0) {
        *kind = SCHEMA_EXPAND;
        return true;
    }
    if (word_len == 8 && memcmp(sql + word, "contract", 8) == 0) {
        *kind = SCHEMA_CONTRACT;
        return true;
    }
bad:
    base_why(err, err_cap, "%s", usage);
    return false;
}

const char *schema_kind_name(enum schema_kind kind)
{
    switch (kind) {
    case SCHEMA_EXPAND:
        return "expand";
    case SCHEMA_CONTRACT:
        return "contract";
    }
    return "unknown";
}

bool schema_sha256_hex(const void *data, size_t len, char out[SCHEMA_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len * 2 != SCHEMA_SHA256_HEX_LEN)
        return false;
    base_hex_encode(md, md_len, out);
    return true;
}

long schema_floor_after(long prev_floor, const struct schema_migration *m)
{
    return m->kind == SCHEMA_CONTRACT && m->version > prev_floor ? m->version : prev_floor;
}

enum schema_compat schema_compat_evaluate_for(long binary_level, long db_version, long db_floor, char *reason,
                                              size_t cap)
{
    return schema_compat_evaluate_levels(binary_level, binary_level, db_version, db_floor, reason, cap);
}

enum schema_compat schema_compat_evaluate_levels(long needed_level, long binary_level, long db_version,
                                                 long db_floor, char *reason, size_t cap)
{
    if (db_version <= 0) {
        base_why(reason, cap, "no migrations applied; run `bollard migrate` (this binary needs version %ld)",
                 needed_level);
        return SCHEMA_NOT_MIGRATED;
    }
    if (db_floor > binary_level) {
        base_why(reason, cap,
                 "database floor %ld is above this binary's level %ld (a contract migration ran); "
                 "deploy a binary at level %ld or newer",
                 db_floor, binary_level, db_floor);
        return SCHEMA_TOO_NEW;
    }
    if (db_version < needed_level) {
        base_why(reason, cap, "database is at version %ld, this binary needs %ld; run `bollard migrate`",
                 db_version, needed_level);
        return SCHEMA_BEHIND;
    }
    base_why(reason, cap, "database version %ld (floor %ld) is compatible with this binary's level %ld",
             db_version, db_floor, binary_level);
    return SCHEMA_COMPATIBLE;
}

size_t schema_expand_phase_count(const struct schema_migration *migrations, const size_t *pending, size_t n)
{
    size_t i = 0;
    while (i < n && migrations[pending[i]].kind != SCHEMA_CONTRACT)
        i++;
    return i;
}

size_t schema_phase_count(enum schema_phase phase, const struct schema_migration *migrations,
                          const size_t *pending, size_t n)
{
    return phase == SCHEMA_PHASE_EXPAND ? schema_expand_phase_count(migrations, pending, n) : n;
}

long schema_needed_level_of(const struct schema_migration *migrations, size_t n)
{
    long needed = 0;
    for (size_t i = 0; i < n; i++)
        if (migrations[i].kind == SCHEMA_EXPAND && migrations[i].version > needed)
            needed = migrations[i].version;
    return needed;
}

static const char *const phase_names[] = {
    [SCHEMA_PHASE_ALL] = "all", [SCHEMA_PHASE_EXPAND] = "expand", [SCHEMA_PHASE_CONTRACT] = "contract"};

bool schema_phase_parse(const char *text, enum schema_phase *phase)
{
    for (size_t i = 0; i < sizeof(phase_names) / sizeof(phase_names[0]); i++) {
        if (strcmp(text, phase_names[i]) == 0) {
            *phase = (enum schema_phase)i;
            return true;
        }
    }
    return false;
}

const char *schema_phase_name(enum schema_phase phase)
{
    return (size_t)phase < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[phase] : "?";
}
