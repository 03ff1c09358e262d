/* metrics: per-thread request counters and latency histograms (single writer each, lock-free),
 * summed into Prometheus text on scrape — the one place that writes the exposition format, for the
 * process's own figures and for the queue/outbox figures read per scrape. */
#ifndef BOLLARD_METRICS_H
#define BOLLARD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_shard;
struct metrics_registry;

/* Gauges a loop thread publishes about its own connections (see metrics_publish_gauges). */
struct metrics_gauges {
    int db_connections;
    int db_in_use;
    int db_waiting;
    int db_pool_size;
    bool redis_connected;
    int http_connections;               /* open client connections */
    int http_connections_max;           /* this loop's share of MAX_CONNECTIONS */
    long long http_connections_refused; /* since start: closed at once, over the cap */
    /* SQLite store (`bollard dev`), from store_stats() */
    int store_outstanding;
    int store_queue_max;
    unsigned long long store_busy_total;
};

/* Which back ends this process has, so /metrics shows only the figures that apply: the PostgreSQL
 * pool's or the SQLite store's, and Redis's only when there is Redis. Default: PostgreSQL + Redis. */
void metrics_set_backends(struct metrics_registry *reg, bool sqlite, bool redis);

/* route_names[0..n_routes-1] must outlive the registry. */
struct metrics_registry *metrics_registry_create(size_t n_threads, const char *const *route_names,
                                                 size_t n_routes, const char *version, const char *revision);
void metrics_registry_destroy(struct metrics_registry *reg);
struct metrics_shard *metrics_shard(struct metrics_registry *reg, size_t thread_index);

/* Called only by the shard's own thread. method is the request method; status the HTTP status. */
void metrics_observe_request(struct metrics_shard *shard, size_t route, const char *method, size_t method_len,
                             int status, uint64_t duration_ns);
void metrics_publish_gauges(struct metrics_shard *shard, const struct metrics_gauges *g);
void metrics_set_shutting_down(struct metrics_registry *reg, bool shutting_down);

/* One worker's figures as it last reported them. */
struct metrics_worker {
    const char *consumer;
    long long delivered, failed_attempts, retried, dead_lettered, reclaimed, in_flight;
    long long latency_count, latency_sum_ms;
    const long long *latency_le; /* n_latency_bounds cumulative bucket counts */
    long long report_age_ms;
};

/* Figures that live outside this process (the job queue in Redis, the outbox in the database), read
 * afresh by the /metrics handler on each scrape and rendered after the process's own. A source that
 * could not be read is reported as its *_up 0 gauge, without figures. */
struct metrics_scrape {
    bool queue_used; /* false: no Redis queue in this mode (`bollard dev`); no queue figures at all */
    bool queue_up;
    long long queue_depth, queue_pending, queue_oldest_pending_age_ms, queue_retries, queue_dead;
    long long queue_recovered; /* jobs re-enqueued after a Redis data loss (QUEUE_RECOVERED_KEY) */
    /* The workers' own figures (they have no port: each reports to Redis, pkg/queue), labelled by
     * consumer; with queue_up only. */
    int n_workers;
    const struct metrics_worker *workers;
    const int *latency_bounds_ms; /* upper bounds of the workers' latency buckets */
    int n_latency_bounds;
    bool outbox_up;
    long long outbox_unpublished, outbox_oldest_age_ms;
    int outbox_count_max; /* the bound outbox_unpublished is counted up to (its HELP text says so) */
};

/* Renders everything, then `scrape` (may be NULL); returns a malloc'd NUL-terminated text (NULL on
 * allocation failure). */
char *metrics_render(struct metrics_registry *reg, const struct metrics_scrape *scrape, size_t *len);

#endif
