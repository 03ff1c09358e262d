/* server: runs HTTP event loops — listeners (SO_REUSEPORT, one per loop thread and port, on ports no
 * other process holds: PORT for the router, METRICS_PORT for the metrics router, each loop serving
 * both), the connection cap (MAX_CONNECTIONS, split across the loops; the metrics listener has a
 * small fixed cap of its own), backing off while
 * out of file descriptors, signals, reaping orphans as PID 1, and the shutdown timeline
 * (CONTRACT §2). The application it serves (pkg/app)
 * comes in through struct server_app; the server knows nothing of what the handlers do. */
#ifndef BOLLARD_SERVER_H
#define BOLLARD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "http/http.h"

/* One loop's client connections, for the application's gauges. */
struct server_loop_figures {
    size_t open_connections;
    size_t max_connections;       /* this loop's share of MAX_CONNECTIONS */
    uint64_t refused_connections; /* since start: accepted and closed at once, over the share */
};

/* What the server asks of the application. Every callback receives `app`. */
struct server_app {
    void *app;
    const struct http_router *router;         /* every request on PORT is dispatched through it */
    const struct http_router *metrics_router; /* every request on METRICS_PORT: /metrics only */
    /* Once, on the main thread, after signals are blocked and before any loop exists: the place to
     * start the application's own threads (they inherit the blocked signals). */
    bool (*start)(void *app, char *why, size_t cap);
    /* For loop `index` (0..cfg->api_threads-1), on the main thread before the loop runs: fills
     * loop->app and the other application fields of the http_loop. */
    bool (*loop_init)(void *app, size_t index, struct http_loop *loop, char *why, size_t cap);
    /* On the loop's thread when it starts and every second: its client connections (gauges). */
    void (*loop_tick)(void *app, size_t index, const struct server_loop_figures *figures);
    /* After the loop's thread has stopped (also after a failed loop_init): frees what it made. */
    void (*loop_dispose)(void *app, size_t index);
    /* On the main thread at the first SIGTERM/SIGINT: readiness turns 503 from here on. */
    void (*shutting_down)(void *app);
};

/* Serves until shut down; returns the process exit code (or exits the process at once on a second
 * signal or past the shutdown deadline). */
int server_run(const struct config *cfg, const struct server_app *app);

#endif
