/* metrics: per-thread request counters and latency histograms (single writer each, lock-free),
 * summed into Prometheus text on scrape. */
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
    int http_connections;
};

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

/* Renders everything; returns a malloc'd NUL-terminated text (NULL on allocation failure). */
char *metrics_render(struct metrics_registry *reg, size_t *len);

#endif
