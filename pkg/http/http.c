#include "http/http.h"
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 8

struct compiled_route {
    const struct http_route *route;
    size_t name_index;
    size_t n_segments;
    h2o_iovec_t segments[MAX_SEGMENTS]; /* "{...}" marks a placeholder */
};

struct http_router {
    struct compiled_route *routes;
    size_t n_routes;
    const char **names; /* distinct patterns, then "unmatched" */
    size_t n_names;
};

/* Splits "/a/{b}/c" into its segments; returns the count, or SIZE_MAX if there are too many. */
static size_t split_path(const char *path, size_t len, h2o_iovec_t *out, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (n == cap)
            return SIZE_MAX;
        out[n++] = h2o_iovec_init(path + start, i - start);
    }
    return n;
}

struct http_router *http_router_create(const struct http_route *routes, size_t n_routes)
{
    struct http_router *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->routes = calloc(n_routes, sizeof(*r->routes));
    r->names = calloc(n_routes + 1, sizeof(*r->names));
    if (r->routes == NULL || r->names == NULL)
        goto fail;
    for (size_t i = 0; i < n_routes; i++) {
        struct compiled_route *c = &r->routes[i];
        c->route = &routes[i];
        c->n_segments = split_path(routes[i].pattern, strlen(routes[i].pattern), c->segments, MAX_SEGMENTS);
        if (c->n_segments == SIZE_MAX)
            goto fail;
        size_t k = 0;
        while (k < r->n_names && strcmp(r->names[k], routes[i].pattern) != 0)
            k++;
        if (k == r->n_names)
            r->names[r->n_names++] = routes[i].pattern;
        c->name_index = k;
    }
    r->names[r->n_names++] = "unmatched";
    r->n_routes = n_routes;
    return r;
fail:
    http_router_destroy(r);
    return NULL;
}

void http_router_destroy(struct http_router *router)
{
    if (router == NULL)
        return;
    free(router->routes);
    free(router->names);
    free(router);
}

const char *const *http_router_route_names(const struct http_router *router, size_t *count)
{
    *count = router->n_names;
    return router->names;
}

static bool is_placeholder(h2o_iovec_t seg)
{
    return seg.len >= 2 && seg.base[0] == '{' && seg.base[seg.len - 1] == '}';
}

static bool route_matches(const struct compiled_route *c, const h2o_iovec_t *segs, size_t n,
                          struct http_exchange *ex)
{
    if (c->n_segments != n)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_placeholder(c->segments[i])) {
            if (np < HTTP_MAX_PARAMS)
                ex->params[np++] = segs[i];
        } else if (!h2o_memis(c->segments[i].base, c->segments[i].len, segs[i].base, segs[i].len)) {
            return false;
        }
    }
    if (ex != NULL)
        ex->n_params = np;
    return true;
}

static void on_exchange_dispose(void *p)
{
    struct http_exchange *ex = p;
    if (!ex->answered) {
        ex->req = NULL;
        ex->answered = true;
        ex->loop->inflight--;
        if (ex->on_abandon != NULL)
            ex->on_abandon(ex);
    }
}

static void take_request_id(struct http_exchange *ex, h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (log_request_id_is_sane(v.base, v.len)) {
            memcpy(ex->request_id, v.base, v.len);
            ex->request_id[v.len] = '\0';
            return;
        }
    }
    log_request_id_generate(ex->request_id);
}

