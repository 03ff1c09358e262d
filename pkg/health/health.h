/* health: the readiness checks of CONTRACT §4 (database, schema compatibility, Redis) for one event
 * loop, each bounded by a timeout, with results cached briefly and concurrent probes coalesced. */
#ifndef BOLLARD_HEALTH_H
#define BOLLARD_HEALTH_H

#include <stdbool.h>

#include <h2o.h>

struct store;
struct redisconn;
struct health;

struct health_check {
    bool ok;
    bool unused;      /* not part of this mode (Redis under `bollard dev`): ok, and reported as unused */
    char reason[200]; /* empty when ok */
};

struct health_report {
    struct health_check database, schema, redis;
    bool ok;
};

typedef void (*health_cb)(void *arg, const struct health_report *report);

/* redis may be NULL (no Redis in this mode, `bollard dev`); its check then passes and is reported
 * as {"ok":true,"used":false,"detail":"not used in dev mode"}. */
struct health *health_create(h2o_evloop_t *loop, struct store *store, struct redisconn *redis, int timeout_ms,
                             int cache_ms);
/* Answers from the cache (synchronously, before returning) or after running the checks. Returns a
 * handle for health_cancel, or NULL when it answered synchronously. */
void *health_ready(struct health *h, health_cb cb, void *arg);
void health_cancel(struct health *h, void *handle);
/* The last finished report (all checks failing with "not checked yet" before the first one). */
const struct health_report *health_last(const struct health *h);
void health_destroy(struct health *h);

/* Renders {"status":"ok|unavailable","checks":{...}}; extra_reason (may be NULL) adds a failing
 * "shutdown" check. Returns a malloc'd string. */
char *health_report_json(const struct health_report *report, const char *shutdown_reason);

#endif
