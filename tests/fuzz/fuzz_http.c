/* libFuzzer: HTTP request handling without sockets. Each input becomes an h2o_req_t (method, path
 * normalised by h2o's own h2o_url_normalize_path, query string, headers, body) that goes through the
 * real router (http_dispatch over api_routes()) and the real handlers: routing, 404/405, CORS
 * preflight, request ids, bearer tokens, JSON bodies, query strings, validation, If-Match, and the
 * answers to every store outcome. Around them:
 *   - h2o_send_inline is wrapped (-Wl,--wrap) to capture the response instead of writing it;
 *   - the store is a fake back end (store_wrap) whose calls complete after the handler returns, with
 *     an outcome chosen by the input (OK with a canned row, or one of the error statuses);
 *   - DNS lookups of webhook targets (h2o_hostinfo_getaddr) are wrapped the same way;
 *   - password hashing uses the real hasher queue with no threads (so no argon2 work and no thread
 *     racing exit): an accepted signup/signin waits, and is abandoned as when the client leaves, or
 *     answers 503 when the queue (of one) is full;
 *   - readiness needs a live database and Redis: its routes answer a stub. /metrics is not among
 *     them: it is METRICS_PORT's router (api_metrics_routes), never PORT's, so a /metrics input
 *     here must get the router's own 404 like any other unknown path.
 * Oracle: every request is answered exactly once or abandoned cleanly (inflight back to 0); the
 * status is 2xx-5xx with a reason; JSON content types carry valid JSON; no 5xx other than the 503s
 * and the 500 that the chosen store outcome asks for; a problem+json body has its status.
 *
 * Input: byte 0 = store outcome and options, then "METHOD PATH\n", header lines "name: value\n", an
 * empty line and the body (no empty line: no body). Option bit 0x80 adds a valid bearer token. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <netinet/in.h>

#include "api/api.h"
#include "api/api_internal.h"
#include "auth/auth.h"
#include "config/config.h"
#include "http/http.h"
#include "log/log.h"
#include "store/store_impl.h"

/* ---- captured response ---- */
static struct {
    int count;
    int status;
    size_t len;
    char *body;
    char content_type[64];
} resp;

void __real_h2o_send_inline(h2o_req_t *req, const char *body, size_t len);
void __wrap_h2o_send_inline(h2o_req_t *req, const char *body, size_t len)
{
    resp.count++;
    resp.status = req->res.status;
    free(resp.body);
    resp.body = malloc(len + 1);
    if (resp.body == NULL)
        abort();
    if (len > 0)
        memcpy(resp.body, body, len);
    resp.body[len] = '\0';
    resp.len = len;
    resp.content_type[0] = '\0';
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (ct >= 0) {
        h2o_iovec_t v = req->res.headers.entries[ct].value;
        snprintf(resp.content_type, sizeof(resp.content_type), "%.*s", (int)v.len, v.base);
    }
    if (req->res.reason == NULL)
        abort();
    if (req->res.content_length != SIZE_MAX && req->res.content_length != len)
        abort();
}

/* ---- deferred completions (store calls and DNS lookups) ---- */
#define MAX_PENDING 16
struct pending {
    bool live;
    bool dns;
    store_cb cb;
    void *arg;
    h2o_hostinfo_getaddr_cb dns_cb;
    void *dns_data;
};
static struct pending pending[MAX_PENDING];
static enum store_status outcome;
static int dns_outcome;

static store_handle fake_submit(void *impl, const struct store_call *call, enum store_status *immediate)
{
    (void)impl;
    for (int i = 0; i < call->nargs; i++)
        if (call->args[i] != NULL)
            (void)strlen(call->args[i]); /* every argument is a C string */
    if (outcome == STORE_BUSY) {
        *immediate = STORE_BUSY;
        return NULL;
    }
    for (int i = 0; i < MAX_PENDING; i++)
        if (!pending[i].live) {
            pending[i] = (struct pending){.live = true, .cb = call->cb, .arg = call->arg};
            return &pending[i];
        }
    *immediate = STORE_UNAVAILABLE;
    return NULL;
}

static void fake_cancel(void *impl, store_handle h)
{
    (void)impl;
    struct pending *p = h;
    if (p < pending || p >= pending + MAX_PENDING || !p->live || p->dns)
        abort();
    p->live = false;
}

static void fake_destroy(void *impl)
{
    (void)impl;
}

static const struct store_backend fake_backend = {
    .submit = fake_submit, .cancel = fake_cancel, .destroy = fake_destroy};

