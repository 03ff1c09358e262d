#include "server/server.h"
#include "base/base.h"
#include "log/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOUSEKEEPING_MS    1000
#define SIGNAL_POLL_MS     50
#define ACCEPTS_PER_WAKEUP 64
/* Out of descriptors, the listener is not read for 100 ms, doubling to 1 s while it lasts: the
 * level-triggered listener would otherwise wake the loop at once, forever (100% CPU). */
#define ACCEPT_BACKOFF_TICK_MS   100
#define ACCEPT_BACKOFF_MAX_TICKS 10
/* The metrics listener's connections per loop, apart from MAX_CONNECTIONS: a Prometheus scrape (one
 * connection, kept alive) still gets in while the API's share is full, and scrapes can never take
 * the API's connections. A few per loop leave room for a second scraper and a curl. */
#define METRICS_CONNECTIONS_PER_LOOP 4

enum server_phase {
    PHASE_SERVING = 0,
    PHASE_DRAINING = 1, /* SIGTERM seen: not ready, still accepting, Connection: close on responses */
    PHASE_CLOSING = 2,  /* listeners closed: finishing in-flight requests */
};

struct server;
struct server_thread;

/* One listening socket of a loop and the connections accepted from it, under a cap of their own. */
struct server_listener {
    struct server_thread *thread;
    const char *name; /* "api" or "metrics", for the log */
    int port;
    int listen_fd;
    h2o_socket_t *sock;
    h2o_accept_ctx_t accept_ctx;
    size_t open_connections;
    size_t max_connections;       /* the API: this loop's share of MAX_CONNECTIONS */
    uint64_t refused_connections; /* accepted and closed at once, over the cap */
    bool accept_warned;           /* "cannot accept" logged; cleared by the next accepted connection */
    unsigned backoff_ticks;       /* the next pause, in ACCEPT_BACKOFF_TICK_MS */
    unsigned backoff_left;        /* ticks until the listener is read again; 0 = not paused */
    h2o_timeout_entry_t accept_backoff_entry;
};

struct server_thread {
    struct server *server;
    size_t index;
    pthread_t tid;
    bool started;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    struct server_listener api;     /* PORT: the router's routes */
    struct server_listener metrics; /* METRICS_PORT: only the metrics router's */
    h2o_multithread_receiver_t control;
    struct http_loop http;         /* the API's exchanges */
    struct http_loop metrics_http; /* the metrics listener's: same application context, not observed */
    h2o_timeout_t accept_backoff;  /* both listeners' pauses */
    int seen_phase;
    h2o_timeout_t housekeeping;
    h2o_timeout_entry_t housekeeping_entry;
    int finished; /* read by the main thread */
};

struct server_handler {
    h2o_handler_t super;
    struct server *server;
    bool metrics; /* the metrics listener's handler */
};

struct server {
    const struct config *cfg;
    const struct server_app *app;
    h2o_globalconf_t globalconf;
    /* Only for its host list: the metrics listener's connections look their handler up here, so
     * no Host header can reach an API route through METRICS_PORT or /metrics through PORT. Every
     * loop's context is made from `globalconf`. */
    h2o_globalconf_t metrics_globalconf;
    struct server_thread *threads;
    size_t n_threads;
    volatile int phase; /* enum server_phase, written by the main thread */
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct server_handler *handler = (struct server_handler *)self;
    struct server_thread *thread = H2O_STRUCT_FROM_MEMBER(struct server_thread, ctx, req->conn->ctx);
    if (handler->metrics)
        http_dispatch(handler->server->app->metrics_router, &thread->metrics_http, req);
    else
        http_dispatch(handler->server->app->router, &thread->http, req);
    return 0;
}

/* ---- listeners ---- */

/* A listener of the loop's own (shared = SO_REUSEPORT, so every loop has one and the kernel spreads
 * connections across them), or, shared = false, a socket only bound: the probe that the port is
 * free. */
