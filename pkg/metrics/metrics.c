#include "metrics/metrics.h"

#include <stddef.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const method_names[] = {"GET",   "HEAD",   "POST",    "PUT",
                                           "PATCH", "DELETE", "OPTIONS", "OTHER"};
#define N_METHODS 8
static const int status_codes[] = {200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405,
                                   408, 409, 412, 413, 415, 422, 429, 500, 502, 503, 504, 0};
#define N_STATUSES 24 /* the last slot counts every other status */
static const double bucket_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define N_BUCKETS 14

struct route_histogram {
    uint64_t buckets[N_BUCKETS + 1]; /* +Inf last */
    uint64_t sum_ns;
};

struct metrics_shard {
    size_t n_routes;
    uint64_t *counts; /* [route][method][status] */
    struct route_histogram *latency;
    struct metrics_gauges gauges;
};

struct metrics_registry {
    size_t n_threads;
    struct metrics_shard *shards;
    const char *const *route_names;
    size_t n_routes;
    const char *version, *revision;
    int shutting_down;
    time_t started_at;
    bool sqlite, no_redis; /* metrics_set_backends; zero = PostgreSQL + Redis */
};

/* Single writer per shard: a relaxed load+store is enough and avoids a locked instruction;
 * the scraping thread reads with relaxed loads (it may see a value one update old). */
#define BUMP(p, d) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (d), __ATOMIC_RELAXED)
#define READ(p)    __atomic_load_n((p), __ATOMIC_RELAXED)

struct metrics_registry *metrics_registry_create(size_t n_threads, const char *const *route_names,
                                                 size_t n_routes, const char *version, const char *revision)
{
    struct metrics_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return NULL;
    reg->n_threads = n_threads;
    reg->route_names = route_names;
    reg->n_routes = n_routes;
    reg->version = version;
    reg->revision = revision;
    reg->started_at = time(NULL);
    reg->shards = calloc(n_threads, sizeof(*reg->shards));
    if (reg->shards == NULL)
        goto fail;
    for (size_t t = 0; t < n_threads; t++) {
        struct metrics_shard *s = &reg->shards[t];
        s->n_routes = n_routes;
        s->counts = calloc(n_routes * N_METHODS * N_STATUSES, sizeof(uint64_t));
        s->latency = calloc(n_routes, sizeof(struct route_histogram));
        if (s->counts == NULL || s->latency == NULL)
            goto fail;
    }
    return reg;
fail:
    metrics_registry_destroy(reg);
    return NULL;
}

void metrics_set_backends(struct metrics_registry *reg, bool sqlite, bool redis)
{
    reg->sqlite = sqlite;
    reg->no_redis = !redis;
}

void metrics_registry_destroy(struct metrics_registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t t = 0; reg->shards != NULL && t < reg->n_threads; t++) {
        free(reg->shards[t].counts);
        free(reg->shards[t].latency);
    }
    free(reg->shards);
    free(reg);
}

struct metrics_shard *metrics_shard(struct metrics_registry *reg, size_t thread_index)
{
    return thread_index < reg->n_threads ? &reg->shards[thread_index] : NULL;
}

static size_t method_index(const char *m, size_t len)
{
    for (size_t i = 0; i < N_METHODS - 1; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], m, len) == 0)
            return i;
    return N_METHODS - 1;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_STATUSES - 1; i++)
        if (status_codes[i] == status)
            return i;
    return N_STATUSES - 1;
}

void metrics_observe_request(struct metrics_shard *shard, size_t route, const char *method, size_t method_len,
                             int status, uint64_t duration_ns)
{
    if (route >= shard->n_routes)
        return;
    size_t idx = (route * N_METHODS + method_index(method, method_len)) * N_STATUSES + status_index(status);
    BUMP(&shard->counts[idx], 1);
    struct route_histogram *h = &shard->latency[route];
    double seconds = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > bucket_bounds[b])
        b++;
    BUMP(&h->buckets[b], 1);
    BUMP(&h->sum_ns, duration_ns);
}

