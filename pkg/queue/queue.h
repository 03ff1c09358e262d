/* queue: the webhook job queue between the outbox relay and the deliverers — one small interface,
 * two back-ends:
 *   queue_redis_new   `bollard worker`: Redis Streams (names below), a consumer group, XAUTOCLAIM of
 *                     jobs idle past the visibility timeout, a retry sorted set, a dead stream; a row is
 *                     durable as soon as its jobs are in the stream, so the relay stamps it at once.
 *   queue_memory_new  `bollard dev`: in process, bounded (QUEUE_MEMORY_EVENTS rows, QUEUE_MEMORY_JOBS
 *                     jobs); retries wait in memory, so a row is durable only once all its jobs settled.
 * The producer half (queue_ready, queue_publish, queue_durable, queue_stamped) runs on the relay thread,
 * the consumer half (the rest) on the deliverer's thread; each back-end keeps the halves apart (the
 * Redis one with connections of its own per half, the memory one with a mutex).
 *
 * The Redis names below are part of the deployment's interface: the worker writes them, the API reads
 * them for /metrics and operators read them with redis-cli. Keep them stable. They share the hash tag
 * {webhooks}, so they live in one Redis Cluster slot (the Lua scripts touch several of them at once). */
#ifndef BOLLARD_QUEUE_H
#define BOLLARD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "delivery/delivery.h"

/* Jobs waiting for delivery: one stream entry per (event, endpoint). Fields: event_id, endpoint_id,
 * type, attempt (1-based), body (the exact bytes POSTed and signed).
 *   queue depth:        XINFO GROUPS → "lag" of QUEUE_GROUP (entries not yet read), or XLEN
 *                       (XLEN also counts read-and-acked entries not trimmed yet, at most ~100/node)
 *   in delivery:        XPENDING QUEUE_STREAM_JOBS QUEUE_GROUP → count
 *   oldest pending age: the same reply's smallest id: now − its millisecond part */
#define QUEUE_STREAM_JOBS "bollard:{webhooks}:jobs"
/* The consumer group every worker reads QUEUE_STREAM_JOBS with. */
#define QUEUE_GROUP "deliverers"
/* Failed attempts waiting for their next try: sorted set scored by due time (Unix ms), members are
 * JSON jobs. ZCARD = retries scheduled. */
#define QUEUE_ZSET_RETRY "bollard:{webhooks}:retry"
/* Dead letters: jobs that exhausted WEBHOOK_MAX_ATTEMPTS or failed permanently (4xx other than
 * 408/429, refused target, invalid URL). Fields: event_id, endpoint_id, type, attempts, last_status,
 * last_error, failed_at_ms, consumer, body. Capped near QUEUE_DEAD_MAXLEN (XADD MAXLEN ~); every
 * dead letter is also a row in the webhook_failures table. XLEN = dead-letter count. */
#define QUEUE_STREAM_DEAD "bollard:{webhooks}:dead"
#define QUEUE_DEAD_MAXLEN 10000
/* Prefix of the relay's short-lived idempotency keys (one per outbox event in a publishing
 * transaction; removed after COMMIT, otherwise expire after QUEUE_DEDUPE_TTL_MS). */
#define QUEUE_DEDUPE_PREFIX "bollard:{webhooks}:published:"
#define QUEUE_DEDUPE_TTL_MS (6L * 3600 * 1000)
/* The loss marker: a counter every publish raises by one (in the publish script, so it replicates and
 * persists together with the jobs it added). The relay tracks each published delivery in PostgreSQL
 * with the value it got; a marker found below the highest tracked value means Redis lost writes
 * (restart without persistence, FLUSHALL, fail-over to a replica that lagged), and the relay
 * re-enqueues every tracked delivery before publishing anything new. */
#define QUEUE_MARKER_KEY "bollard:{webhooks}:seq"
/* Jobs re-enqueued after a Redis data loss (INCRBY once a recovery completes; a later loss resets it,
 * as a process restart resets any counter). Read for /metrics as bollard_jobs_recovered_total. */
#define QUEUE_RECOVERED_KEY "bollard:{webhooks}:recovered"
/* A recovery's progress key (+ 16 hex digits): the number of batches it re-enqueued, so that a loss in
 * the middle of a recovery makes it start over; dropped when it completes, else it expires. */