/* Is `origin` one of FRONTEND_URL's comma-separated origins (a trailing slash there is ignored)? */
static bool origin_allowed(const char *allowed, h2o_iovec_t origin)
{
    if (allowed == NULL || origin.len == 0)
        return false;
    const char *p = allowed;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        size_t cmp = n > 0 && p[n - 1] == '/' ? n - 1 : n;
        if (cmp == origin.len && memcmp(p, origin.base, cmp) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

static bool handle_preflight(struct http_exchange *ex, h2o_req_t *req)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) ||
        h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-method"), -1) < 0)
        return false;
    if (ex->cors_origin.len == 0) {
        http_respond_problem(ex, 403, "Forbidden", "this origin is not allowed (FRONTEND_URL)", NULL);
        return true;
    }
    http_add_header(ex, "access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE");
    http_add_header(
        ex, "access-control-allow-headers",
        "Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id, MCP-Protocol-Version, "
        "Mcp-Method, Mcp-Name");
    http_add_header(ex, "access-control-max-age", "600");
    http_respond(ex, 204, NULL, "", 0);
    return true;
}

/* ---- framing (RFC 9112 §2.2, §5.2, §6.1, §6.3) ---- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A Content-Length value without its leading zeros, so "07" and "7" compare equal; false unless it
 * is 1*DIGIT (a list such as "0, 44" is refused, not resolved). No arithmetic: any length works. */
static bool length_digits(const char *v, size_t n, h2o_iovec_t *out)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    while (n > 1 && v[0] == '0') {
        v++;
        n--;
    }
    *out = h2o_iovec_init(v, n);
    return true;
}

bool http_head_framing_ok(const char *buf, size_t len, h2o_iovec_t method, bool http10, char *why, size_t cap)
{
    bool request_line_seen = false, have_length = false;
    size_t chunked = 0;
    h2o_iovec_t length = {NULL, 0};
    size_t p = 0;
    for (;;) {
        const char *nl = p < len ? memchr(buf + p, '\n', len - p) : NULL;
        if (nl == NULL) {
            base_why(why, cap, "the request head could not be checked");
            return false;
        }
        size_t end = (size_t)(nl - buf); /* index of the LF */
        if (end == p || buf[end - 1] != '\r') {
            base_why(why, cap, "bare LF line ending (lines end with CRLF)");
            return false;
        }
        const char *line = buf + p;
        size_t n = end - 1 - p; /* without CRLF */
        p = end + 1;
        if (!request_line_seen) {
            if (n == 0)
                continue; /* the parser skips an empty line before a request (RFC 9112 §2.2) */
            if (n <= method.len || memcmp(line, method.base, method.len) != 0 || line[method.len] != ' ') {
                base_why(why, cap, "the request head could not be checked");
                return false;
            }
            request_line_seen = true;
            continue;
        }
        if (n == 0)
            break; /* the empty line: end of the head */
        if (is_ows(line[0])) {
            base_why(why, cap, "obsolete line folding (obs-fold) in a header field");
            return false;
        }
        const char *colon = memchr(line, ':', n);
        if (colon == NULL) {
            base_why(why, cap, "the request head could not be checked");
            return false;
        }
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vn = n - name_len - 1;
        while (vn > 0 && is_ows(v[0])) {
            v++;
            vn--;
        }
        while (vn > 0 && is_ows(v[vn - 1]))
            vn--;
        if (h2o_lcstris(line, name_len, H2O_STRLIT("content-length"))) {
            h2o_iovec_t digits;
            if (!length_digits(v, vn, &digits)) {
                base_why(why, cap, "Content-Length must be one decimal number");
                return false;
            }
            if (have_length && !h2o_memis(digits.base, digits.len, length.base, length.len)) {
                base_why(why, cap, "Content-Length headers with different values");
                return false;
            }
            have_length = true;
            length = digits;
        } else if (h2o_lcstris(line, name_len, H2O_STRLIT("transfer-encoding"))) {
            if (!h2o_lcstris(v, vn, H2O_STRLIT("chunked")) || ++chunked > 1) {
                base_why(why, cap, "Transfer-Encoding other than one \"chunked\"");
                return false;
            }
        }
    }
    if (chunked > 0 && have_length) {
        base_why(why, cap, "both Content-Length and Transfer-Encoding");
        return false;
    }
    if (chunked > 0 && http10) {
        base_why(why, cap, "Transfer-Encoding in an HTTP/1.0 request");
        return false;
    }
    return true;
}