void metrics_publish_gauges(struct metrics_shard *shard, const struct metrics_gauges *g)
{
    __atomic_store_n(&shard->gauges.db_connections, g->db_connections, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.db_in_use, g->db_in_use, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.db_waiting, g->db_waiting, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.db_pool_size, g->db_pool_size, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.redis_connected, g->redis_connected, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.http_connections, g->http_connections, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.http_connections_max, g->http_connections_max, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.http_connections_refused, g->http_connections_refused, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.store_outstanding, g->store_outstanding, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.store_queue_max, g->store_queue_max, __ATOMIC_RELAXED);
    __atomic_store_n(&shard->gauges.store_busy_total, g->store_busy_total, __ATOMIC_RELAXED);
}

void metrics_set_shutting_down(struct metrics_registry *reg, bool shutting_down)
{
    __atomic_store_n(&reg->shutting_down, shutting_down ? 1 : 0, __ATOMIC_RELAXED);
}

/* ---- rendering ---- */

struct text {
    char *buf;
    size_t len, cap;
    bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *nb = realloc(t->buf, cap);
        if (nb == NULL) {
            t->failed = true;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

static void render_process(struct text *t, const struct metrics_registry *reg)
{
    long rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f != NULL) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2)
            rss_pages = 0;
        fclose(f);
    }
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    put(t,
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
        rss_pages * sysconf(_SC_PAGESIZE));
    put(t,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n",
        (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9);
    put(t,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
        (long long)reg->started_at);
}

/* A label value in the exposition format: backslash, double quote and newline escaped. */
static void label_value(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in != '\0' && n + 3 < cap; in++) {
        if (*in == '\\' || *in == '"' || *in == '\n') {
            out[n++] = '\\';
            out[n++] = *in == '\n' ? 'n' : *in;
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

/* The workers' figures, one family at a time (the format wants a family's samples together). */
static void render_workers(struct text *t, const struct metrics_scrape *s)
{
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } families[] = {
        {"bollard_worker_delivered_total", "counter", "Deliveries a worker completed (2xx).",
         offsetof(struct metrics_worker, delivered)},
        {"bollard_worker_failed_attempts_total", "counter", "Delivery attempts that failed.",
         offsetof(struct metrics_worker, failed_attempts)},
        {"bollard_worker_retried_total", "counter", "Failed attempts scheduled for another try.",
         offsetof(struct metrics_worker, retried)},
        {"bollard_worker_dead_lettered_total", "counter", "Jobs a worker dead-lettered.",
         offsetof(struct metrics_worker, dead_lettered)},
        {"bollard_worker_reclaimed_total", "counter",
         "Jobs a worker took over from another consumer after the visibility timeout.",
         offsetof(struct metrics_worker, reclaimed)},
        {"bollard_worker_in_flight", "gauge", "Deliveries in progress at the worker's last report.",
         offsetof(struct metrics_worker, in_flight)},
    };
    char consumer[2 * 160 + 1];
    put(t,
        "# HELP bollard_workers Workers whose figures are fresh in Redis (each reports every 5 s; a "
        "report expires after 30 s).\n# TYPE bollard_workers gauge\nbollard_workers %d\n",
        s->n_workers);
    if (s->n_workers == 0)
        return;
    put(t, "# HELP bollard_worker_report_age_seconds Time since the worker's last report (Redis clock).\n"
           "# TYPE bollard_worker_report_age_seconds gauge\n");
    for (int w = 0; w < s->n_workers; w++) {
        label_value(s->workers[w].consumer, consumer, sizeof(consumer));
        put(t, "bollard_worker_report_age_seconds{consumer=\"%s\"} %.3f\n", consumer,
            (double)s->workers[w].report_age_ms / 1000.0);
    }
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        put(t, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help, families[f].name,
            families[f].type);
        for (int w = 0; w < s->n_workers; w++) {
            label_value(s->workers[w].consumer, consumer, sizeof(consumer));
            long long v = *(const long long *)((const char *)&s->workers[w] + families[f].offset);
            put(t, "%s{consumer=\"%s\"} %lld\n", families[f].name, consumer, v);
        }
    }
    put(t, "# HELP bollard_worker_delivery_duration_seconds Duration of delivery attempts.\n"
           "# TYPE bollard_worker_delivery_duration_seconds histogram\n");
    for (int w = 0; w < s->n_workers; w++) {
        const struct metrics_worker *m = &s->workers[w];
        label_value(m->consumer, consumer, sizeof(consumer));
        for (int b = 0; b < s->n_latency_bounds; b++)
            put(t, "bollard_worker_delivery_duration_seconds_bucket{consumer=\"%s\",le=\"%g\"} %lld\n",
                consumer, s->latency_bounds_ms[b] / 1000.0, m->latency_le[b]);
        put(t,
            "bollard_worker_delivery_duration_seconds_bucket{consumer=\"%s\",le=\"+Inf\"} %lld\n"
            "bollard_worker_delivery_duration_seconds_sum{consumer=\"%s\"} %.3f\n"
            "bollard_worker_delivery_duration_seconds_count{consumer=\"%s\"} %lld\n",
            consumer, m->latency_count, consumer, (double)m->latency_sum_ms / 1000.0, consumer,
            m->latency_count);
    }
}

