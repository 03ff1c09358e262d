/* api: the application's HTTP routes — accounts (signup/signin), tasks, OpenAPI document and
 * docs page — on top of pkg/http, pkg/store and pkg/auth, with the handles of struct api_context. */
#ifndef BOLLARD_API_H
#define BOLLARD_API_H

#include <stddef.h>

#include "http/http.h"

struct config;
struct store;
struct redisconn;
struct health;
struct auth_loop;
struct metrics_registry;
struct clientaddr_proxies;
struct outbound;

/* What the handlers use on one event loop. pkg/app creates one per loop (and chooses the store's
 * back end); pkg/http hands it to every exchange as its opaque `app` pointer. */
struct api_context {
    const struct config *cfg;
    struct store *store;
    struct redisconn *redis; /* NULL when there is no Redis (bollard dev) */
    struct health *health;
    struct auth_loop *auth; /* password hashing results land here */
    struct metrics_registry *registry;
    const struct clientaddr_proxies *trusted_proxies; /* TRUSTED_PROXIES; never NULL (maybe empty) */
    const volatile int *shutting_down;                /* process-wide: set on the first SIGTERM */
    struct outbound *outbound; /* the assistant's provider calls; NULL when chat is off */
    size_t chats_inflight;     /* this loop's chats not yet answered (CHAT_MAX_INFLIGHT) */
};

/* Every route the API serves on PORT (health included), for the router and for the test that
 * keeps /openapi.json and the server in step. */
const struct http_route *api_routes(size_t *count);
/* The routes of METRICS_PORT: GET (and HEAD) /metrics only. */
const struct http_route *api_metrics_routes(size_t *count);

#endif