/* h2o 2.2.5 hands handlers neither Content-Length nor Transfer-Encoding (its parser consumes them,
 * the first Content-Length or the last Transfer-Encoding winning) nor the line endings, so the
 * check reads the raw head where h2o keeps it: while the request is being dispatched — on_req
 * runs synchronously from the HTTP/1 parser — the connection's input buffer starts with this
 * request's head (h2o consumes a request's bytes only once its response has been sent, and decodes
 * a chunked body in place after the head). The method at its start proves it is this request. */
static bool request_framing_ok(h2o_req_t *req, char *why, size_t cap)
{
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock == NULL || sock->input == NULL || sock->input->bytes == NULL) {
        base_why(why, cap, "the request head could not be checked");
        return false;
    }
    size_t len = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    return http_head_framing_ok(sock->input->bytes, len, req->input.method, req->version < 0x101, why, cap);
}

void http_dispatch(const struct http_router *router, struct http_loop *loop, h2o_req_t *req)
{
    struct http_exchange *ex = h2o_mem_alloc_shared(&req->pool, sizeof(*ex), on_exchange_dispose);
    memset(ex, 0, sizeof(*ex));
    ex->req = req;
    ex->loop = loop;
    ex->app = loop->app;
    ex->started_ns = base_now_ns();
    ex->route_index = router->n_names - 1;
    loop->inflight++;
    take_request_id(ex, req);
    char why[BASE_WHY_MAX];
    if (!request_framing_ok(req, why, sizeof(why))) {
        /* RFC 9112 §6.3: the server cannot know where this request ends, so neither can it trust
         * what follows on the connection: answer 400 and close, never reading further. */
        req->http1_is_persistent = 0;
        http_respond_problem(ex, 400, "Bad Request", why, NULL);
        return;
    }
    ssize_t origin = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (origin >= 0 && origin_allowed(loop->cors_origins, req->headers.entries[origin].value))
        ex->cors_origin = req->headers.entries[origin].value;
    if (handle_preflight(ex, req))
        return;
    if (loop->max_body_bytes > 0 && req->entity.base != NULL && req->entity.len > loop->max_body_bytes) {
        char detail[96];
        snprintf(detail, sizeof(detail), "the request body is larger than %zu bytes (MAX_BODY_BYTES)",
                 loop->max_body_bytes);
        http_respond_problem(ex, 413, "Payload Too Large", detail, NULL);
        return;
    }

    h2o_iovec_t segs[MAX_SEGMENTS];
    size_t path_len = req->path_normalized.len;
    size_t n = split_path(req->path_normalized.base, path_len, segs, MAX_SEGMENTS);
    bool is_head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    char allow[96] = "";
    if (n != SIZE_MAX) {
        for (size_t i = 0; i < router->n_routes; i++) {
            const struct compiled_route *c = &router->routes[i];
            if (!route_matches(c, segs, n, ex))
                continue;
            ex->route_index = c->name_index;
            const char *m = c->route->method;
            if (h2o_memis(req->method.base, req->method.len, m, strlen(m)) ||
                (is_head && strcmp(m, "GET") == 0)) {
                c->route->handler(ex);
                return;
            }
            if (strlen(allow) + strlen(m) + 3 < sizeof(allow))
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                         m);
        }
    }
    if (allow[0] != '\0') {
        http_add_header(ex, "allow", allow);
        http_respond_problem(ex, 405, "Method Not Allowed", "this path does not accept that method", NULL);
        return;
    }
    ex->route_index = router->n_names - 1;
    http_respond_problem(ex, 404, "Not Found", "no such resource", NULL);
}

