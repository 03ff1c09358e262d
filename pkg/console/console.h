/* console: the web console at `/` (CONTRACT §10) — a small single-page application built into the
 * binary (pkg/console/web/, embedded by pkg/embed at build time, gzip-precompressed, hashed asset
 * names), served with a strict Content-Security-Policy. CONSOLE_ENABLED=false turns it off (404). */
#ifndef BOLLARD_CONSOLE_H
#define BOLLARD_CONSOLE_H

#include <stddef.h>

#include "http/http.h"

/* The Content-Security-Policy of every console response: everything from this origin only, no
 * inline script or style, no eval, never framed. */
#define CONSOLE_CSP                                                                                          \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "          \
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/* GET / (the page) and GET /console/{file} (its hashed assets). */
void console_handle(struct http_exchange *ex);

struct embed_file;
/* The embedded file a normalised request path names: "/" is the page; "/console/<name>" one of its
 * hashed assets (only those: everything under /console/ may be cached for a year). NULL if none. */
const struct embed_file *console_asset(const char *path, size_t path_len);

#endif
