/* worker internals shared by its files (not part of the public surface: see worker.h). */
#ifndef BOLLARD_WORKER_INTERNAL_H
#define BOLLARD_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <hiredis.h>

#include "config/config.h"
#include "delivery/delivery.h"
#include "syncconn/syncconn.h"
#include "base/base.h"
#include "queue/queue.h"

#define WORKER_STREAM_ID_MAX  48
#define WORKER_TYPE_MAX       32
#define WORKER_CONSUMER_MAX   160
#define WORKER_READ_BLOCK_MS  1000 /* XREADGROUP BLOCK: bounds how long a stop waits for a read */
#define WORKER_TICK_MS        250  /* longest sleep of the main loop */
#define WORKER_HEARTBEAT_MS   100  /* heartbeat rewrites are coalesced to at most this often */
#define WORKER_PROMOTE_MS     250  /* due retries are moved back into the stream this often */
#define WORKER_PROMOTE_BATCH  200
#define WORKER_TRIM_MS        5000
#define WORKER_DEFER_MS       5000 /* a job that could not be attempted (DB down) waits this long */
#define WORKER_PG_BOUND_MS    1000 /* main-thread database calls: deliveries must keep moving */
#define WORKER_ENDPOINT_SLOTS 512
#define WORKER_ENDPOINT_TTL   30000 /* ms an endpoint's URL and secret are reused from memory */
#define WORKER_MAX_ATTEMPT    1000  /* sanity bound on the attempt field of a job */

enum job_state { JOB_FREE = 0, JOB_NEW, JOB_DELIVERING, JOB_DONE };

/* What to tell Redis about a finished job. */
enum job_outcome {
    OUT_ACK,     /* delivered, or nothing to do (endpoint gone): XACK */
    OUT_RETRY,   /* failed attempt: retry set with attempt + 1, XACK */
    OUT_DEFER,   /* not attempted (database unavailable): retry set with the same attempt, XACK */
    OUT_DEAD,    /* dead-letter stream (+ webhook_failures row), XACK */
    OUT_REQUEUE, /* handed back at shutdown: a fresh stream entry, XACK */
};

struct job {
    enum job_state state;
    char id[WORKER_STREAM_ID_MAX];
    char event_id[BASE_UUID_LEN + 1];
    char endpoint_id[BASE_UUID_LEN + 1];
    char type[WORKER_TYPE_MAX];
    int attempt;
    char *body;
    size_t body_len;
    bool valid; /* fields parsed and sane */
    /* outcome, once DONE */
    enum job_outcome outcome;
    long status;
    long delay_ms;
    bool recorded; /* webhook_failures row written */
    char error[DELIVERY_ERROR_MAX];
};

struct endpoint {
    char id[BASE_UUID_LEN + 1];
    char *url;
    char *secret;
    uint64_t expires;
};

struct worker_stats {
    long long delivered, failed_attempts, retried, dead, dropped, requeued, reclaimed;
    long long trims; /* trim passes Redis answered */
};

struct worker {
    const struct config *cfg;
    char consumer[WORKER_CONSUMER_MAX];
    int capacity;
    struct job *jobs;
    int busy;     /* jobs not FREE */
    int reserved; /* slots promised to the outstanding blocking read */

    struct delivery_pool *pool;
    struct sync_redis *cmd;    /* every command but the blocking read */
    struct sync_redis *reader; /* XREADGROUP … BLOCK only, so waiting never holds up acks */
    struct sync_pg *pg;        /* endpoint lookups and failure records */
    struct sync_redis_script scripts[6];
    struct endpoint endpoints[WORKER_ENDPOINT_SLOTS];

    bool group_ready;
    bool recovering; /* re-reading this consumer's own pending entries after a restart */
    char recover_cursor[WORKER_STREAM_ID_MAX];
    char reclaim_cursor[WORKER_STREAM_ID_MAX];
    bool read_outstanding;
    uint64_t read_sent_ms;
    uint64_t next_promote, next_reclaim, next_renew, next_trim, next_heartbeat;
    bool redis_up, db_up;
    char last_redis_error[SYNCCONN_WHY_MAX];
    uint64_t redis_error_logged;
    uint64_t stall_logged, heartbeat_error_logged;

    struct worker_stats stats;
    bool stopping;
    uint64_t stop_started, stop_deadline;

    /* relay thread */
    pthread_t relay_thread;
    bool relay_started;
    bool curl_ready;
    pthread_mutex_t relay_mu;
    pthread_cond_t relay_cv;
    atomic_bool relay_stop;
    atomic_ullong relay_tick_ms;
    atomic_llong relayed_events, relayed_jobs;
    atomic_int relay_state; /* 0 ok/idle, otherwise a relay_status */
    uint64_t relay_stall_ms;
};

/* jobs.c: the Redis side of the queue */
int worker_free_slots(const struct worker *w);
bool worker_ensure_group(struct worker *w);
void worker_read_send(struct worker *w);
void worker_read_receive(struct worker *w);
void worker_read_check_deadline(struct worker *w, uint64_t now);
void worker_recover_step(struct worker *w);
/* XAUTOCLAIM into the free slots: -1 skipped (no free slot, stopping, …), 0 done, 1 more to scan. */
int worker_reclaim(struct worker *w);
void worker_renew(struct worker *w);
void worker_promote(struct worker *w);
void worker_trim(struct worker *w);
/* Writes every DONE job's outcome to Redis (one pipeline); frees the slots that made it. */
void worker_flush(struct worker *w);
void worker_job_release(struct worker *w, struct job *job);
void worker_job_done(struct job *job, enum job_outcome outcome, long status, long delay_ms,
                     const char *error);
/* Turns the entries of an XREADGROUP/XAUTOCLAIM reply into NEW jobs and starts them. */
void worker_accept_entries(struct worker *w, const redisReply *entries);
void worker_redis_failed(struct worker *w, const char *what, const char *why);

/* endpoints.c */
/* Resolves every NEW job's endpoint and starts its delivery (or settles it). */
void worker_start_new_jobs(struct worker *w);
/* Inserts the webhook_failures row of a dead job (best effort; sets job->recorded on success). */
void worker_record_failure(struct worker *w, struct job *job);
void worker_endpoints_clear(struct worker *w);

#endif