void http_add_header(struct http_exchange *ex, const char *name, const char *value)
{
    if (ex->req == NULL || ex->answered)
        return;
    h2o_req_t *req = ex->req;
    size_t nlen = strlen(name);
    h2o_add_header_by_str(&req->pool, &req->res.headers, h2o_strdup(&req->pool, name, nlen).base, nlen, 1,
                          NULL, h2o_strdup(&req->pool, value, SIZE_MAX).base, strlen(value));
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static void access_log(struct http_exchange *ex, int status, uint64_t duration_ns)
{
    h2o_req_t *req = ex->req;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (path_len > 512)
        path_len = 512;
    json_t *fields =
        json_pack("{s:s%,s:s%,s:i,s:f}", "method", req->method.base, req->method.len, "path", req->path.base,
                  path_len, "status", status, "duration_ms", (double)duration_ns / 1e6);
    log_write(status >= 500 ? LOG_WARN : LOG_INFO, ex->request_id, "request", fields);
}

/* The response's accounting (metrics hook, access log); the exchange is no longer in flight. */
static void account(struct http_exchange *ex, int status)
{
    ex->loop->inflight--;
    uint64_t duration = base_now_ns() - ex->started_ns;
    if (ex->loop->observe != NULL)
        ex->loop->observe(ex->loop->observe_arg, ex->route_index, ex->req->method, status, duration);
    if (ex->loop->access_log && log_enabled(status >= 500 ? LOG_WARN : LOG_INFO))
        access_log(ex, status, duration);
}

static void set_head(struct http_exchange *ex, int status, const char *content_type)
{
    h2o_req_t *req = ex->req;
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, ex->request_id,
                          strlen(ex->request_id));
    if (ex->cors_origin.len > 0) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-origin"), 0,
                              NULL, ex->cors_origin.base, ex->cors_origin.len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0,
                              NULL,
                              H2O_STRLIT("ETag, Location, Retry-After, X-Request-Id, WWW-Authenticate"));
    }
}

void http_respond(struct http_exchange *ex, int status, const char *content_type, const char *body,
                  size_t len)
{
    if (ex->answered || ex->req == NULL)
        return;
    h2o_req_t *req = ex->req;
    ex->answered = true;
    account(ex, status);
    set_head(ex, status, content_type);
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

/* ---- streamed responses ---- */

struct stream_buf {
    char *data;
    size_t len, cap;
};

struct http_stream {
    h2o_generator_t super; /* first: h2o hands it back to proceed/stop */
    struct http_exchange *ex;
    http_tick_fn tick;
    h2o_timeout_entry_t tick_entry;
    struct stream_buf pending, out; /* queued; handed to h2o and not yet written */
    int status;
    bool sending, ending, closed;
};

static void stream_stop_ticks(struct http_stream *s)
{
    if (h2o_timeout_is_linked(&s->tick_entry))
        h2o_timeout_unlink(&s->tick_entry);
}

/* One h2o_send in flight at a time; FINAL once the end was asked for and nothing is left. */
static void stream_flush(struct http_stream *s)
{
    if (s->sending || s->ex->req == NULL)
        return;
    if (s->pending.len == 0 && !s->ending)
        return;
    struct stream_buf t = s->out;
    s->out = s->pending;
    s->pending = t;
    s->pending.len = 0;
    h2o_iovec_t v = h2o_iovec_init(s->out.data, s->out.len);
    h2o_send_state_t state = s->ending ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS;
    s->sending = state == H2O_SEND_STATE_IN_PROGRESS; /* no proceed comes after FINAL */
    if (state == H2O_SEND_STATE_FINAL)
        s->closed = true;
    h2o_send(s->ex->req, &v, v.len > 0 ? 1 : 0, state);
}

static void on_stream_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct http_stream *s = (struct http_stream *)g;
    s->sending = false;
    s->out.len = 0;
    stream_flush(s);
}

/* The client went away before the end (h2o disposes of the request next). */
static void on_stream_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct http_stream *s = (struct http_stream *)g;
    struct http_exchange *ex = s->ex;
    stream_stop_ticks(s);
    bool open = !s->closed && !s->ending; /* else the application is done with it already */
    s->closed = true;
    if (open)
        account(ex, s->status);
    ex->req = NULL;
    if (open && ex->on_abandon != NULL)
        ex->on_abandon(ex);
}