#define QUEUE_RECOVERY_PREFIX "bollard:{webhooks}:recovery:"
#define QUEUE_RECOVERY_TTL_MS (3600L * 1000)
/* The relay stops publishing while stream + retry set hold this many jobs (events wait in the
 * outbox table meanwhile), so Redis memory stays bounded. */
#define QUEUE_BACKLOG_MAX 100000L

/* The workers' own figures (a worker has no HTTP port, CONTRACT §2): each worker writes its counters
 * every QUEUE_WORKER_REPORT_MS to the hash QUEUE_WORKER_PREFIX + consumer, which expires
 * QUEUE_WORKER_TTL_MS after the last write, and its consumer name into the sorted set
 * QUEUE_ZSET_WORKERS scored by the write's Unix ms. The API reads the QUEUE_WORKERS_MAX most recent
 * for /metrics (bollard_worker_*{consumer}). A worker that stops cleanly removes both. Hash fields:
 * unix_ms, delivered, failed_attempts, retried, dead_lettered, reclaimed, in_flight, latency_count,
 * latency_sum_ms, latency_le_<ms> for each bound of QUEUE_LATENCY_BOUNDS_MS (cumulative). */
#define QUEUE_ZSET_WORKERS     "bollard:{webhooks}:workers"
#define QUEUE_WORKER_PREFIX    "bollard:{webhooks}:worker:"
#define QUEUE_WORKER_REPORT_MS 5000
#define QUEUE_WORKER_TTL_MS    30000
#define QUEUE_WORKERS_MAX      64
/* Upper bounds (ms) of the delivery-latency histogram buckets (+Inf is latency_count). */
#define QUEUE_LATENCY_BOUNDS_MS                                                                              \
    {                                                                                                        \
        50, 100, 250, 500, 1000, 2500, 5000, 10000                                                           \
    }
#define QUEUE_LATENCY_BUCKETS 8
#define QUEUE_CONSUMER_MAX    160

/* One worker's figures: what it reports (queue_report) and what the API reads back. */
struct queue_worker_figures {
    char consumer[QUEUE_CONSUMER_MAX];
    long long delivered, failed_attempts, retried, dead_lettered, reclaimed, in_flight;
    long long latency_count, latency_sum_ms;
    long long latency_le[QUEUE_LATENCY_BUCKETS]; /* attempts that took at most each bound */
    long long report_age_ms;                     /* read side: now − the report's unix_ms */
};

#define QUEUE_MEMORY_EVENTS 256  /* rows the memory back-end holds; more wait in the table */
#define QUEUE_MEMORY_JOBS   1024 /* jobs (deliveries) it holds */
#define QUEUE_REF_MAX       48   /* a back-end's handle of a job (a stream id) */
#define QUEUE_TYPE_MAX      32

/* One outbox row as the relay read it; the strings belong to the caller. */
struct queue_event {
    long long row_id;
    const char *event_id;
    const char *type;
    const char *body; /* the envelope: the bytes every attempt POSTs and signs */
    size_t body_len;
    const char *endpoints; /* ids of the endpoints listening for it, comma-separated; "" for none */
};

enum queue_job_state { QUEUE_JOB_FREE = 0, QUEUE_JOB_NEW, QUEUE_JOB_DELIVERING, QUEUE_JOB_DONE };

/* What the deliverer decided about a job; queue_settle carries it out. */
enum queue_outcome {
    QUEUE_ACK,     /* delivered, or nothing to do (endpoint gone) */
    QUEUE_RETRY,   /* failed attempt: again after delay_ms with attempt + 1 */
    QUEUE_DEFER,   /* not attempted (database unavailable): again after delay_ms, same attempt */
    QUEUE_DEAD,    /* dead letter (the deliverer recorded the webhook_failures row) */
    QUEUE_REQUEUE, /* handed back at shutdown for another consumer */
};

/* One slot of the deliverer: a job taken from the queue. */
struct queue_job {
    enum queue_job_state state;
    char ref[QUEUE_REF_MAX];
    char event_id[BASE_UUID_LEN + 1];
    char endpoint_id[BASE_UUID_LEN + 1];
    char type[QUEUE_TYPE_MAX];
    int attempt; /* 1-based */
    char *body;  /* owned by the slot */
    size_t body_len;
    bool valid; /* fields parsed and sane */
    /* once DONE */
    enum queue_outcome outcome;
    long status;
    long delay_ms;
    bool recorded;  /* webhook_failures row written */
    bool untracked; /* its outbox_deliveries row deleted (the outcome is recorded) */
    /* A dead letter whose webhook_failures row could not be written yet: queue_settle leaves it
     * (in Redis it stays pending, its lease renewed; after a crash or stop the next consumer takes
     * it again) until the deliverer has written the row and clears this. */
    bool held;
    char error[DELIVERY_ERROR_MAX];
};

