/* Lookup over the table generated from pkg/openapi/openapi.json and the /docs files (pkg/embed). */
#include "openapi/openapi.h"
#include "embed/embed.h"

#include <string.h>

/* openapi.json and the /docs files; "index.html" is the page itself (openapi.mk). */
EMBED_TABLE(openapi_files);

static const char document_name[] = "openapi.json";

const char *openapi_document(size_t *len)
{
    const struct embed_file *f =
        embed_find(openapi_files, openapi_files_count, document_name, sizeof(document_name) - 1);
    /* The generator refuses a table without it (--require openapi.json), so f is never NULL. */
    *len = f->len;
    return f->data;
}

const char *openapi_docs_asset(const char *path, size_t path_len, size_t *len, const char **content_type)
{
    static const char prefix[] = "/docs";
    const size_t prefix_len = sizeof(prefix) - 1;
    if (path_len < prefix_len || memcmp(path, prefix, prefix_len) != 0)
        return NULL;
    const char *name = path + prefix_len;
    size_t name_len = path_len - prefix_len;
    const struct embed_file *f = NULL;
    if (name_len == 0 || (name_len == 1 && name[0] == '/'))
        f = embed_find(openapi_files, openapi_files_count, "index.html", strlen("index.html"));
    else if (name[0] == '/')
        /* Exact names only: "..", "%2e" or a nested path simply match nothing. The document is
         * served at /openapi.json, not under /docs. */
        f = embed_find(openapi_files, openapi_files_count, name + 1, name_len - 1);
    if (f == NULL || strcmp(f->name, document_name) == 0)
        return NULL;
    *len = f->len;
    *content_type = f->content_type;
    return f->data;
}
