/* Lookup over the tables generated from pkg/openapi/openapi.json and the /docs files. */
#include "openapi/openapi.h"
#include "openapi/embedded.h"

#include <string.h>

const char *openapi_document(size_t *len)
{
    *len = openapi_embedded_document.len;
    return openapi_embedded_document.data;
}

static const struct openapi_embedded_file *find_docs_file(const char *name, size_t name_len)
{
    for (size_t i = 0; i < openapi_embedded_docs_count; i++) {
        const struct openapi_embedded_file *f = &openapi_embedded_docs[i];
        if (strlen(f->name) == name_len && memcmp(f->name, name, name_len) == 0)
            return f;
    }
    return NULL;
}

const char *openapi_docs_asset(const char *path, size_t path_len, size_t *len, const char **content_type)
{
    static const char prefix[] = "/docs";
    const size_t prefix_len = sizeof(prefix) - 1;
    if (path_len < prefix_len || memcmp(path, prefix, prefix_len) != 0)
        return NULL;
    const char *name = path + prefix_len;
    size_t name_len = path_len - prefix_len;
    const struct openapi_embedded_file *f = NULL;
    if (name_len == 0 || (name_len == 1 && name[0] == '/'))
        f = find_docs_file("index.html", strlen("index.html"));
    else if (name[0] == '/')
        /* Exact names only: "..", "%2e" or a nested path simply match nothing. */
        f = find_docs_file(name + 1, name_len - 1);
    if (f == NULL)
        return NULL;
    *len = f->len;
    *content_type = f->content_type;
    return f->data;
}
