/* Build-time tool: embeds migration files into a C source so the image needs no migration files.
 * usage: embed-migrations [--prefix NAME --header PATH] OUT.c FILE.sql...
 * Every file is validated here (name, kind header, unique version), so a malformed migration fails
 * the build instead of a deployment. Files are ordered by version, whatever order they come in.
 * By default the table is schema_embedded_migrations[] (schema/embedded.h, the PostgreSQL set);
 * --prefix/--header name another table and the header declaring it (the SQLite set of
 * `bollard dev`: migrate_sqlite_migrations[] in migrate/sqlite_embedded.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

#define MIGRATION_FILE_MAX (16L * 1024 * 1024)

struct input {
    const char *path;
    long version;
    char name[SCHEMA_NAME_MAX];
    enum schema_kind kind;
    char *sql;
    size_t sql_len;
    char checksum[SCHEMA_SHA256_HEX_LEN + 1];
};

static char *read_file(const char *path, size_t *len_out)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto fail;
    long size = ftell(f);
    if (size < 0 || size > MIGRATION_FILE_MAX || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto fail;
    buf[size] = '\0';
    if (memchr(buf, '\0', (size_t)size) != NULL) {
        fprintf(stderr, "%s: contains a NUL byte\n", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    *len_out = (size_t)size;
    goto out;
fail:
    fprintf(stderr, "%s: cannot read (or larger than %ld bytes)\n", path, MIGRATION_FILE_MAX);
    free(buf);
    buf = NULL;
out:
    fclose(f);
    return buf;
}

static int by_version(const void *a, const void *b)
{
    const struct input *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* What the generated table is called and which header declares it. */
struct table_names {
    const char *prefix; /* NAME_migrations[] and NAME_migration_count */
    const char *header;
};

static bool write_output(FILE *out, const struct table_names *names, const struct input *in, size_t n)
{
    fprintf(out, "/* Generated at build time by migrations/embed.c. Do not edit. */\n");
    fprintf(out, "#include \"%s\"\n\n", names->header);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "/* %s */\nstatic const char migration_sql_%zu[] = {", in[i].path, i);
        for (size_t j = 0; j <= in[i].sql_len; j++)
            fprintf(out, "%s0x%02x,", j % 16 == 0 ? "\n    " : " ", (unsigned char)in[i].sql[j]);
        fprintf(out, "\n};\n\n");
    }
    if (n == 0) {
        fprintf(out, "const struct schema_migration %s_migrations[1];\n", names->prefix);
    } else {
        fprintf(out, "const struct schema_migration %s_migrations[] = {\n", names->prefix);
        for (size_t i = 0; i < n; i++)
            fprintf(out, "    {%ldL, \"%s\", %s, migration_sql_%zu, %zu, \"%s\"},\n", in[i].version,
                    in[i].name, in[i].kind == SCHEMA_CONTRACT ? "SCHEMA_CONTRACT" : "SCHEMA_EXPAND", i,
                    in[i].sql_len, in[i].checksum);
        fprintf(out, "};\n");
    }
    fprintf(out, "const size_t %s_migration_count = %zu;\n", names->prefix, n);
    return ferror(out) == 0;
}

/* A C identifier and a plain relative header path, since both are pasted into C source. */
static bool valid_names(const struct table_names *names)
{
    const char *p = names->prefix;
    if (*p == '\0' || (*p >= '0' && *p <= '9'))
        return false;
    for (; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    if (names->header[0] == '\0')
        return false;
    for (p = names->header; *p != '\0'; p++)
        if (*p == '"' || *p == '\\' || *p == '\n')
            return false;
    return true;
}

int main(int argc, char **argv)
{
    int rc = 1;
    FILE *out = NULL;
    char tmp_path[4096];
    struct table_names names = {"schema_embedded", "schema/embedded.h"};
    const char *prog = argv[0];
    while (argc >= 3 && (strcmp(argv[1], "--prefix") == 0 || strcmp(argv[1], "--header") == 0)) {
        if (strcmp(argv[1], "--prefix") == 0)
            names.prefix = argv[2];
        else
            names.header = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc < 2 || argv[1][0] == '-' || !valid_names(&names)) {
        fprintf(stderr, "usage: %s [--prefix NAME --header PATH] OUT.c FILE.sql...\n", prog);
        return 2;
    }
    size_t n = (size_t)argc - 2;
    struct input *in = calloc(n > 0 ? n : 1, sizeof(*in));
    if (in == NULL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        char err[256];
        in[i].path = argv[i + 2];
        if (!schema_parse_filename(in[i].path, &in[i].version, in[i].name, sizeof(in[i].name), err,
                                   sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            goto cleanup;
        }
        in[i].sql = read_file(in[i].path, &in[i].sql_len);
        if (in[i].sql == NULL)
            goto cleanup;
        if (!schema_parse_kind(in[i].sql, in[i].sql_len, &in[i].kind, err, sizeof(err))) {
            fprintf(stderr, "%s:1: %s\n", in[i].path, err);
            goto cleanup;
        }
        if (!schema_sha256_hex(in[i].sql, in[i].sql_len, in[i].checksum)) {
            fprintf(stderr, "%s: SHA-256 failed\n", in[i].path);
            goto cleanup;
        }
    }
    qsort(in, n, sizeof(*in), by_version);
    for (size_t i = 1; i < n; i++) {
        if (in[i].version == in[i - 1].version) {
            fprintf(stderr, "%s and %s: both have version %ld\n", in[i - 1].path, in[i].path, in[i].version);
            goto cleanup;
        }
    }
    /* Written beside the target and renamed, so an interrupted build never leaves half a file. */
    int len = snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", argv[1]);
    if (len < 0 || (size_t)len >= sizeof(tmp_path))
        goto cleanup;
    out = fopen(tmp_path, "w");
    if (out == NULL) {
        fprintf(stderr, "%s: %s\n", tmp_path, strerror(errno));
        goto cleanup;
    }
    bool ok = write_output(out, &names, in, n);
    if (fclose(out) != 0 || !ok) {
        out = NULL;
        fprintf(stderr, "%s: write failed\n", tmp_path);
        goto cleanup;
    }
    out = NULL;
    if (rename(tmp_path, argv[1]) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (out != NULL)
        fclose(out);
    for (size_t i = 0; i < n; i++)
        free(in[i].sql);
    free(in);
    return rc;
}
