/* The Redis Streams back-end's state, shared by its files (redis*.c; not part of the public surface).
 * redis.c (set-up, the table) uses redis_read.c (consumer group reads, reclaim, leases), redis_settle.c
 * (outcomes, retries, trimming) and redis_publish.c (the relay's half); all of them use redis_io.c. */
#ifndef BOLLARD_QUEUE_REDIS_INTERNAL_H
#define BOLLARD_QUEUE_REDIS_INTERNAL_H

#include <hiredis.h>

#include "queue/internal.h"
#include "queue/redis_scripts.h"
#include "syncconn/syncconn.h"

#define QUEUE_READ_BLOCK_MS 1000 /* XREADGROUP BLOCK: bounds how long a stop waits for a read */
#define QUEUE_PROMOTE_MS    250  /* due retries are moved back into the stream this often */
#define QUEUE_PROMOTE_BATCH 200
#define QUEUE_TRIM_MS       5000
#define QUEUE_MAX_ATTEMPT   1000 /* sanity bound on the attempt field of a job */

struct redis_queue {
    struct queue base;
    char consumer[QUEUE_CONSUMER_MAX];
    int timeout_ms;
    uint64_t visibility_ms;

    /* producer half (relay thread) */
    struct syncconn_redis *producer;
    struct syncconn_redis_script publish_script[3]; /* publish, re-enqueue, raise */
    char **dedupe; /* keys of the last publish, UNLINKed once its rows are stamped */
    int n_dedupe;
    char recovery_key[sizeof(QUEUE_RECOVERY_PREFIX) + 16]; /* this recovery's progress key ("" between) */
    long long recovery_batches;                            /* batches it added so far */

    /* consumer half (deliverer thread) */
    struct syncconn_redis *cmd;    /* every command but the blocking read */
    struct syncconn_redis *reader; /* XREADGROUP … BLOCK only, so waiting never holds up acks */
    struct syncconn_redis_script scripts[SCRIPT_COUNT];
    bool group_ready;
    bool recovering; /* re-reading this consumer's own pending entries after a restart */
    char recover_cursor[QUEUE_REF_MAX];
    char reclaim_cursor[QUEUE_REF_MAX];
    bool read_outstanding;
    uint64_t read_sent_ms;
    int reserved; /* slots promised to the outstanding blocking read */
    uint64_t next_promote, next_reclaim, next_renew, next_trim;
    char last_redis_error[SYNCCONN_WHY_MAX];
    uint64_t redis_error_logged;
};

/* redis_io.c */
int queue_redis_free_slots(const struct redis_queue *q, const struct queue_slots *s);
void queue_redis_failed(struct redis_queue *q, const char *what, const char *why);
bool queue_redis_reply_is(const redisReply *r, const char *prefix);
/* One command on the command connection; failures are logged (NOGROUP forgets the group). */
redisReply *queue_redis_command(struct redis_queue *q, const char *what, int argc, const char **argv,
                                const size_t *lens);

/* redis_read.c */
bool queue_redis_ensure_group(struct redis_queue *q);
void queue_redis_read_send(struct redis_queue *q, struct queue_slots *s);
void queue_redis_read_receive(struct redis_queue *q, struct queue_slots *s);
void queue_redis_read_check_deadline(struct redis_queue *q, uint64_t now);
void queue_redis_recover_step(struct redis_queue *q, struct queue_slots *s);
/* XAUTOCLAIM into the free slots: -1 skipped (no free slot, stopping, …), 0 done, 1 more to scan. */
int queue_redis_reclaim(struct redis_queue *q, struct queue_slots *s);
void queue_redis_renew(struct redis_queue *q, const struct queue_slots *s);

/* redis_settle.c */
void queue_redis_promote(struct redis_queue *q);
void queue_redis_trim(struct redis_queue *q);
/* Writes every DONE job's outcome (one pipeline); frees the slots that made it. */
void queue_redis_flush(struct redis_queue *q, struct queue_slots *s);

/* redis_report.c */
void queue_redis_report(struct queue *base, const struct queue_worker_figures *f, bool gone);

/* redis_publish.c */
bool queue_redis_ready(struct queue *base, char *why, size_t cap);
enum queue_status queue_redis_publish(struct queue *base, const struct queue_event *events, int n,
                                      int *accepted, long *jobs, char *why, size_t cap);
int queue_redis_durable(struct queue *base, const struct queue_event *taken, int n_taken, long long *ids,
                        int cap);
void queue_redis_stamped(struct queue *base, const long long *ids, int n);
enum queue_status queue_redis_marker_check(struct queue *base, long long *marker, char *why, size_t cap);
enum queue_status queue_redis_reenqueue(struct queue *base, const struct queue_event *events, int n,
                                        long *jobs, char *why, size_t cap);
void queue_redis_recovery_begin(struct queue *base);
enum queue_status queue_redis_marker_raise(struct queue *base, long long recovered, char *why, size_t cap);
void queue_redis_dedupe_clear(struct redis_queue *q);

#endif