static void on_stream_tick(h2o_timeout_entry_t *entry)
{
    struct http_stream *s = H2O_STRUCT_FROM_MEMBER(struct http_stream, tick_entry, entry);
    if (s->closed)
        return;
    h2o_timeout_link(s->ex->loop->loop, &s->ex->loop->ctx->one_sec_timeout, &s->tick_entry);
    s->tick(s->ex);
}

static void on_stream_dispose(void *p)
{
    struct http_stream *s = p;
    stream_stop_ticks(s);
    free(s->pending.data);
    free(s->out.data);
}

bool http_stream_start(struct http_exchange *ex, int status, const char *content_type, http_tick_fn tick)
{
    if (ex->answered || ex->req == NULL)
        return false;
    h2o_req_t *req = ex->req;
    struct http_stream *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_stream_dispose);
    memset(s, 0, sizeof(*s));
    s->super.proceed = on_stream_proceed;
    s->super.stop = on_stream_stop;
    s->ex = ex;
    s->tick = tick;
    s->status = status;
    s->tick_entry.cb = on_stream_tick;
    ex->stream = s;
    ex->answered = true; /* later http_respond calls are ignored; in flight until the end */
    set_head(ex, status, content_type);
    h2o_start_response(req, &s->super);
    if (tick != NULL)
        h2o_timeout_link(ex->loop->loop, &ex->loop->ctx->one_sec_timeout, &s->tick_entry);
    /* the head goes out now, before the first piece of the body */
    s->sending = true;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
    return true;
}

void http_stream_write(struct http_exchange *ex, const char *data, size_t len)
{
    struct http_stream *s = ex->stream;
    if (s == NULL || s->closed || s->ending || ex->req == NULL || len == 0)
        return;
    struct stream_buf *b = &s->pending;
    if (b->len + len + s->out.len > HTTP_STREAM_QUEUE_MAX) {
        /* a client that does not read: cut the stream rather than queue without bound */
        ex->req->http1_is_persistent = 0;
        http_stream_end(ex);
        return;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 1024;
        while (cap < b->len + len)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            http_stream_end(ex);
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    stream_flush(s);
}

void http_stream_end(struct http_exchange *ex)
{
    struct http_stream *s = ex->stream;
    if (s == NULL || s->closed || s->ending || ex->req == NULL)
        return;
    stream_stop_ticks(s);
    account(ex, s->status);
    s->ending = true;
    stream_flush(s);
}

bool http_stream_closed(const struct http_exchange *ex)
{
    return ex->stream == NULL || ex->stream->closed || ex->stream->ending || ex->req == NULL;
}

void http_respond_json(struct http_exchange *ex, int status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (text == NULL) {
        http_respond_problem(ex, 500, "Internal Server Error", "out of memory", NULL);
        return;
    }
    http_respond(ex, status, "application/json", text, strlen(text));
    free(text);
}

void http_respond_problem(struct http_exchange *ex, int status, const char *title, const char *detail,
                          json_t *extra)
{
    json_t *p = json_pack("{s:s,s:s,s:i}", "type", "about:blank", "title", title, "status", status);
    if (p != NULL && detail != NULL)
        json_object_set_new(p, "detail", json_string(detail));
    if (p != NULL && extra != NULL)
        json_object_update(p, extra);
    json_decref(extra);
    char *text = p != NULL ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(p);
    if (text == NULL) {
        static const char fallback[] = "{\"title\":\"Internal Server Error\",\"status\":500}";
        http_respond(ex, 500, "application/problem+json", fallback, sizeof(fallback) - 1);
        return;
    }
    http_respond(ex, status, "application/problem+json", text, strlen(text));
    free(text);
}
