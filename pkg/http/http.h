/* http: one request/response exchange on an event loop — routing, request ids, CORS, JSON and
 * problem+json responses, and the access log line. Knows nothing of the application: handlers find
 * their handles through the exchange's opaque `app` pointer, and per-request metrics are the
 * application's `observe` hook. */
#ifndef BOLLARD_HTTP_H
#define BOLLARD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>
#include <jansson.h>

#include "log/log.h"

/* Called once per answered exchange, just before the response is sent: the application's
 * per-request accounting (metrics). route_index indexes http_router_route_names(). */
typedef void (*http_observe_fn)(void *arg, size_t route_index, h2o_iovec_t method, int status,
                                uint64_t duration_ns);

/* One event loop's HTTP state. Owned by pkg/server, one per thread; the application fills `app`,
 * `observe`, `cors_origins` and `access_log` when the loop is created and never sees inside. */
struct http_loop {
    h2o_evloop_t *loop;
    h2o_context_t *ctx;
    void *app;               /* the application's context for this loop, handed to every exchange */
    http_observe_fn observe; /* may be NULL */
    void *observe_arg;
    const char *cors_origins; /* FRONTEND_URL: comma-separated origins allowed by CORS; NULL = none */
    bool access_log;          /* one log line per answered request */
    size_t max_body_bytes;    /* MAX_BODY_BYTES: a larger body gets 413 problem+json; 0 = no limit here */
    size_t inflight;          /* exchanges not yet answered on this loop */
};

#define HTTP_MAX_PARAMS 4

/* h2o 2.2.5 reads a whole body before the request reaches http_dispatch and answers a body over its
 * own limit itself (text/plain, no X-Request-Id). The server sets that limit to this many times
 * MAX_BODY_BYTES, so a body up to it gets http_dispatch's 413 problem+json with the request id, and
 * only a body larger still is refused by h2o before it is read (memory stays bounded). */
#define HTTP_BODY_READ_FACTOR 4

struct http_exchange;
typedef void (*http_handler_fn)(struct http_exchange *ex);
/* Called if the request goes away before an asynchronous handler answered. */
typedef void (*http_abandon_fn)(struct http_exchange *ex);

/* A route: METHOD + pattern of literal segments and {name} placeholders. */
struct http_route {
    const char *method;
    const char *pattern;
    http_handler_fn handler;
};

struct http_exchange {
    h2o_req_t *req; /* NULL once the request went away */
    struct http_loop *loop;
    void *app;          /* = loop->app: the application's context, opaque to pkg/http */
    size_t route_index; /* index into the router's pattern list, for metrics */
    h2o_iovec_t params[HTTP_MAX_PARAMS];
    size_t n_params;
    char request_id[LOG_REQUEST_ID_MAX + 1];
    uint64_t started_ns;
    bool answered;
    http_abandon_fn on_abandon;
    void *handler_data;
    h2o_iovec_t cors_origin;    /* the request's Origin when FRONTEND_URL allows it */
    struct http_stream *stream; /* set by http_stream_start */
};

struct http_router;
/* routes must outlive the router. */
struct http_router *http_router_create(const struct http_route *routes, size_t n_routes);
void http_router_destroy(struct http_router *router);
/* Distinct patterns (metrics label values) + "unmatched" as the last one. */
const char *const *http_router_route_names(const struct http_router *router, size_t *count);
/* RFC 9112 framing of a request head exactly as it arrived (`buf` starts at the request; bytes after
 * the head's empty line are not looked at). h2o 2.2.5's parser (picohttpparser) accepts, and then
 * resolves silently, framing that a proxy in front may read differently (request smuggling); this
 * refuses them: two Content-Length values that differ or one that is not a single number, Content-
 * Length together with Transfer-Encoding, Transfer-Encoding other than exactly one "chunked" (or
 * any Transfer-Encoding on HTTP/1.0), obs-fold continuation lines, and bare-LF line endings.
 * `method` is the method h2o parsed: the head must start with it (proof that `buf` is this
 * request's head). Returns false with the reason. */
bool http_head_framing_ok(const char *buf, size_t len, h2o_iovec_t method, bool http10, char *why,
                          size_t cap);

/* The h2o entry point: refuses ambiguous framing (http_head_framing_ok on the connection's input
 * buffer) with 400 and closes the connection, answers 404/405 itself, else calls the handler. */
void http_dispatch(const struct http_router *router, struct http_loop *loop, h2o_req_t *req);

/* Responses (each answers the exchange once; later calls are ignored). */
void http_respond(struct http_exchange *ex, int status, const char *content_type, const char *body,
                  size_t len);
void http_respond_json(struct http_exchange *ex, int status, json_t *body /* stolen */);
/* RFC 9457 problem details; `extra` (may be NULL, stolen) adds members such as "errors". */
void http_respond_problem(struct http_exchange *ex, int status, const char *title, const char *detail,
                          json_t *extra);
void http_add_header(struct http_exchange *ex, const char *name, const char *value);

/* ---- streamed responses (Server-Sent Events) ----
 * http_stream_start answers the exchange with `status`, the headers added so far and a body written
 * piece by piece (chunked). Pieces are queued and handed to h2o one write at a time (its generator
 * protocol: one h2o_send in flight, the next from `proceed`); the queue is bounded
 * (HTTP_STREAM_QUEUE_MAX bytes: past it the stream is cut, as for a client that stopped reading).
 * `tick` (may be NULL) runs about once a second until the stream ends — the place for a keep-alive
 * comment, which is also how a hang-up is noticed while nothing else is written (h2o 2.2.5 does not
 * read an HTTP/1.1 connection while it produces a response; only a failed write reveals it). A
 * client that goes away stops the ticks and calls the exchange's on_abandon. The exchange stays in
 * flight (a graceful shutdown waits for it) until http_stream_end, whose access-log line and
 * `observe` call carry the whole duration. Every call is ignored once the stream is over. */
#define HTTP_STREAM_QUEUE_MAX (1024 * 1024)
typedef void (*http_tick_fn)(struct http_exchange *ex);
bool http_stream_start(struct http_exchange *ex, int status, const char *content_type, http_tick_fn tick);
void http_stream_write(struct http_exchange *ex, const char *data, size_t len);
void http_stream_end(struct http_exchange *ex);
/* The request went away or the stream ended (no more writes will be sent). */
bool http_stream_closed(const struct http_exchange *ex);

#endif
