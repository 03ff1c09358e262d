/* Build-time tool: writes one C table of struct embed_file (pkg/embed/embed.h) from a list of
 * files, so the binary serves them without any file or network access. One generator for every
 * embedded asset set (pkg/openapi's /docs, pkg/console's /).
 *
 * usage: embed OUT.c TABLE [--gzip] [--require NAME] ITEM...
 *   ITEM: [--openapi | --hashed | --template] NAME=FILE
 * TABLE        the C name of the table (and TABLE_count), declared with EMBED_TABLE(TABLE).
 * --gzip       also store each text file gzip-compressed (level 9) when that saves at least 10%.
 * --require    fail unless an item is served as NAME (a page without its index.html is a mistake);
 *              up to EMBED_REQUIRE_MAX times.
 * --openapi    the file must parse as JSON and declare OpenAPI 3.1, so a broken edit fails the build;
 *              with --version=V (anywhere before it) its info.version must be V as well.
 * --hashed     served as STEM.<digest>.EXT and marked immutable (long cache lifetimes are safe).
 * --template   each {{NAME}} in the file becomes the served name of the hashed item NAME; an unknown
 *              placeholder fails the build.
 * Each NAME is a URL path segment matched byte for byte; its extension picks the content type, and
 * an unknown extension fails the build instead of serving a guess. Output is deterministic (gzip
 * without a time stamp), so the same sources give the same binary. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

/* The largest file is Swagger UI's bundle (≈1.7 MB); anything far above is a mistake. */
#define EMBED_FILE_MAX    (16L * 1024 * 1024)
#define EMBED_NAME_MAX    64
#define EMBED_HASH_HEX    12 /* of the SHA-256 in a hashed name: 48 bits, enough to tell versions apart */
#define EMBED_ETAG_HEX    20
#define EMBED_REQUIRE_MAX 8

enum item_kind { ITEM_PLAIN, ITEM_OPENAPI, ITEM_HASHED, ITEM_TEMPLATE };

struct embed_item {
    enum item_kind kind;
    char name[EMBED_NAME_MAX + 1];    /* as given */
    char served[EMBED_NAME_MAX + 32]; /* as served (hashed items carry their digest) */
    const char *path;
    const char *content_type;
    bool compressible;
    char *data;
    size_t len;
    unsigned char *gz;
    size_t gz_len;
    char digest_hex[2 * 32 + 1];
};