h2o_hostinfo_getaddr_req_t *__wrap_h2o_hostinfo_getaddr(h2o_multithread_receiver_t *receiver,
                                                        h2o_iovec_t name, h2o_iovec_t serv, int family,
                                                        int socktype, int protocol, int flags,
                                                        h2o_hostinfo_getaddr_cb cb, void *data)
{
    (void)receiver, (void)serv, (void)family, (void)socktype, (void)protocol, (void)flags;
    (void)strnlen(name.base, name.len);
    for (int i = 0; i < MAX_PENDING; i++)
        if (!pending[i].live) {
            pending[i] = (struct pending){.live = true, .dns = true, .dns_cb = cb, .dns_data = data};
            return (h2o_hostinfo_getaddr_req_t *)&pending[i];
        }
    abort();
}

void __wrap_h2o_hostinfo_getaddr_cancel(h2o_hostinfo_getaddr_req_t *req)
{
    struct pending *p = (struct pending *)req;
    if (p < pending || p >= pending + MAX_PENDING || !p->live || !p->dns)
        abort();
    p->live = false;
}

static const char task_json[] =
    "{\"id\":\"0b4e7a0e-5b1c-4c55-9d7e-1f2a3b4c5d6e\",\"title\":\"t\",\"description\":null,\"completed\":"
    "false,"
    "\"priority\":\"medium\",\"due_date\":null,\"created_at\":\"2026-01-01T00:00:00Z\","
    "\"updated_at\":\"2026-01-01T00:00:00Z\",\"version\":3}";

static void run_pending(void)
{
    for (int round = 0; round < 4; round++) {
        bool any = false;
        for (int i = 0; i < MAX_PENDING; i++) {
            struct pending p = pending[i];
            if (!p.live)
                continue;
            any = true;
            pending[i].live = false;
            if (p.dns) {
                static struct sockaddr_in public_addr = {.sin_family = AF_INET};
                static struct sockaddr_in loopback = {.sin_family = AF_INET};
                public_addr.sin_addr.s_addr = htonl(0x5db8d822); /* 93.184.216.34 */
                loopback.sin_addr.s_addr = htonl(0x7f000001);
                struct addrinfo ai = {.ai_family = AF_INET, .ai_addrlen = sizeof(public_addr)};
                ai.ai_addr = (struct sockaddr *)(dns_outcome == 1 ? &loopback : &public_addr);
                p.dns_cb(NULL, dns_outcome == 2 ? "fuzz: no such host" : NULL, dns_outcome == 2 ? NULL : &ai,
                         p.dns_data);
            } else {
                struct store_result r = {
                    .status = outcome,
                    .json = outcome == STORE_OK ? (i & 2 ? "[]" : task_json) : NULL,
                    .version = 3,
                    .user_id = "0b4e7a0e-5b1c-4c55-9d7e-1f2a3b4c5d6e",
                    /* as the real store: a found account always comes with its hash */
                    .password_hash = outcome == STORE_OK
                                         ? "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
                                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                         : NULL,
                    .next_cursor = NULL,
                };
                r.json_len = r.json != NULL ? strlen(r.json) : 0;
                p.cb(p.arg, &r);
            }
        }
        if (!any)
            return;
    }
}

/* ---- fixture ---- */
static struct config cfg;
static struct http_loop loop;
static struct api_context app;
static struct http_router *router;
static struct store *store;
static volatile int shutting_down;
static char bearer[1024];
static h2o_context_t ctx;
static h2o_globalconf_t globalconf;

static const char *env_lookup(const char *name, void *c)
{
    (void)c;
    if (strcmp(name, "DATABASE_URL") == 0)
        return "postgres://fuzz@127.0.0.1:1/fuzz";
    if (strcmp(name, "SECRET_KEY") == 0)
        return "fuzz-secret-fuzz-secret-fuzz-secret-0123";
    if (strcmp(name, "REDIS_URL") == 0)
        return "redis://127.0.0.1:1/0";
    if (strcmp(name, "FRONTEND_URL") == 0)
        return "http://app.example,https://b.example:8443";
    if (strcmp(name, "LOG_LEVEL") == 0)
        return "error";
    if (strcmp(name, "ENVIRONMENT") == 0)
        return "staging";
    return NULL;
}

static void stub_handler(struct http_exchange *ex)
{
    http_respond(ex, 200, "application/json", "{}", 2);
}

static socklen_t fake_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    (void)conn;
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof(*in));
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(0x7f000001);
    in->sin_port = htons(40000);
    return sizeof(*in);
}

