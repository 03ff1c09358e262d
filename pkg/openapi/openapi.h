/* openapi: the API's OpenAPI 3.1 document and the files of its /docs page, both built into the
 * binary at build time (pkg/openapi/openapi.mk), so serving them needs no file and no network. */
#ifndef BOLLARD_OPENAPI_H
#define BOLLARD_OPENAPI_H

#include <stddef.h>

/* The OpenAPI 3.1 document (JSON text, built into the binary). */
const char *openapi_document(size_t *len);
/* A /docs asset for a normalised request path without its query ("/docs", "/docs/", "/docs/<file>");
 * NULL when unknown (a '?' in the path is part of a file name, and none has one).
 * *content_type is a static string. */
const char *openapi_docs_asset(const char *path, size_t path_len, size_t *len, const char **content_type);

#endif