static char *read_whole_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "embed: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > EMBED_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "embed: %s: cannot read (or larger than %ld bytes)\n", path, EMBED_FILE_MAX);
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "embed: %s: read failed\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[size] = '\0';
    *len_out = (size_t)size;
    return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const char *content_type_for(const char *name, bool *compressible)
{
    static const struct {
        const char *suffix;
        const char *type;
        bool text;
    } types[] = {
        {".html", "text/html; charset=utf-8", true},
        {".css", "text/css; charset=utf-8", true},
        {".js", "text/javascript; charset=utf-8", true},
        {".json", "application/json", true},
        {".svg", "image/svg+xml", true},
        {".png", "image/png", false},
        {".txt", "text/plain; charset=utf-8", true},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (ends_with(name, types[i].suffix)) {
            *compressible = types[i].text;
            return types[i].type;
        }
    return NULL;
}

/* Names become URL path segments matched byte for byte: keep them to a plain, safe alphabet. */
static bool name_is_plain(const char *name)
{
    if (name[0] == '\0' || name[0] == '.')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '.' || *p == '-' || *p == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* want_version (may be NULL): the repository's VERSION, which info.version must equal, so the
 * document can never describe another version than the binary it is built into. */
static bool check_openapi(const char *path, const char *text, size_t len, const char *want_version)
{
    json_error_t error;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (doc == NULL) {
        fprintf(stderr, "%s:%d:%d: %s\n", path, error.line, error.column, error.text);
        return false;
    }
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    bool ok =
        version != NULL && strncmp(version, "3.1.", 4) == 0 && json_is_object(json_object_get(doc, "paths"));
    if (!ok)
        fprintf(stderr, "%s: not an OpenAPI 3.1 document (\"openapi\": \"3.1.x\" and \"paths\" needed)\n",
                path);
    const char *info_version = json_string_value(json_object_get(json_object_get(doc, "info"), "version"));
    if (ok && want_version != NULL && (info_version == NULL || strcmp(info_version, want_version) != 0)) {
        fprintf(stderr, "%s: info.version is \"%s\" but VERSION is \"%s\": set the same version in both\n",
                path, info_version != NULL ? info_version : "(missing)", want_version);
        ok = false;
    }
    json_decref(doc);
    return ok;
}

static bool digest(struct embed_item *it)
{
    unsigned char md[32];
    unsigned int md_len = 0;
    if (EVP_Digest(it->data, it->len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(md)) {
        fprintf(stderr, "embed: %s: SHA-256 failed\n", it->path);
        return false;
    }
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(it->digest_hex + 2 * i, 3, "%02x", md[i]);
    return true;
}

/* "app.js" -> "app.<digest>.js" (before the last extension). */
static void hashed_name(struct embed_item *it)
{
    const char *dot = strrchr(it->name, '.');
    int stem = (int)(dot - it->name);
    snprintf(it->served, sizeof(it->served), "%.*s.%.*s%s", stem, it->name, EMBED_HASH_HEX, it->digest_hex,
             dot);
}

/* gzip (RFC 1952) at level 9; zlib writes no time stamp or name, so the bytes depend on the input
 * only. Kept only when it saves at least 10%: decompressing costs the client time too. */
static bool compress_item(struct embed_item *it)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    uLong cap = deflateBound(&zs, (uLong)it->len);
    it->gz = malloc(cap);
    bool ok = it->gz != NULL;
    if (ok) {
        zs.next_in = (Bytef *)it->data;
        zs.avail_in = (uInt)it->len;
        zs.next_out = it->gz;
        zs.avail_out = (uInt)cap;
        ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
        it->gz_len = zs.total_out;
    }
    deflateEnd(&zs);
    if (!ok) {
        fprintf(stderr, "embed: %s: gzip failed\n", it->path);
        return false;
    }
    if (it->gz_len * 10 > it->len * 9) {
        free(it->gz);
        it->gz = NULL;
        it->gz_len = 0;
    }
    return true;
}

/* Replaces each {{NAME}} by the served name of the hashed item NAME. */
static bool expand_template(struct embed_item *it, const struct embed_item *items, size_t n)
{
    size_t cap = it->len + 1, used = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return false;
    const char *p = it->data, *end = it->data + it->len;
    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), "{{", 2);
        const char *close = open != NULL ? memmem(open, (size_t)(end - open), "}}", 2) : NULL;
        const char *copy_end = close != NULL ? open : end;
        size_t chunk = (size_t)(copy_end - p);
        const char *replacement = NULL;
        if (close != NULL) {
            size_t key_len = (size_t)(close - open - 2);
            for (size_t i = 0; i < n && replacement == NULL; i++)
                if (items[i].kind == ITEM_HASHED && strlen(items[i].name) == key_len &&
                    memcmp(items[i].name, open + 2, key_len) == 0)
                    replacement = items[i].served;
            if (replacement == NULL) {
                fprintf(stderr, "embed: %s: {{%.*s}} names no hashed item\n", it->path, (int)key_len,
                        open + 2);
                free(out);
                return false;
            }
        }
        size_t need = used + chunk + (replacement != NULL ? strlen(replacement) : 0) + 1;
        if (need > cap) {
            cap = need * 2;
            char *grown = realloc(out, cap);
            if (grown == NULL) {
                free(out);
                return false;
            }
            out = grown;
        }
        memcpy(out + used, p, chunk);
        used += chunk;
        if (replacement != NULL) {
            memcpy(out + used, replacement, strlen(replacement));
            used += strlen(replacement);
            p = close + 2;
        } else {
            p = end;
        }
    }
    out[used] = '\0';
    free(it->data);
    it->data = out;
    it->len = used;
    return true;
}

/* One C string literal, split into lines; octal escapes are always three digits so that a digit
 * after one can never extend it. */
static void write_literal(FILE *out, const unsigned char *data, size_t len)
{
    size_t column = 0;
    fputs("    \"", out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = data[i];
        if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '"' || c == '\\') {
            fprintf(out, "\\%c", c);
        } else if (c == '?') {
            fputs("\\?", out); /* never part of a trigraph, whatever the compiler's mode */
        } else if (c >= 0x20 && c < 0x7f) {
            fputc(c, out);
        } else {
            fprintf(out, "\\%03o", c);
            column += 3;
        }
        column++;
        if ((c == '\n' || column >= 100) && i + 1 < len) {
            fputs("\"\n    \"", out);
            column = 0;
        }
    }
    fputs("\"", out);
}