/* The request head as the connection received it: http_dispatch re-reads it from the socket's input
 * buffer to refuse ambiguous framing (RFC 9112 §6.3), so each input's head is rebuilt here, in the
 * wire form of the method, path and header lines the input gave. */
static char head[65536 + 512];
static h2o_buffer_t head_buffer;
static h2o_socket_t fake_socket;

static h2o_socket_t *fake_get_socket(h2o_conn_t *conn)
{
    (void)conn;
    return &fake_socket;
}

static const h2o_conn_callbacks_t conn_callbacks = {
    .get_sockname = fake_peername, .get_peername = fake_peername, .get_socket = fake_get_socket};
static h2o_conn_t conn;

static void setup(void)
{
    FILE *null = fopen("/dev/null", "w");
    if (null == NULL || config_load(&cfg, CONFIG_ROLE_API, env_lookup, NULL, stderr) != 0)
        abort();
    fclose(null);
    cfg.access_log = false;
    log_set_level(LOG_ERROR);
    h2o_config_init(&globalconf);
    h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_evloop_t *evloop = h2o_evloop_create();
    h2o_context_init(&ctx, evloop, &globalconf);
    size_t n = 0;
    const struct http_route *api = api_routes(&n);
    struct http_route *routes = calloc(n, sizeof(*routes));
    for (size_t i = 0; i < n; i++) {
        routes[i] = api[i];
        if (routes[i].handler == api_handle_ready)
            routes[i].handler = stub_handler;
    }
    router = http_router_create(routes, n);
    store = store_wrap(&fake_backend, NULL);
    /* no hashing threads: jobs queue (one at most) and are cancelled when their exchange is abandoned */
    struct auth_hasher *hasher = auth_hasher_create(0, 1);
    h2o_multithread_queue_t *queue = h2o_multithread_create_queue(evloop);
    app = (struct api_context){.cfg = &cfg,
                               .store = store,
                               .auth = auth_loop_create(hasher, queue),
                               .shutting_down = &shutting_down};
    loop = (struct http_loop){
        .loop = evloop, .ctx = &ctx, .app = &app, .cors_origins = cfg.frontend_url, .access_log = false};
    conn = (h2o_conn_t){.ctx = &ctx, .callbacks = &conn_callbacks};
    head_buffer = (h2o_buffer_t){.capacity = sizeof(head), .bytes = head, ._fd = -1};
    fake_socket.input = &head_buffer;
    time_t exp;
    char *tok = auth_token_issue(cfg.secret_key, strlen(cfg.secret_key),
                                 "0b4e7a0e-5b1c-4c55-9d7e-1f2a3b4c5d6e", 1, time(NULL), &exp);
    if (router == NULL || store == NULL || app.auth == NULL || tok == NULL) {
        fprintf(stderr, "fuzz_http: setup failed (router %p, store %p, auth %p, token %p)\n", (void *)router,
                (void *)store, (void *)app.auth, (void *)tok);
        abort();
    }
    snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
    free(tok);
}

static const char *next_line(const char **p, const char *end, size_t *len)
{
    if (*p >= end)
        return NULL;
    const char *start = *p;
    const char *nl = memchr(start, '\n', (size_t)(end - start));
    const char *stop = nl != NULL ? nl : end;
    *len = (size_t)(stop - start);
    if (*len > 0 && start[*len - 1] == '\r')
        (*len)--;
    *p = nl != NULL ? nl + 1 : end;
    return start;
}