static int listener_open(int port, bool shared, char *why, size_t cap)
{
    int one = 1, zero = 0, rcvbuf = CONFIG_CONNECTION_RCVBUF;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool v6 = fd >= 0;
    if (!v6)
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        base_why(why, cap, "socket: %s", strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        (shared && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) ||
        /* inherited by accepted connections: bounds what one read can add to a connection's
         * buffer (config_connection_worst_bytes) */
        (shared && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)) {
        base_why(why, cap, "setsockopt: %s", strerror(errno));
        goto fail;
    }
    int rc;
    if (v6) {
        /* Dual stack: IPv4 clients arrive as mapped addresses, so IPv4-only and IPv6 pods both work. */
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0) {
            base_why(why, cap, "IPV6_V6ONLY: %s", strerror(errno));
            goto fail;
        }
        struct sockaddr_in6 a6 = {
            .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
        rc = bind(fd, (struct sockaddr *)&a6, sizeof(a6));
    } else {
        struct sockaddr_in a4 = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_ANY)}};
        rc = bind(fd, (struct sockaddr *)&a4, sizeof(a4));
    }
    if (rc != 0) {
        base_why(why, cap, "cannot bind port %d: %s", port, strerror(errno));
        goto fail;
    }
    if (shared && listen(fd, SOMAXCONN) != 0) {
        base_why(why, cap, "listen: %s", strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* The per-loop listeners share the port through SO_REUSEPORT, which would as well let a second
 * `bollard api` (same user) join them and take half the connections. A socket bound without
 * SO_REUSEPORT fails while any other socket holds the port, so it is bound (and closed) first.
 * Two processes started in the same instant could still both pass before either binds its
 * listeners; nothing else can. */
static bool port_is_free(int port, char *why, size_t cap)
{
    int fd = listener_open(port, false, why, cap);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void on_connection_closed(void *data)
{
    struct server_listener *l = data;
    l->open_connections--;
}

static void on_accept(h2o_socket_t *listener, const char *err);

/* Out of descriptors (or kernel memory): connections wait in the kernel's backlog while the loop
 * serves those it has; warned once until a connection is accepted again. */
static void accept_pause(struct server_listener *l, int err)
{
    struct server_thread *thread = l->thread;
    if (!l->accept_warned) {
        bool fds = err == EMFILE || err == ENFILE;
        log_write(LOG_WARN, NULL,
                  fds ? "cannot accept connections: out of file descriptors; retrying with backoff, open "
                        "connections are still served"
                      : "cannot accept connections: out of kernel memory; retrying with backoff, open "
                        "connections are still served",
                  json_pack("{s:s,s:s,s:i}", "listener", l->name, "error", strerror(err), "open_connections",
                            (int)l->open_connections));
        l->accept_warned = true;
    }
    h2o_socket_read_stop(l->sock);
    l->backoff_left = l->backoff_ticks;
    l->backoff_ticks =
        l->backoff_ticks * 2 < ACCEPT_BACKOFF_MAX_TICKS ? l->backoff_ticks * 2 : ACCEPT_BACKOFF_MAX_TICKS;
    h2o_timeout_link(thread->loop, &thread->accept_backoff, &l->accept_backoff_entry);
}

static void on_accept_backoff(h2o_timeout_entry_t *entry)
{
    struct server_listener *l = H2O_STRUCT_FROM_MEMBER(struct server_listener, accept_backoff_entry, entry);
    if (l->sock == NULL)
        return;
    if (--l->backoff_left > 0) {
        h2o_timeout_link(l->thread->loop, &l->thread->accept_backoff, &l->accept_backoff_entry);
        return;
    }
    h2o_socket_read_start(l->sock, on_accept);
}

static void accept_pending(struct server_listener *l, size_t max)
{
    if (l->backoff_left > 0)
        return; /* paused: the backoff timer reads the listener again */
    for (size_t i = 0; i < max; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(l->sock);
        if (sock == NULL) {
            int err = errno; /* accept4's, left as it was by h2o_evloop_socket_accept */
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                accept_pause(l, err);
            else if (err == ECONNABORTED || err == EINTR)
                continue; /* that one connection is gone; the others are still queued */
            return;
        }
        if (l->accept_warned) {
            log_printf(LOG_INFO, "accepting connections again");
            l->accept_warned = false;
        }
        l->backoff_ticks = 1;
        if (l->open_connections >= l->max_connections) {
            /* Over the cap every connection would hold up to a request head and body of memory:
             * closed at once, before h2o reads anything (CONTRACT §3, MAX_CONNECTIONS). */
            l->refused_connections++;
            h2o_socket_close(sock);
            continue;
        }
        l->open_connections++;
        sock->on_close.cb = on_connection_closed;
        sock->on_close.data = l;
        h2o_accept(&l->accept_ctx, sock);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct server_listener *l = listener->data;
    if (err == NULL)
        accept_pending(l, ACCEPTS_PER_WAKEUP);
}

static void listener_close(struct server_listener *l)
{
    if (l->sock == NULL)
        return;
    l->backoff_left = 0;
    if (h2o_timeout_is_linked(&l->accept_backoff_entry))
        h2o_timeout_unlink(&l->accept_backoff_entry);
    /* Connections the kernel already queued are served, not reset (as far as descriptors and the
     * cap allow). */
    accept_pending(l, SIZE_MAX);
    h2o_socket_read_stop(l->sock);
    h2o_socket_close(l->sock);
    l->sock = NULL;
}

/* Binds the loop's socket of `l` (SO_REUSEPORT) and makes it an h2o socket of the loop, not read yet. */
static bool listener_init(struct server_thread *thread, struct server_listener *l, const char *name, int port,
                          size_t max_connections, h2o_hostconf_t **hosts, char *why, size_t cap)
{
    l->thread = thread;
    l->name = name;
    l->port = port;
    l->max_connections = max_connections;
    l->backoff_ticks = 1;
    l->accept_backoff_entry.cb = on_accept_backoff;
    l->accept_ctx.ctx = &thread->ctx;
    l->accept_ctx.hosts = hosts;
    l->listen_fd = listener_open(port, true, why, cap);
    if (l->listen_fd < 0)
        return false;
    l->sock = h2o_evloop_socket_create(thread->loop, l->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    return true;
}

/* ---- event-loop threads ---- */

static void publish_gauges(struct server_thread *thread)
{
    const struct server_app *app = thread->server->app;
    struct server_loop_figures figures = {
        .open_connections = thread->api.open_connections,
        .max_connections = thread->api.max_connections,
        .refused_connections = thread->api.refused_connections,
    };
    app->loop_tick(app->app, thread->index, &figures);
}

static void on_housekeeping(h2o_timeout_entry_t *entry)
{
    struct server_thread *thread = H2O_STRUCT_FROM_MEMBER(struct server_thread, housekeeping_entry, entry);
    publish_gauges(thread);
    h2o_timeout_link(thread->loop, &thread->housekeeping, &thread->housekeeping_entry);
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    (void)messages; /* wake-ups only; the phase lives in struct server */
}

static void thread_follow_phase(struct server_thread *thread)
{
    int phase = __atomic_load_n(&thread->server->phase, __ATOMIC_ACQUIRE);
    if (phase >= PHASE_DRAINING && thread->seen_phase < PHASE_DRAINING) {
        /* h2o answers further requests on kept-alive connections with Connection: close. */
        h2o_context_request_shutdown(&thread->ctx);
    }
    if (phase >= PHASE_CLOSING && thread->seen_phase < PHASE_CLOSING) {
        /* The metrics port closes with the API's: a scrape during the drain still sees the figures. */
        listener_close(&thread->api);
        listener_close(&thread->metrics);
        /* Connections idle since before SIGTERM are closed now instead of after the keep-alive
         * timeout; every connection used since got Connection: close already. */
        thread->ctx.http1.req_timeout.timeout = 0;
    }
    thread->seen_phase = phase;
}

static void *thread_main(void *arg)
{
    struct server_thread *thread = arg;
    h2o_socket_read_start(thread->api.sock, on_accept);
    h2o_socket_read_start(thread->metrics.sock, on_accept);
    h2o_timeout_link(thread->loop, &thread->housekeeping, &thread->housekeeping_entry);
    publish_gauges(thread);
    for (;;) {
        h2o_evloop_run(thread->loop, INT32_MAX);
        thread_follow_phase(thread);
        if (thread->seen_phase >= PHASE_CLOSING && thread->api.open_connections == 0 &&
            thread->metrics.open_connections == 0 && thread->http.inflight == 0 &&
            thread->metrics_http.inflight == 0)
            break;
    }
    __atomic_store_n(&thread->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

static bool thread_init(struct server *server, struct server_thread *thread, size_t index, char *why,
                        size_t cap)
{
    const struct config *cfg = server->cfg;
    thread->server = server;
    thread->index = index;
    /* MAX_CONNECTIONS split across the loops; the first ones take the remainder. */
    size_t n = server->n_threads, total = (size_t)cfg->max_connections;
    size_t share = total / n + (index < total % n ? 1 : 0);
    thread->loop = h2o_evloop_create();
    h2o_context_init(&thread->ctx, thread->loop, &server->globalconf);
    h2o_multithread_register_receiver(thread->ctx.queue, &thread->control, on_control);
    h2o_timeout_init(thread->loop, &thread->housekeeping, HOUSEKEEPING_MS);
    thread->housekeeping_entry.cb = on_housekeeping;
    h2o_timeout_init(thread->loop, &thread->accept_backoff, ACCEPT_BACKOFF_TICK_MS);
    if (!listener_init(thread, &thread->api, "api", cfg->port, share, server->globalconf.hosts, why, cap) ||
        !listener_init(thread, &thread->metrics, "metrics", cfg->metrics_port, METRICS_CONNECTIONS_PER_LOOP,
                       server->metrics_globalconf.hosts, why, cap))
        return false;
    thread->http.loop = thread->loop;
    thread->http.ctx = &thread->ctx;
    if (!server->app->loop_init(server->app->app, index, &thread->http, why, cap))
        return false;
    /* The same handles as the API's exchanges; a scrape is not counted among the API's requests
     * (observe indexes the API router's routes) and has no body, no CORS. */
    thread->metrics_http = thread->http;
    thread->metrics_http.observe = NULL;
    thread->metrics_http.observe_arg = NULL;
    thread->metrics_http.cors_origins = NULL;
    thread->metrics_http.inflight = 0;
    return true;
}

static void thread_dispose(struct server_thread *thread)
{
    if (thread->loop == NULL)
        return;
    thread->server->app->loop_dispose(thread->server->app->app, thread->index);
    listener_close(&thread->api);
    listener_close(&thread->metrics);
    if (h2o_timeout_is_linked(&thread->housekeeping_entry))
        h2o_timeout_unlink(&thread->housekeeping_entry);
    h2o_timeout_dispose(thread->loop, &thread->housekeeping);
    h2o_timeout_dispose(thread->loop, &thread->accept_backoff);
    h2o_multithread_unregister_receiver(thread->ctx.queue, &thread->control);
    /* h2o 2.2.5 arms a one-second HTTP/2 GOAWAY timer on request_shutdown and asserts, when the
     * context is disposed, that no timer is still linked; we serve no HTTP/2, so drop it. */
    if (h2o_timeout_is_linked(&thread->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&thread->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&thread->ctx);
    h2o_evloop_destroy(thread->loop);
    thread->loop = NULL;
}

/* ---- the main thread: signals, children, shutdown timeline ---- */

static void wake_threads(struct server *server)
{
    for (size_t i = 0; i < server->n_threads; i++)
        if (server->threads[i].started)
            h2o_multithread_send_message(&server->threads[i].control, NULL);
}

/* As PID 1 we inherit orphans (e.g. exec probes that timed out): reap them all. */
static void reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static bool all_finished(struct server *server)
{
    for (size_t i = 0; i < server->n_threads; i++)
        if (!__atomic_load_n(&server->threads[i].finished, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

/* Returns the exit code. */
static int supervise(struct server *server, const sigset_t *signals)
{
    const struct config *cfg = server->cfg;
    uint64_t term_at = 0;
    for (;;) {
        struct timespec wait = {.tv_sec = 0, .tv_nsec = SIGNAL_POLL_MS * 1000000L};
        siginfo_t info;
        int sig = sigtimedwait(signals, &info, &wait);
        if (sig == SIGCHLD)
            reap_children();
        if (sig == SIGTERM || sig == SIGINT) {
            if (term_at != 0) {
                log_printf(LOG_WARN, "second signal: exiting at once");
                return -1;
            }
            term_at = base_now_ms();
            server->app->shutting_down(server->app->app);
            __atomic_store_n(&server->phase, PHASE_DRAINING, __ATOMIC_RELEASE);
            wake_threads(server);
            log_printf(LOG_INFO, "%s: not ready; draining for %d s, exiting within %d s",
                       sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg->shutdown_drain_seconds,
                       cfg->shutdown_timeout_seconds);
        }
        if (term_at == 0) {
            if (all_finished(server)) { /* a thread gave up on its own: nothing left to serve */
                log_printf(LOG_ERROR, "event loops stopped unexpectedly");
                return 1;
            }
            continue;
        }
        uint64_t now = base_now_ms();
        if (server->phase == PHASE_DRAINING &&
            now >= term_at + (uint64_t)cfg->shutdown_drain_seconds * 1000) {
            __atomic_store_n(&server->phase, PHASE_CLOSING, __ATOMIC_RELEASE);
            wake_threads(server);
            log_printf(LOG_INFO, "drain delay over: listener closed, finishing in-flight requests");
        }
        if (all_finished(server))
            return 0;
        /* Leave a little headroom below the deadline for the process to actually exit. */
        if (now + 250 >= term_at + (uint64_t)cfg->shutdown_timeout_seconds * 1000) {
            log_printf(LOG_ERROR, "shutdown timeout: exiting with requests still in flight");
            return -1;
        }
    }
}

int server_run(const struct config *cfg, const struct server_app *app)
{
    int rc = BASE_EXIT_FAILURE;
    char why[BASE_WHY_MAX] = "";
    struct server *server = calloc(1, sizeof(*server));
    if (server == NULL)
        return BASE_EXIT_FAILURE;
    server->cfg = cfg;
    server->app = app;
    server->n_threads = (size_t)cfg->api_threads;

    /* Signals go to the main thread only; block them before any thread exists. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* h2o's socket buffers come from a per-thread recycling list (h2o_socket_buffer_prototype is
     * __thread), and a buffer keeps the list of the thread that made its socket. Each loop's
     * set-up (loop_init: its Redis connection among others) runs here, on the main thread, so those
     * sockets would all share this thread's list from their own loop threads at once, unlocked: a
     * buffer handed to two sockets, read into after it was freed (seen under ASan as a corrupt
     * Redis reply). With no recycling here they use malloc and free, which are thread-safe; the
     * loops' own sockets keep their loop's list. */
    h2o_socket_buffer_prototype.allocator.max = 0;
    h2o_config_init(&server->globalconf);
    server->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("bollard"));
    server->globalconf.max_request_entity_size = (size_t)cfg->max_body_bytes * HTTP_BODY_READ_FACTOR;
    /* HTTP/1.1 only: an h2c upgrade would add stream resets to every asynchronous handler. */
    server->globalconf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&server->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct server_handler *handler = (struct server_handler *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->server = server;
    h2o_config_init(&server->metrics_globalconf);
    host =
        h2o_config_register_host(&server->metrics_globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = (struct server_handler *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->server = server;
    handler->metrics = true;

    server->threads = calloc(server->n_threads, sizeof(*server->threads));
    if (server->threads == NULL) {
        log_printf(LOG_ERROR, "out of memory at start-up");
        goto done;
    }
    if (!port_is_free(cfg->port, why, sizeof(why)) || !port_is_free(cfg->metrics_port, why, sizeof(why))) {
        log_write(LOG_ERROR, NULL, "cannot bind", json_pack("{s:s}", "error", why));
        goto done;
    }
    if (!app->start(app->app, why, sizeof(why))) {
        log_write(LOG_ERROR, NULL, "cannot start", json_pack("{s:s}", "error", why));
        goto done;
    }
    for (size_t i = 0; i < server->n_threads; i++) {
        if (!thread_init(server, &server->threads[i], i, why, sizeof(why))) {
            log_write(LOG_ERROR, NULL, "cannot start", json_pack("{s:s}", "error", why));
            goto done;
        }
    }
    for (size_t i = 0; i < server->n_threads; i++) {
        if (pthread_create(&server->threads[i].tid, NULL, thread_main, &server->threads[i]) != 0) {
            log_printf(LOG_ERROR, "cannot start event-loop thread %zu", i);
            __atomic_store_n(&server->phase, PHASE_CLOSING, __ATOMIC_RELEASE);
            wake_threads(server);
            goto join;
        }
        server->threads[i].started = true;
    }
    log_write(LOG_INFO, NULL, "listening",
              json_pack("{s:i,s:i,s:i,s:s}", "port", cfg->port, "metrics_port", cfg->metrics_port, "threads",
                        (int)server->n_threads, "environment", config_environment_name(cfg->environment)));

    rc = supervise(server, &signals);
    if (rc < 0) {
        /* Threads may still be inside requests; tearing them down would race. Leave now. */
        fflush(stdout);
        _exit(BASE_EXIT_FAILURE);
    }
join:
    for (size_t i = 0; i < server->n_threads; i++)
        if (server->threads[i].started)
            pthread_join(server->threads[i].tid, NULL);
    if (rc == 0)
        log_printf(LOG_INFO, "shutdown complete");
done:
    for (size_t i = 0; server->threads != NULL && i < server->n_threads; i++)
        thread_dispose(&server->threads[i]);
    free(server->threads);
    h2o_config_dispose(&server->globalconf);
    h2o_config_dispose(&server->metrics_globalconf);
    free(server);
    return rc;
}
