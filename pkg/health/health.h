/* health: the readiness checks of CONTRACT §4 (database, schema compatibility, Redis), each bounded
 * by a timeout, with concurrent probes coalesced per event loop. Readiness is one answer per
 * process: every loop runs its own checks (its own connections) but publishes the result into one
 * struct health_shared, where a result replaces the published one only if its check started later
 * (a sequence number taken at the start), and every loop answers from the newest published result
 * while it is fresh (cache_ms). So one loop cannot answer from a check older than another loop's
 * answer: once ready, the process turns unready only when a later check saw a failure. */
#ifndef BOLLARD_HEALTH_H
#define BOLLARD_HEALTH_H

#include <stdbool.h>

#include <h2o.h>

struct store;
struct redisconn;
struct health;
struct health_shared;

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

/* The process's one readiness answer, shared by the loops (thread-safe); NULL when out of memory.
 * Destroy it after every struct health using it. */
struct health_shared *health_shared_create(void);
void health_shared_destroy(struct health_shared *s);

/* redis may be NULL (no Redis in this mode, `bollard dev`); its check then passes and is reported
 * as {"ok":true,"used":false,"detail":"not used in dev mode"}. */
struct health *health_create(h2o_evloop_t *loop, struct health_shared *shared, struct store *store,
                             struct redisconn *redis, int timeout_ms, int cache_ms);
/* Answers from the cache (synchronously, before returning) or after running the checks. Returns a
 * handle for health_cancel, or NULL when it answered synchronously. */
void *health_ready(struct health *h, health_cb cb, void *arg);
void health_cancel(struct health *h, void *handle);
/* Copies the newest published report into *out (all checks failing with "not checked yet" before
 * the first one). */
void health_last(const struct health *h, struct health_report *out);
void health_destroy(struct health *h);

/* Renders {"status":"ok|unavailable","checks":{...}}; extra_reason (may be NULL) adds a failing
 * "shutdown" check. Returns a malloc'd string. */
char *health_report_json(const struct health_report *report, const char *shutdown_reason);

#endif