static void render_scrape(struct text *t, const struct metrics_scrape *s)
{
    if (!s->queue_used) {
        /* no Redis queue in this mode: nothing to report, not a queue that is down */
    } else if (s->queue_up) {
        put(t,
            "# HELP bollard_queue_up 1 when the queue figures below were read from Redis.\n"
            "# TYPE bollard_queue_up gauge\nbollard_queue_up 1\n"
            "# HELP bollard_queue_depth Webhook jobs in the stream (not yet trimmed).\n"
            "# TYPE bollard_queue_depth gauge\nbollard_queue_depth %lld\n"
            "# HELP bollard_queue_pending Jobs read by a worker and not yet acknowledged.\n"
            "# TYPE bollard_queue_pending gauge\nbollard_queue_pending %lld\n"
            "# HELP bollard_queue_oldest_pending_age_seconds Age of the oldest unacknowledged job.\n"
            "# TYPE bollard_queue_oldest_pending_age_seconds gauge\n"
            "bollard_queue_oldest_pending_age_seconds %.3f\n"
            "# HELP bollard_queue_retries_scheduled Failed deliveries waiting for their next attempt.\n"
            "# TYPE bollard_queue_retries_scheduled gauge\nbollard_queue_retries_scheduled %lld\n"
            "# HELP bollard_queue_dead_letters Jobs in the dead-letter stream.\n"
            "# TYPE bollard_queue_dead_letters gauge\nbollard_queue_dead_letters %lld\n"
            "# HELP bollard_jobs_recovered_total Jobs re-enqueued from PostgreSQL after Redis lost data "
            "(kept in Redis: starts again from 0 after the next loss).\n"
            "# TYPE bollard_jobs_recovered_total counter\nbollard_jobs_recovered_total %lld\n",
            s->queue_depth, s->queue_pending,
            s->queue_oldest_pending_age_ms > 0 ? (double)s->queue_oldest_pending_age_ms / 1000.0 : 0.0,
            s->queue_retries, s->queue_dead, s->queue_recovered);
        render_workers(t, s);
    } else {
        put(t, "# HELP bollard_queue_up 1 when the queue figures were read from Redis.\n"
               "# TYPE bollard_queue_up gauge\nbollard_queue_up 0\n");
    }
    put(t,
        "# HELP bollard_outbox_up 1 when the outbox figures below were read from the database.\n"
        "# TYPE bollard_outbox_up gauge\nbollard_outbox_up %d\n",
        s->outbox_up ? 1 : 0);
    if (s->outbox_up)
        put(t,
            "# HELP bollard_outbox_unpublished Task events the relay has not published yet "
            "(counted up to %d).\n"
            "# TYPE bollard_outbox_unpublished gauge\nbollard_outbox_unpublished %lld\n"
            "# HELP bollard_outbox_oldest_unpublished_age_seconds Age of the oldest unpublished "
            "event; grows without bound when no relay publishes.\n"
            "# TYPE bollard_outbox_oldest_unpublished_age_seconds gauge\n"
            "bollard_outbox_oldest_unpublished_age_seconds %.3f\n",
            s->outbox_count_max, s->outbox_unpublished,
            s->outbox_oldest_age_ms > 0 ? (double)s->outbox_oldest_age_ms / 1000.0 : 0.0);
}

