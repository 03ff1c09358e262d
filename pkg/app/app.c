#include "app/app.h"
#include "api/api.h"
#include "auth/auth.h"
#include "base/base.h"
#include "clientaddr/clientaddr.h"
#include "config/config.h"
#include "health/health.h"
#include "http/http.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "outbound/outbound.h"
#include "pgpool/pgpool.h"
#include "redisconn/redisconn.h"
#include "server/server.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>
#include <string.h>

#define HASH_QUEUE_MAX 256 /* password hashing jobs waiting for a thread, process-wide */

/* One event loop's share of the application. */
struct app_loop {
    struct api_context api; /* what the handlers see (the exchange's `app` pointer) */
    struct pgpool *pg;      /* NULL with SQLite */
    struct metrics_shard *shard;
};

struct app {
    const struct config *cfg;
    struct http_router *router;
    struct http_router *metrics_router; /* METRICS_PORT's */
    struct metrics_registry *registry;
    struct auth_hasher *hasher;
    struct app_loop *loops;
    size_t n_loops;
    struct clientaddr_proxies *trusted_proxies; /* TRUSTED_PROXIES, parsed once, read by every loop */
    struct health_shared *health;               /* the one readiness answer of all loops */
    volatile int shutting_down;                 /* 1 from the first SIGTERM on; read by readiness */
};

static void observe_request(void *arg, size_t route_index, h2o_iovec_t method, int status,
                            uint64_t duration_ns)
{
    metrics_observe_request(arg, route_index, method.base, method.len, status, duration_ns);
}

static bool app_start(void *arg, char *why, size_t cap)
{
    struct app *app = arg;
    app->hasher = auth_hasher_create(app->cfg->password_hash_threads, HASH_QUEUE_MAX);
    if (app->hasher == NULL) {
        base_why(why, cap, "out of memory");
        return false;
    }
    return true;
}

/* The store's back end is chosen here: SQLite only for `bollard dev` (pkg/config allows sqlite:
 * nowhere else), PostgreSQL otherwise. */
static bool open_store(struct app_loop *l, const struct config *cfg, struct http_loop *loop, char *why,
                       size_t cap)
{
    if (cfg->database_is_sqlite) {
        l->api.store =
            store_create_sqlite(loop->loop, loop->ctx->queue, cfg->database_url + strlen("sqlite:"));
    } else {
        struct pgpool_config pc = {
            .conninfo = cfg->database_url,
            .size = cfg->db_pool_size,
            .queue_max = cfg->db_queue_max,
            .connect_timeout_ms = cfg->db_connect_timeout_ms,
            .query_timeout_ms = cfg->db_query_timeout_ms,
            .prepared_statements = cfg->db_prepared_statements,
        };
        l->pg = pgpool_create(loop->loop, &loop->ctx->receivers.hostinfo_getaddr, &pc);
        if (l->pg == NULL) {
            base_why(why, cap, "cannot create the database pool (DATABASE_URL)");
            return false;
        }
        l->api.store = store_create_pg(l->pg);
    }
    if (l->api.store == NULL) {
        base_why(why, cap, "cannot open the database (DATABASE_URL)");
        return false;
    }
    return true;
}

static bool app_loop_init(void *arg, size_t index, struct http_loop *loop, char *why, size_t cap)
{
    struct app *app = arg;
    const struct config *cfg = app->cfg;
    struct app_loop *l = &app->loops[index];
    l->api.cfg = cfg;
    l->api.registry = app->registry;
    l->api.trusted_proxies = app->trusted_proxies;
    l->api.shutting_down = &app->shutting_down;
    l->shard = metrics_shard(app->registry, index);
    loop->app = &l->api;
    loop->observe = l->shard != NULL ? observe_request : NULL;
    loop->observe_arg = l->shard;
    loop->cors_origins = cfg->frontend_url;
    loop->access_log = cfg->access_log;
    loop->max_body_bytes = (size_t)cfg->max_body_bytes;
    if (!open_store(l, cfg, loop, why, cap))
        return false;
    if (cfg->redis_url != NULL) {
        l->api.redis = redisconn_create(loop->loop, &loop->ctx->receivers.hostinfo_getaddr, cfg->redis_url,
                                        cfg->redis_timeout_ms, &cfg->redis_tls);
        if (l->api.redis == NULL) {
            base_why(why, cap, "cannot create the Redis connection (REDIS_URL)");
            return false;
        }
    }
    l->api.auth = auth_loop_create(app->hasher, loop->ctx->queue);
    if (l->api.auth == NULL) {
        base_why(why, cap, "out of memory");
        return false;
    }
    if (cfg->llm_provider != CONFIG_LLM_NONE) {
        /* one provider transfer per chat in flight, at most */
        l->api.outbound = outbound_create(loop->loop, cfg->chat_max_inflight);
        if (l->api.outbound == NULL) {
            base_why(why, cap, "cannot set up outbound HTTP (libcurl)");
            return false;
        }
    }
    l->api.health = health_create(loop->loop, app->health, l->api.store, l->api.redis,
                                  cfg->health_check_timeout_ms, cfg->health_cache_ms);
    if (l->api.health == NULL) {
        base_why(why, cap, "out of memory");
        return false;
    }
    return true;
}