/* The deliverer's slots; a back-end fills FREE ones with NEW jobs (busy++) and frees settled ones. */
struct queue_slots {
    struct queue_job *jobs;
    int capacity;
    int busy; /* slots not FREE */
};

/* Counters of a back-end's consumer half (the worker's heartbeat shows them). */
struct queue_stats {
    long long retried, dead, dropped, requeued, reclaimed, trims;
    bool up; /* the back-end answered its last command */
};

/* Why the producer half could not take a batch. */
enum queue_status {
    QUEUE_OK = 0,
    QUEUE_DOWN,    /* Redis unavailable: rows stay unpublished */
    QUEUE_FULL,    /* backlog at its bound: rows stay unpublished for now */
    QUEUE_REFUSED, /* Redis answered but refused the publish script: a bug, not an outage */
    QUEUE_LOST,    /* the loss marker is below what was expected: Redis lost data, recover first */
};

struct queue;

struct redistls_config;

struct queue_redis_config {
    const char *url;                   /* redis:// or rediss:// */
    const struct redistls_config *tls; /* REDIS_TLS_* (NULL: defaults); must outlive the queue */
    const char *consumer;              /* this process' name in the consumer group */
    int timeout_ms;                    /* producer half, per command (REDIS_TIMEOUT_MS) */
    int consumer_bound_ms;             /* consumer half, per command: deliveries must keep moving */
    int visibility_ms;                 /* a pending job idle this long at another consumer is taken over */
};

/* The Redis Streams back-end; NULL when the URL does not parse or memory is short. Never connects here. */
struct queue *queue_redis_new(const struct queue_redis_config *cfg);
/* The in-process back-end; NULL on failure. */
struct queue *queue_memory_new(void);
/* Frees either back-end (NULL is a no-op); slots are the caller's. */
void queue_free(struct queue *q);

/* Producer: can publish now (Redis connected); false with a reason. */
bool queue_ready(struct queue *q, char *why, size_t cap);
/* Producer: takes events[0..*accepted) (all of them, or a prefix when memory is short); *jobs is the
 * number of jobs added. Not QUEUE_OK: nothing was taken, `why` set. */
enum queue_status queue_publish(struct queue *q, const struct queue_event *events, int n, int *accepted,
                                long *jobs, char *why, size_t cap);
/* Producer: the row ids that may now be stamped published (`taken`: the rows just accepted); at most
 * cap. */
int queue_durable(struct queue *q, const struct queue_event *taken, int n_taken, long long *ids, int cap);
/* Producer: the rows queue_durable named are stamped (committed). */
void queue_stamped(struct queue *q, const long long *ids, int n);

/* ---- Producer: Redis data loss (QUEUE_MARKER_KEY). The memory back-end loses nothing but the process
 * (its rows stay unpublished until settled): its marker is always 0 and never lost. ---- */
/* The marker value the last successful queue_publish set (what its deliveries are tracked with). */
long long queue_marker_published(const struct queue *q);
/* The highest value queue_marker_expect was given or a publish set. */
long long queue_marker_expected(const struct queue *q);
/* From now on queue_publish refuses (QUEUE_LOST, nothing added) while the marker is below `seq`. */
void queue_marker_expect(struct queue *q, long long seq);
/* Reads the marker into *marker: QUEUE_OK when it is at least the expected value, QUEUE_LOST when
 * below, QUEUE_DOWN (why set) when Redis cannot be asked. */
enum queue_status queue_marker_check(struct queue *q, long long *marker, char *why, size_t cap);
/* A recovery starts (or starts over): its batches are counted in a progress key of its own
 * (QUEUE_RECOVERY_PREFIX + a random id), so that a loss between two of them is noticed. */