static void render_pool(struct text *t, const struct metrics_gauges *sum)
{
    put(t,
        "# HELP bollard_db_pool_size Configured PostgreSQL connections (all event loops).\n"
        "# TYPE bollard_db_pool_size gauge\nbollard_db_pool_size %d\n",
        sum->db_pool_size);
    put(t,
        "# HELP bollard_db_pool_connections Open PostgreSQL connections.\n"
        "# TYPE bollard_db_pool_connections gauge\nbollard_db_pool_connections %d\n",
        sum->db_connections);
    put(t,
        "# HELP bollard_db_pool_in_use PostgreSQL connections running a query.\n"
        "# TYPE bollard_db_pool_in_use gauge\nbollard_db_pool_in_use %d\n",
        sum->db_in_use);
    put(t,
        "# HELP bollard_db_pool_waiting Queries waiting for a PostgreSQL connection.\n"
        "# TYPE bollard_db_pool_waiting gauge\nbollard_db_pool_waiting %d\n",
        sum->db_waiting);
}

static void render_redis(struct text *t, int redis_up, size_t n_threads)
{
    put(t,
        "# HELP bollard_redis_connected Event loops whose Redis connection is up.\n"
        "# TYPE bollard_redis_connected gauge\nbollard_redis_connected %d\n",
        redis_up);
    put(t,
        "# HELP bollard_redis_connections Event loops that keep a Redis connection.\n"
        "# TYPE bollard_redis_connections gauge\nbollard_redis_connections %zu\n",
        n_threads);
}

