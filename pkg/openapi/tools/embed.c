/* Build-time tool: writes the C table of pkg/openapi/embedded.h from the OpenAPI document and the
 * /docs files, so the binary serves them without any file or network access.
 * usage: embed-openapi OUT.c DOCUMENT.json NAME=FILE...
 * The document must parse as JSON and declare OpenAPI 3.1, so a broken edit fails the build rather
 * than the /docs page. Each NAME is the file's name under /docs/; its extension picks the content
 * type, and an unknown extension fails the build instead of serving a guess. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The largest file is Swagger UI's bundle (≈1.7 MB); anything far above is a mistake. */
#define EMBED_FILE_MAX (16L * 1024 * 1024)
#define EMBED_NAME_MAX 64

struct embed_file {
    char name[EMBED_NAME_MAX + 1];
    const char *path;
    const char *content_type;
    char *data;
    size_t len;
};

static char *read_whole_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "embed-openapi: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > EMBED_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "embed-openapi: %s: cannot read (or larger than %ld bytes)\n", path, EMBED_FILE_MAX);
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "embed-openapi: %s: read failed\n", path);
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

static const char *content_type_for(const char *name)
{
    static const struct {
        const char *suffix;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".png", "image/png"},
        {".txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (ends_with(name, types[i].suffix))
            return types[i].type;
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
static bool check_document(const char *path, const char *text, size_t len, const char *want_version)
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

/* One C string literal, split into lines; octal escapes are always three digits so that a digit
 * after one can never extend it. */
static void write_literal(FILE *out, const char *data, size_t len)
{
    size_t column = 0;
    fputs("    \"", out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
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

static void write_file_entry(FILE *out, const struct embed_file *f, const char *var)
{
    fprintf(out, "/* %s */\nstatic const char %s[] =\n", f->path, var);
    write_literal(out, f->data, f->len);
    fputs(";\n\n", out);
}

static int usage(void)
{
    fprintf(stderr, "usage: embed-openapi [--version=VERSION] OUT.c DOCUMENT.json NAME=FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *want_version = NULL;
    if (argc > 1 && strncmp(argv[1], "--version=", 10) == 0) {
        want_version = argv[1] + 10;
        argv++;
        argc--;
    }
    if (argc < 3)
        return usage();
    const char *out_path = argv[1];
    size_t n_files = (size_t)(argc - 3);
    struct embed_file document = {
        .name = "openapi.json", .path = argv[2], .content_type = "application/json"};
    struct embed_file *files = calloc(n_files + 1, sizeof(*files));
    if (files == NULL)
        return 1;
    int status = 1;
    document.data = read_whole_file(document.path, &document.len);
    if (document.data == NULL || !check_document(document.path, document.data, document.len, want_version))
        goto done;
    bool has_index = false;
    for (size_t i = 0; i < n_files; i++) {
        const char *arg = argv[3 + i];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : 0;
        if (eq == NULL || name_len == 0 || name_len > EMBED_NAME_MAX || eq[1] == '\0') {
            fprintf(stderr, "embed-openapi: %s: expected NAME=FILE\n", arg);
            goto done;
        }
        memcpy(files[i].name, arg, name_len);
        files[i].path = eq + 1;
        files[i].content_type = content_type_for(files[i].name);
        if (!name_is_plain(files[i].name) || files[i].content_type == NULL) {
            fprintf(stderr, "embed-openapi: %s: a name needs [A-Za-z0-9._-] and a known extension\n",
                    files[i].name);
            goto done;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(files[j].name, files[i].name) == 0) {
                fprintf(stderr, "embed-openapi: %s given twice\n", files[i].name);
                goto done;
            }
        has_index = has_index || strcmp(files[i].name, "index.html") == 0;
        files[i].data = read_whole_file(files[i].path, &files[i].len);
        if (files[i].data == NULL)
            goto done;
    }
    if (!has_index) {
        fprintf(stderr, "embed-openapi: no index.html: /docs would have no page\n");
        goto done;
    }

    /* Written to a temporary name and renamed, so an interrupted build leaves no half table. */
    char tmp_path[4096];
    if (snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", out_path) >= (int)sizeof(tmp_path))
        goto done;
    FILE *out = fopen(tmp_path, "w");
    if (out == NULL) {
        fprintf(stderr, "embed-openapi: %s: %s\n", tmp_path, strerror(errno));
        goto done;
    }
    fputs("/* Generated at build time by pkg/openapi/tools/embed.c. Do not edit. */\n", out);
    fputs("#include \"openapi/embedded.h\"\n\n", out);
    write_file_entry(out, &document, "document_data");
    for (size_t i = 0; i < n_files; i++) {
        char var[32];
        snprintf(var, sizeof(var), "docs_data_%zu", i);
        write_file_entry(out, &files[i], var);
    }
    /* sizeof - 1: the literal's own terminating NUL is not part of the file. */
    fprintf(out,
            "const struct openapi_embedded_file openapi_embedded_document = {\"%s\", \"%s\", document_data, "
            "sizeof(document_data) - 1};\n\n",
            document.name, document.content_type);
    fputs("const struct openapi_embedded_file openapi_embedded_docs[] = {\n", out);
    for (size_t i = 0; i < n_files; i++)
        fprintf(out, "    {\"%s\", \"%s\", docs_data_%zu, sizeof(docs_data_%zu) - 1},\n", files[i].name,
                files[i].content_type, i, i);
    fputs("};\n", out);
    fprintf(out, "const size_t openapi_embedded_docs_count = %zu;\n", n_files);
    bool written = !ferror(out);
    if (fclose(out) != 0 || !written || rename(tmp_path, out_path) != 0) {
        fprintf(stderr, "embed-openapi: cannot write %s\n", out_path);
        remove(tmp_path);
        goto done;
    }
    status = 0;
done:
    free(document.data);
    for (size_t i = 0; i < n_files; i++)
        free(files[i].data);
    free(files);
    return status;
}