void queue_recovery_begin(struct queue *q);
/* Adds one job (attempt 1) per event and endpoint, bypassing the dedupe keys (a key that survived the
 * loss, or one that vanished, must not decide anything here). QUEUE_OK, QUEUE_DOWN, QUEUE_REFUSED, or
 * QUEUE_LOST (nothing added) when the progress key does not count the batches added so far: Redis
 * lost data again, and the recovery must start over (queue_recovery_begin). */
enum queue_status queue_reenqueue(struct queue *q, const struct queue_event *events, int n, long *jobs,
                                  char *why, size_t cap);
/* A recovery is complete: raises the marker to the expected value (never lowers it), adds `recovered`
 * to QUEUE_RECOVERED_KEY and drops the progress key, in one script. QUEUE_OK; QUEUE_LOST (nothing
 * changed) when the progress key does not count every batch; QUEUE_DOWN or QUEUE_REFUSED (why set). */
enum queue_status queue_marker_raise(struct queue *q, long long recovered, char *why, size_t cap);

/* Consumer: periodic chores and reads; fills FREE slots with NEW jobs. */
void queue_poll(struct queue *q, struct queue_slots *s, uint64_t now);
/* Consumer: asks for jobs into the free slots (Redis: the blocking read, on a connection of its own);
 * returns the descriptor to wait on for them (-1: none now). */
int queue_arm(struct queue *q, struct queue_slots *s, uint64_t now);
/* Consumer: the descriptor became readable: take what arrived. */
void queue_ready_fd(struct queue *q, struct queue_slots *s);
/* Consumer: ms until queue_poll has something to do, at most max_ms. */
int queue_next_ms(struct queue *q, const struct queue_slots *s, uint64_t now, int max_ms);
/* Consumer: carries out every DONE slot's outcome; frees the slots that made it (the others stay DONE
 * and are tried again on the next call). */
void queue_settle(struct queue *q, struct queue_slots *s);
/* Consumer: no new jobs from now on; a read that is on its way may still deliver some (handed back). */
void queue_stop(struct queue *q);
/* Consumer: nothing is on its way (a stop may finish). */
bool queue_idle(const struct queue *q);
/* Consumer: marks a slot DONE with its outcome (error may be NULL). */
void queue_job_done(struct queue_job *job, enum queue_outcome outcome, long status, long delay_ms,
                    const char *error);
/* Consumer: its counters. */
struct queue_stats queue_stats(const struct queue *q);
/* Consumer: publishes this worker's figures (the consumer name is the back-end's; `f->consumer` is
 * not read). Redis: one script on the command connection, bounded like every consumer command; a
 * failure is only logged (the next report tries again). The memory back-end has no one to tell.
 * With `gone`, removes this worker's figures instead (a clean stop). */
void queue_report(struct queue *q, const struct queue_worker_figures *f, bool gone);

/* ==== figures: the queue's size, read for /metrics (pkg/queue/figures.c) ====
 * Asynchronous, on an event loop's Redis connection (pkg/redisconn). Self-contained section. */
#include <stdbool.h>

struct redisconn;

/* What one read found. With ok false (Redis unreachable, or a command failed) the counts are 0. */
struct queue_figures {
    bool ok;
    long long depth;                 /* XLEN QUEUE_STREAM_JOBS */
    long long pending;               /* XPENDING: read by a worker, not yet acknowledged */
    long long oldest_pending_age_ms; /* age of the oldest of them, 0 when none */
    long long retries;               /* ZCARD QUEUE_ZSET_RETRY */
    long long dead;                  /* XLEN QUEUE_STREAM_DEAD */
    long long recovered;             /* GET QUEUE_RECOVERED_KEY (0 when unset) */
    int n_workers;                   /* workers whose report has not expired, at most QUEUE_WORKERS_MAX */
    struct queue_worker_figures workers[QUEUE_WORKERS_MAX];
};

/* Called once on the loop thread with the figures (valid during the call only). */
typedef void (*queue_figures_cb)(void *arg, const struct queue_figures *figures);
struct queue_figures_read;

/* Starts a read; returns its handle, or NULL when nothing could be sent (not connected, out of
 * memory): then the callback is not called and the caller reports the queue as not read. */
struct queue_figures_read *queue_figures_read(struct redisconn *rc, queue_figures_cb cb, void *arg);
/* The caller lost interest: the callback will not run and the read's memory is released. */
void queue_figures_cancel(struct queue_figures_read *read);

#endif