char *metrics_render(struct metrics_registry *reg, const struct metrics_scrape *scrape, size_t *len)
{
    struct text t = {.buf = malloc(16384), .cap = 16384};
    if (t.buf == NULL)
        return NULL;
    t.buf[0] = '\0';
    put(&t,
        "# HELP bollard_build_info Version and git revision of this binary.\n"
        "# TYPE bollard_build_info gauge\nbollard_build_info{version=\"%s\",revision=\"%s\"} 1\n",
        reg->version, reg->revision);
    put(&t,
        "# HELP bollard_shutting_down 1 after SIGTERM, while draining.\n"
        "# TYPE bollard_shutting_down gauge\nbollard_shutting_down %d\n",
        __atomic_load_n(&reg->shutting_down, __ATOMIC_RELAXED));

    put(&t, "# HELP bollard_http_requests_total HTTP requests by route, method and status.\n"
            "# TYPE bollard_http_requests_total counter\n");
    for (size_t r = 0; r < reg->n_routes; r++)
        for (size_t m = 0; m < N_METHODS; m++)
            for (size_t s = 0; s < N_STATUSES; s++) {
                uint64_t total = 0;
                size_t idx = (r * N_METHODS + m) * N_STATUSES + s;
                for (size_t th = 0; th < reg->n_threads; th++)
                    total += READ(&reg->shards[th].counts[idx]);
                if (total == 0)
                    continue;
                char status[8];
                if (status_codes[s] != 0)
                    snprintf(status, sizeof(status), "%d", status_codes[s]);
                else
                    snprintf(status, sizeof(status), "other");
                put(&t, "bollard_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %llu\n",
                    reg->route_names[r], method_names[m], status, (unsigned long long)total);
            }

    put(&t, "# HELP bollard_http_request_duration_seconds Time from request received to response sent.\n"
            "# TYPE bollard_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < reg->n_routes; r++) {
        uint64_t buckets[N_BUCKETS + 1] = {0}, sum_ns = 0, count = 0;
        for (size_t th = 0; th < reg->n_threads; th++) {
            struct route_histogram *h = &reg->shards[th].latency[r];
            for (size_t b = 0; b <= N_BUCKETS; b++)
                buckets[b] += READ(&h->buckets[b]);
            sum_ns += READ(&h->sum_ns);
        }
        for (size_t b = 0; b <= N_BUCKETS; b++)
            count += buckets[b];
        if (count == 0)
            continue;
        uint64_t cumulative = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cumulative += buckets[b];
            put(&t, "bollard_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                reg->route_names[r], bucket_bounds[b], (unsigned long long)cumulative);
        }
        put(&t, "bollard_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            reg->route_names[r], (unsigned long long)count);
        put(&t, "bollard_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", reg->route_names[r],
            (double)sum_ns / 1e9);
        put(&t, "bollard_http_request_duration_seconds_count{route=\"%s\"} %llu\n", reg->route_names[r],
            (unsigned long long)count);
    }

    struct metrics_gauges sum = {0};
    int redis_up = 0; /* count of loops whose connection is up */
    for (size_t th = 0; th < reg->n_threads; th++) {
        struct metrics_gauges *g = &reg->shards[th].gauges;
        sum.db_connections += READ(&g->db_connections);
        sum.db_in_use += READ(&g->db_in_use);
        sum.db_waiting += READ(&g->db_waiting);
        sum.db_pool_size += READ(&g->db_pool_size);
        sum.http_connections += READ(&g->http_connections);
        sum.http_connections_max += READ(&g->http_connections_max);
        sum.http_connections_refused += READ(&g->http_connections_refused);
        sum.store_outstanding += READ(&g->store_outstanding);
        sum.store_queue_max += READ(&g->store_queue_max);
        sum.store_busy_total += READ(&g->store_busy_total);
        redis_up += READ(&g->redis_connected) ? 1 : 0;
    }
    if (reg->sqlite)
        put(&t,
            "# HELP bollard_store_sqlite_outstanding Calls to the SQLite store submitted and not yet "
            "answered (all event loops).\n"
            "# TYPE bollard_store_sqlite_outstanding gauge\nbollard_store_sqlite_outstanding %d\n"
            "# HELP bollard_store_sqlite_queue_max Bound on outstanding calls; past it they get 503.\n"
            "# TYPE bollard_store_sqlite_queue_max gauge\nbollard_store_sqlite_queue_max %d\n"
            "# HELP bollard_store_sqlite_busy_total Calls refused because the store's queue was full.\n"
            "# TYPE bollard_store_sqlite_busy_total counter\nbollard_store_sqlite_busy_total %llu\n",
            sum.store_outstanding, sum.store_queue_max, sum.store_busy_total);
    else
        render_pool(&t, &sum);
    if (!reg->no_redis)
        render_redis(&t, redis_up, reg->n_threads);
    put(&t,
        "# HELP bollard_connections_open Open client connections.\n"
        "# TYPE bollard_connections_open gauge\nbollard_connections_open %d\n",
        sum.http_connections);
    put(&t,
        "# HELP bollard_connections_max Client connections allowed at once (MAX_CONNECTIONS).\n"
        "# TYPE bollard_connections_max gauge\nbollard_connections_max %d\n",
        sum.http_connections_max);
    put(&t,
        "# HELP bollard_connections_refused_total Client connections closed at once because an event "
        "loop had its share of MAX_CONNECTIONS open.\n"
        "# TYPE bollard_connections_refused_total counter\nbollard_connections_refused_total %lld\n",
        sum.http_connections_refused);
    render_process(&t, reg);
    if (scrape != NULL)
        render_scrape(&t, scrape);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