static void app_loop_tick(void *arg, size_t index, const struct server_loop_figures *figures)
{
    struct app *app = arg;
    struct app_loop *l = &app->loops[index];
    struct pgpool_stats ps = {0};
    struct store_stats ss = {0};
    if (l->pg != NULL)
        pgpool_stats(l->pg, &ps);
    else if (!store_stats(l->api.store, &ss))
        memset(&ss, 0, sizeof(ss));
    struct metrics_gauges g = {
        .db_connections = ps.connections,
        .db_in_use = ps.in_use,
        .db_waiting = ps.waiting,
        .db_pool_size = app->cfg->db_pool_size,
        .redis_connected = l->api.redis != NULL && redisconn_is_connected(l->api.redis),
        .http_connections = (int)figures->open_connections,
        .http_connections_max = (int)figures->max_connections,
        .http_connections_refused = (long long)figures->refused_connections,
        .store_outstanding = ss.outstanding,
        .store_queue_max = ss.queue_max,
        .store_busy_total = ss.busy_total,
    };
    metrics_publish_gauges(l->shard, &g);
}

static void app_loop_dispose(void *arg, size_t index)
{
    struct app *app = arg;
    struct app_loop *l = &app->loops[index];
    health_destroy(l->api.health);
    outbound_destroy(l->api.outbound);
    auth_loop_destroy(l->api.auth);
    redisconn_destroy(l->api.redis);
    store_destroy(l->api.store);
    pgpool_destroy(l->pg);
    memset(l, 0, sizeof(*l));
}

static void app_shutting_down(void *arg)
{
    struct app *app = arg;
    __atomic_store_n(&app->shutting_down, 1, __ATOMIC_RELEASE);
    metrics_set_shutting_down(app->registry, true);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bollard api\n"
                 "  Serves the HTTP API on PORT (tasks, accounts, webhooks, /health/live, /health/ready,\n"
                 "  /openapi.json, /docs) and /metrics on METRICS_PORT, on PostgreSQL (DATABASE_URL) and\n"
                 "  Redis (REDIS_URL).\n"
                 "  Run `bollard migrate` first; readiness stays 503 until the schema is compatible.\n"
                 "Exit codes: 0 after SIGTERM/SIGINT (drained); 1 start-up failure, a second signal or the\n"
                 "shutdown deadline; 64 usage; 78 invalid configuration.\n");
}

int app_args(int argc, char **argv)
{
    return base_role_args(argc, argv, usage);
}

int app_main(const struct config *cfg, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int rc = BASE_EXIT_FAILURE;
    struct app app = {.cfg = cfg, .n_loops = (size_t)cfg->api_threads};
    /* before any thread: curl's global set-up is not thread-safe (reference-counted, so `bollard
     * dev`'s own earlier call is fine) */
    if (cfg->llm_provider != CONFIG_LLM_NONE && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_printf(LOG_ERROR, "cannot initialise libcurl");
        return BASE_EXIT_FAILURE;
    }
    size_t n_routes = 0;
    const struct http_route *routes = api_routes(&n_routes);
    app.router = http_router_create(routes, n_routes);
    size_t n_metrics_routes = 0;
    const struct http_route *metrics_routes = api_metrics_routes(&n_metrics_routes);
    app.metrics_router = http_router_create(metrics_routes, n_metrics_routes);
    size_t n_names = 0;
    const char *const *names = app.router != NULL ? http_router_route_names(app.router, &n_names) : NULL;
    app.registry = names != NULL ? metrics_registry_create(app.n_loops, names, n_names, cfg->build_version,
                                                           cfg->build_revision)
                                 : NULL;
    app.loops = calloc(app.n_loops, sizeof(*app.loops));
    app.health = health_shared_create();
    if (app.router == NULL || app.metrics_router == NULL || app.registry == NULL || app.loops == NULL ||
        app.health == NULL) {
        log_printf(LOG_ERROR, "out of memory at start-up");
        goto done;
    }
    char why[BASE_WHY_MAX];
    app.trusted_proxies = clientaddr_proxies_parse(cfg->trusted_proxies, why, sizeof(why));
    if (app.trusted_proxies == NULL) { /* pkg/config validated it: only out of memory gets here */
        log_printf(LOG_ERROR, "TRUSTED_PROXIES: %s", why);
        goto done;
    }
    metrics_set_backends(app.registry, cfg->database_is_sqlite, cfg->redis_url != NULL);
    const struct server_app sa = {
        .app = &app,
        .router = app.router,
        .metrics_router = app.metrics_router,
        .start = app_start,
        .loop_init = app_loop_init,
        .loop_tick = app_loop_tick,
        .loop_dispose = app_loop_dispose,
        .shutting_down = app_shutting_down,
    };
    rc = server_run(cfg, &sa);
done:
    free(app.loops);
    clientaddr_proxies_free(app.trusted_proxies);
    health_shared_destroy(app.health);
    auth_hasher_destroy(app.hasher);
    metrics_registry_destroy(app.registry);
    http_router_destroy(app.router);
    http_router_destroy(app.metrics_router);
    if (cfg->llm_provider != CONFIG_LLM_NONE)
        curl_global_cleanup();
    return rc;
}
