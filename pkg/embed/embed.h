/* embed: files built into the binary at build time. pkg/embed/tools/embed.c writes each table
 * (pkg/embed/embed.mk); a module serving one (pkg/openapi's /docs, pkg/console's /) looks files up
 * here, so there is one generator and one lookup for every embedded asset. */
#ifndef BOLLARD_EMBED_H
#define BOLLARD_EMBED_H

#include <stdbool.h>
#include <stddef.h>

struct embed_file {
    const char *name;         /* served name; a hashed file's carries its digest (app.3f2a…c1.js) */
    const char *content_type; /* chosen by the generator from the name's extension */
    const char *data;         /* may hold NULs: len counts, not a terminator */
    size_t len;
    const char *gzip; /* the same bytes gzip-compressed at build time; NULL when not worth it */
    size_t gzip_len;
    const char *etag; /* strong ETag, quoted: a digest of data */
    bool immutable;   /* the name carries the digest, so the content never changes under it */
};

/* Declares a generated table and its length (TABLE_count); the generated file uses it too, so the
 * declaration and the definition cannot disagree. */
#define EMBED_TABLE(table)                                                                                   \
    extern const struct embed_file table[];                                                                  \
    extern const size_t table##_count

/* The file called exactly name[0..name_len) ("..", "%2e" or "a/b" simply match nothing); NULL if none. */
const struct embed_file *embed_find(const struct embed_file *table, size_t count, const char *name,
                                    size_t name_len);

/* Does an Accept-Encoding value admit gzip (a "gzip" or "*" coding whose q is not 0)? */
bool embed_accepts_gzip(const char *value, size_t len);

#endif