static bool write_table(const char *out_path, const char *table, const struct embed_item *items, size_t n)
{
    /* Written to a temporary name and renamed, so an interrupted build leaves no half table. */
    char tmp_path[4096];
    if (snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", out_path) >= (int)sizeof(tmp_path))
        return false;
    FILE *out = fopen(tmp_path, "w");
    if (out == NULL) {
        fprintf(stderr, "embed: %s: %s\n", tmp_path, strerror(errno));
        return false;
    }
    fputs("/* Generated at build time by pkg/embed/tools/embed.c. Do not edit. */\n", out);
    fputs("#include \"embed/embed.h\"\n\n", out);
    fprintf(out, "EMBED_TABLE(%s);\n\n", table);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "/* %s */\nstatic const char data_%zu[] =\n", items[i].path, i);
        write_literal(out, (const unsigned char *)items[i].data, items[i].len);
        fputs(";\n\n", out);
        if (items[i].gz != NULL) {
            fprintf(out, "static const char gzip_%zu[] =\n", i);
            write_literal(out, items[i].gz, items[i].gz_len);
            fputs(";\n\n", out);
        }
    }
    /* sizeof - 1: the literal's own terminating NUL is not part of the file. */
    fprintf(out, "const struct embed_file %s[] = {\n", table);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "    {\"%s\", \"%s\", data_%zu, sizeof(data_%zu) - 1, ", items[i].served,
                items[i].content_type, i, i);
        if (items[i].gz != NULL)
            fprintf(out, "gzip_%zu, sizeof(gzip_%zu) - 1, ", i, i);
        else
            fputs("NULL, 0, ", out);
        fprintf(out, "\"\\\"%.*s\\\"\", %s},\n", EMBED_ETAG_HEX, items[i].digest_hex,
                items[i].kind == ITEM_HASHED ? "true" : "false");
    }
    fputs("};\n", out);
    fprintf(out, "const size_t %s_count = %zu;\n", table, n);
    bool written = !ferror(out);
    if (fclose(out) != 0 || !written || rename(tmp_path, out_path) != 0) {
        fprintf(stderr, "embed: cannot write %s\n", out_path);
        remove(tmp_path);
        return false;
    }
    return true;
}

static bool c_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static int usage(void)
{
    fprintf(stderr, "usage: embed OUT.c TABLE [--gzip] [--require NAME] [--version=VERSION] "
                    "[--openapi|--hashed|--template] NAME=FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3 || !c_identifier(argv[2]))
        return usage();
    const char *out_path = argv[1], *table = argv[2];
    struct embed_item *items = calloc((size_t)argc, sizeof(*items));
    if (items == NULL)
        return 1;
    size_t n = 0;
    bool gzip = false;
    const char *required[EMBED_REQUIRE_MAX];
    size_t n_required = 0;
    int status = 1;
    enum item_kind next_kind = ITEM_PLAIN;
    const char *want_version = NULL; /* --version=V: an --openapi item's info.version must be V */
    for (int a = 3; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--gzip") == 0) {
            gzip = true;
            continue;
        }
        if (strncmp(arg, "--version=", 10) == 0) {
            want_version = arg + 10;
            continue;
        }
        if (strcmp(arg, "--require") == 0 && a + 1 < argc && n_required < EMBED_REQUIRE_MAX) {
            required[n_required++] = argv[++a];
            continue;
        }
        if (strcmp(arg, "--openapi") == 0 || strcmp(arg, "--hashed") == 0 || strcmp(arg, "--template") == 0) {
            next_kind = arg[2] == 'o' ? ITEM_OPENAPI : arg[2] == 'h' ? ITEM_HASHED : ITEM_TEMPLATE;
            continue;
        }
        struct embed_item *it = &items[n];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : 0;
        if (arg[0] == '-' || eq == NULL || name_len == 0 || name_len > EMBED_NAME_MAX || eq[1] == '\0') {
            fprintf(stderr, "embed: %s: expected NAME=FILE\n", arg);
            goto done;
        }
        memcpy(it->name, arg, name_len);
        it->kind = next_kind;
        next_kind = ITEM_PLAIN;
        it->path = eq + 1;
        it->content_type = content_type_for(it->name, &it->compressible);
        if (!name_is_plain(it->name) || it->content_type == NULL || strchr(it->name, '.') == NULL) {
            fprintf(stderr, "embed: %s: a name needs [A-Za-z0-9._-] and a known extension\n", it->name);
            goto done;
        }
        for (size_t j = 0; j < n; j++)
            if (strcmp(items[j].name, it->name) == 0) {
                fprintf(stderr, "embed: %s given twice\n", it->name);
                goto done;
            }
        it->data = read_whole_file(it->path, &it->len);
        if (it->data == NULL)
            goto done;
        if (it->kind == ITEM_OPENAPI && !check_openapi(it->path, it->data, it->len, want_version))
            goto done;
        n++;
    }
    if (next_kind != ITEM_PLAIN)
        return usage();
    /* Hashed items first: templates refer to their served names. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            struct embed_item *it = &items[i];
            if ((pass == 0) != (it->kind != ITEM_TEMPLATE))
                continue;
            if (it->kind == ITEM_TEMPLATE && !expand_template(it, items, n))
                goto done;
            if (!digest(it))
                goto done;
            if (it->kind == ITEM_HASHED)
                hashed_name(it);
            else
                snprintf(it->served, sizeof(it->served), "%s", it->name);
            if (gzip && it->compressible && !compress_item(it))
                goto done;
        }
    for (size_t r = 0; r < n_required; r++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(items[i].served, required[r]) == 0;
        if (!found) {
            fprintf(stderr, "embed: no %s among the files of %s\n", required[r], table);
            goto done;
        }
    }
    if (write_table(out_path, table, items, n))
        status = 0;
done:
    for (size_t i = 0; i < n + 1 && i < (size_t)argc; i++) {
        free(items[i].data);
        free(items[i].gz);
    }
    free(items);
    return status;
}
