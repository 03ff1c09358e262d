/* Internal: the files that pkg/openapi/tools/embed.c generates a C table of at build time. */
#ifndef BOLLARD_OPENAPI_EMBEDDED_H
#define BOLLARD_OPENAPI_EMBEDDED_H

#include <stddef.h>

struct openapi_embedded_file {
    const char *name;         /* file name under /docs/; "openapi.json" for the document */
    const char *content_type; /* chosen by the generator from the name's extension */
    const char *data;         /* not NUL-terminated as far as len is concerned (may hold NULs) */
    size_t len;
};

/* pkg/openapi/openapi.json, byte for byte (the generator has parsed it and checked its version). */
extern const struct openapi_embedded_file openapi_embedded_document;
/* The /docs files; "index.html" is the page itself. Names are unique. */
extern const struct openapi_embedded_file openapi_embedded_docs[];
extern const size_t openapi_embedded_docs_count;

#endif