/* A JSON body must parse; a problem+json body must be an object whose "status" is the HTTP status. */
static bool json_content_ok(const char *body, size_t len, int status, bool problem)
{
    json_error_t error;
    json_t *v = json_loadb(body, len, 0, &error);
    bool ok = v != NULL;
    if (ok && problem)
        ok = json_is_object(v) && json_integer_value(json_object_get(v, "status")) == status &&
             json_is_string(json_object_get(v, "title"));
    json_decref(v);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (router == NULL)
        setup();
    if (size < 2)
        return 0;
    static const enum store_status outcomes[] = {
        STORE_OK,     STORE_OK,          STORE_NOT_FOUND, STORE_CONFLICT, STORE_PRECONDITION_FAILED,
        STORE_BUSY,   STORE_UNAVAILABLE, STORE_TIMEOUT,   STORE_INVALID,  STORE_ERROR,
        STORE_NO_USER};
    outcome = outcomes[(data[0] & 0x0f) % (sizeof(outcomes) / sizeof(outcomes[0]))];
    dns_outcome = (data[0] >> 4) & 3;
    bool add_token = (data[0] & 0x80) != 0;
    shutting_down = (data[0] & 0x40) && (data[0] & 0x20);

    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    size_t len;
    const char *line = next_line(&p, end, &len);
    if (line == NULL)
        return 0;
    const char *sp = memchr(line, ' ', len);
    if (sp == NULL || sp == line || (size_t)(sp - line) + 1 >= len)
        return 0;

    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    req.conn = &conn;
    req.res.content_length = SIZE_MAX;
    req.method = h2o_strdup(&req.pool, line, (size_t)(sp - line));
    req.input.method = req.method;
    req.path = h2o_strdup(&req.pool, sp + 1, len - (size_t)(sp - line) - 1);
    req.input.path = req.path;
    size_t *norm_indexes = NULL;
    req.query_at = SIZE_MAX;
    req.path_normalized =
        h2o_url_normalize_path(&req.pool, req.path.base, req.path.len, &req.query_at, &norm_indexes);
    req.norm_indexes = norm_indexes;
    req.version = 0x101;

    size_t head_len = 0;
    int n = snprintf(head, sizeof(head), "%.*s %.*s HTTP/1.1\r\n", (int)req.method.len, req.method.base,
                     (int)req.path.len, req.path.base);
    head_len = n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0;
    bool have_auth = false;
    bool body = false;
    while ((line = next_line(&p, end, &len)) != NULL) {
        if (head_len + len + 4 < sizeof(head)) {
            memcpy(head + head_len, line, len);
            memcpy(head + head_len + len, "\r\n", 2);
            head_len += len + 2;
        }
        if (len == 0) {
            body = true;
            break;
        }
        const char *colon = memchr(line, ':', len);
        if (colon == NULL || colon == line)
            continue;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = len - nlen - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        h2o_iovec_t name = h2o_strdup(&req.pool, line, nlen);
        h2o_strtolower(name.base, name.len);
        h2o_iovec_t value = h2o_strdup(&req.pool, v, vlen);
        const h2o_token_t *token = h2o_lookup_token(name.base, name.len);
        if (token != NULL)
            h2o_add_header(&req.pool, &req.headers, token, NULL, value.base, value.len);
        else
            h2o_add_header_by_str(&req.pool, &req.headers, name.base, name.len, 0, NULL, value.base,
                                  value.len);
        if (token == H2O_TOKEN_AUTHORIZATION)
            have_auth = true;
    }
    if (add_token && !have_auth)
        h2o_add_header(&req.pool, &req.headers, H2O_TOKEN_AUTHORIZATION, NULL, bearer, strlen(bearer));
    if (!body && head_len + 2 < sizeof(head)) {
        memcpy(head + head_len, "\r\n", 2); /* the empty line that ends the head */
        head_len += 2;
    }
    head_buffer.size = head_len;
    if (body) {
        /* exactly as long as the body: h2o's entity is not NUL-terminated */
        size_t blen = (size_t)(end - p);
        char *copy = h2o_mem_alloc_pool(&req.pool, blen + 1);
        memcpy(copy, p, blen);
        req.entity = h2o_iovec_init(copy, blen);
    }

    resp.count = 0;
    http_dispatch(router, &loop, &req);
    run_pending();
    bool answered = resp.count > 0;
    int status = resp.status;
    h2o_mem_clear_pool(&req.pool); /* abandons an unanswered exchange, as when the client left */
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i].live)
            abort(); /* a call outlived its exchange */
    if (loop.inflight != 0 || resp.count > 1)
        abort();
    if (getenv("FUZZ_HTTP_VERBOSE") != NULL)
        fprintf(stderr, "fuzz_http: %s %d %.*s\n", answered ? "answered" : "abandoned", status,
                answered ? (int)(resp.len < 200 ? resp.len : 200) : 0, answered ? resp.body : "");
    if (!answered)
        return 0;
    if (status < 200 || status > 599)
        abort();
    if (status == 500 && outcome != STORE_ERROR)
        abort(); /* a 500 the store did not ask for */
    if (status > 500 && status != 503)
        abort();
    bool problem = strncmp(resp.content_type, "application/problem+json", 24) == 0;
    bool json = problem || strncmp(resp.content_type, "application/json", 16) == 0;
    if (status != 204 && resp.content_type[0] == '\0')
        abort(); /* every answer with a body says what it is */
    if (json && !json_content_ok(resp.body, resp.len, status, problem))
        abort();
    return 0;
}
