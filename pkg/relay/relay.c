#include "relay/relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/base.h"
#include "log/log.h"

#define IDLE_MS         100 /* outbox poll interval when it was empty */
#define ERROR_WAIT_MS   1000
#define SCHEMA_MS       30000 /* re-check of the schema rule while compatible */
#define PRUNE_MS        60000
#define SAY_EVERY_MS    5000u /* while it cannot publish, a "not publishing" line at least this often */
#define RECONCILE_MS    1000  /* the loss marker is compared with the tracked deliveries this often */
#define RECOVER_WAIT_MS 25    /* between two recovery batches: at most OUTBOX_TRACKED_BATCH × 40 jobs/s */
#define MARK_MAX        (QUEUE_MEMORY_EVENTS > RELAY_BATCH ? QUEUE_MEMORY_EVENTS : RELAY_BATCH)

struct relay {
    struct outbox *outbox;
    struct queue *q;
    long long cursor; /* the last row taken (the SQLite dialect's scan starts after it) */
    pthread_t thread;
    bool joined;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    atomic_bool schema_ok; /* the last schema check found the schema compatible */
    atomic_ullong tick_ms;
    atomic_llong events, jobs, recovered, recoveries;
    atomic_int state;
    /* Redis data loss (see relay.h): a recovery re-enqueues tracked deliveries with
     * recover_cursor < id ≤ recover_upto, a batch per turn. */
    bool recovering;
    bool reconciled; /* the marker was compared once: nothing is published before */
    long long recover_cursor, recover_upto, recover_jobs;
    uint64_t recover_started, next_reconcile;
};

static void wait_ms(struct relay *r, int ms)
{
    if (ms <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!atomic_load(&r->stop))
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&r->mu);
}

const char *relay_state_name(enum relay_state state)
{
    switch (state) {
    case RELAY_OK:
        return "ok";
    case RELAY_ERR_DB:
        return "database unavailable";
    case RELAY_ERR_REDIS:
        return "redis unavailable";
    case RELAY_BACKLOG:
        return "paused: backlog at its bound";
    case RELAY_ERR_SCHEMA:
        return "schema not compatible";
    case RELAY_ERR_PUBLISH:
        return "redis refused the publish script";
    case RELAY_RECOVERING:
        return "recovering: re-enqueuing deliveries Redis lost";
    }
    return "unknown";
}

/* One step (see relay.h); `read`: false only for the last, marking-only step. *rows: rows taken. */
static enum relay_state step(struct relay *r, bool read, int *rows_taken, long *jobs, char *why, size_t cap)
{
    struct outbox_rows rows = {0};
    long long ids[MARK_MAX];
    enum relay_state rc = RELAY_ERR_DB;
    int accepted = 0;
    *rows_taken = 0;
    *jobs = 0;
    /* The queue first: without it nothing can be published, and no row should be locked meanwhile. */
    if (read && !queue_ready(r->q, why, cap))
        return RELAY_ERR_REDIS;
    if (read) {
        enum outbox_status st = outbox_read(r->outbox, r->cursor, RELAY_BATCH, &rows, why, cap);
        if (st != OUTBOX_OK) {
            rc = st == OUTBOX_ERR_SCHEMA ? RELAY_ERR_SCHEMA : RELAY_ERR_DB;
            goto fail;
        }
        if (rows.n > 0) {
            /* The marker must be at least the highest value any relay tracked (not only this one's
             * last): a relay that published little since a loss cannot raise it past what was lost. */
            long long seq = 0, max_id = 0;
            if (!outbox_tracked_max(r->outbox, &seq, &max_id, why, cap))
                goto fail;
            queue_marker_expect(r->q, seq);
        }
        switch (queue_publish(r->q, rows.events, rows.n, &accepted, jobs, why, cap)) {
        case QUEUE_OK:
            /* Taken, whatever happens next: the memory back-end holds them, so the scan goes on after
             * them (PostgreSQL's scan has no cursor: a rollback makes them unpublished again). */
            if (accepted > 0)
                r->cursor = rows.events[accepted - 1].row_id;
            break;
        case QUEUE_DOWN:
            rc = RELAY_ERR_REDIS;
            goto fail;
        case QUEUE_FULL:
            rc = RELAY_BACKLOG;
            goto fail;
        case QUEUE_REFUSED:
            rc = RELAY_ERR_PUBLISH;
            goto fail;
        case QUEUE_LOST:
            rc = RELAY_RECOVERING;
            goto fail;
        }
        /* Tracked until settled, in the transaction that stamps them: what Redis loses is in here. */
        if (!outbox_track(r->outbox, rows.events, accepted, queue_marker_published(r->q), why, cap))
            goto fail;
    }
    int n = queue_durable(r->q, rows.events, accepted, ids, MARK_MAX);
    if (!outbox_mark(r->outbox, ids, n, why, cap))
        goto fail;
    if (read && !outbox_commit(r->outbox, why, cap))
        goto done; /* maybe committed: the queue deduplicates a second publish of these rows */
    if (n > 0)
        queue_stamped(r->q, ids, n); /* only then: after a failed commit the dedupe keys must stay */
    *rows_taken = accepted;
    rc = RELAY_OK;
    goto done;
fail:
    if (read)
        outbox_rollback(r->outbox);
done:
    if (read)
        outbox_rows_free(r->outbox, &rows);
    return rc;
}

/* Compares the marker with the highest tracked value and starts a recovery when it is below:
 * RELAY_OK (compared; r->recovering says whether a recovery starts), or the error state when Redis or
 * the database could not be asked (the next turn tries again). */
static enum relay_state begin_recovery(struct relay *r, uint64_t now, const char *cause, char *why,
                                       size_t cap)
{
    long long seq = 0, upto = 0, marker = 0;
    if (!outbox_tracked_max(r->outbox, &seq, &upto, why, cap))
        return RELAY_ERR_DB;
    queue_marker_expect(r->q, seq);
    enum queue_status st = queue_marker_check(r->q, &marker, why, cap);
    if (st == QUEUE_OK) {
        r->reconciled = true;
        return RELAY_OK; /* nothing lost (or another relay recovered already) */
    }
    if (st != QUEUE_LOST)
        return st == QUEUE_REFUSED ? RELAY_ERR_PUBLISH : RELAY_ERR_REDIS;
    r->reconciled = true;
    r->recovering = true;
    r->recover_cursor = 0;
    r->recover_upto = upto;
    r->recover_jobs = 0;
    r->recover_started = now;
    queue_recovery_begin(r->q);
    atomic_fetch_add(&r->recoveries, 1);
    log_write(LOG_WARN, NULL, "relay: Redis lost data; re-enqueuing every unsettled delivery",
              json_pack("{s:s,s:I,s:I,s:I}", "detected_by", cause, "marker", (json_int_t)marker, "expected",
                        (json_int_t)queue_marker_expected(r->q), "deliveries_upto_id", (json_int_t)upto));
    return RELAY_OK;
}

/* Redis lost data again in the middle of a recovery: it starts over at once (new detection, from the
 * first tracked delivery; what was re-enqueued so far may be gone). */
static void recovery_lost(struct relay *r, const char *why)
{
    log_write(LOG_WARN, NULL, "relay: Redis lost data during the recovery; starting it over",
              json_pack("{s:s,s:I}", "error", why, "jobs_so_far", (json_int_t)r->recover_jobs));
    r->recovering = false;
    r->next_reconcile = 0;
}

/* A recovery batch the queue did not take: a new loss starts the recovery over (RELAY_RECOVERING),
 * anything else is the relay's error state for it. */
static enum relay_state recovery_failed(struct relay *r, enum queue_status st, const char *why)
{
    if (st == QUEUE_LOST) {
        recovery_lost(r, why);
        return RELAY_RECOVERING;
    }
    return st == QUEUE_REFUSED ? RELAY_ERR_PUBLISH : RELAY_ERR_REDIS;
}

/* One batch of a recovery; RELAY_RECOVERING while there is more, RELAY_OK once done (or started over). */
static enum relay_state recover_step(struct relay *r, uint64_t now, char *why, size_t cap)
{
    if (!queue_ready(r->q, why, cap))
        return RELAY_ERR_REDIS;
    struct outbox_rows rows = {0};
    enum relay_state rc = RELAY_ERR_DB;
    enum outbox_status st = outbox_tracked_read(r->outbox, r->recover_cursor, r->recover_upto,
                                                OUTBOX_TRACKED_BATCH, &rows, why, cap);
    if (st != OUTBOX_OK) {
        rc = st == OUTBOX_ERR_SCHEMA ? RELAY_ERR_SCHEMA : RELAY_ERR_DB;
        goto done;
    }
    long jobs = 0;
    enum queue_status qs = queue_reenqueue(r->q, rows.events, rows.n, &jobs, why, cap);
    if (qs != QUEUE_OK) {
        rc = recovery_failed(r, qs, why);
        goto done;
    }
    r->recover_jobs += jobs;
    if (rows.n > 0)
        r->recover_cursor = rows.events[rows.n - 1].row_id;
    rc = RELAY_RECOVERING;
    if (rows.n < OUTBOX_TRACKED_BATCH) {
        qs = queue_marker_raise(r->q, r->recover_jobs, why, cap);
        if (qs != QUEUE_OK) {
            rc = recovery_failed(r, qs, why);
            goto done;
        }
        r->recovering = false;
        atomic_fetch_add(&r->recovered, r->recover_jobs);
        log_write(LOG_WARN, NULL, "relay: recovery complete; unsettled deliveries re-enqueued",
                  json_pack("{s:I,s:I}", "jobs", (json_int_t)r->recover_jobs, "elapsed_ms",
                            (json_int_t)(now - r->recover_started)));
        rc = RELAY_OK;
    }
done:
    outbox_rows_free(r->outbox, &rows);
    return rc;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    bool schema_ok = false;
    uint64_t next_schema = 0, next_prune = base_now_ms() + PRUNE_MS;
    int last_state = -1; /* anything but a real state, so the first one is logged */
    uint64_t last_logged = 0, failing_since = 0;
    int failed_attempts = 0; /* consecutive iterations that could not publish */
    while (!atomic_load(&r->stop)) {
        uint64_t now = base_now_ms();
        atomic_store(&r->tick_ms, now);
        char why[BASE_WHY_MAX] = "";
        enum relay_state state = RELAY_OK;
        int wait = IDLE_MS;
        if (now >= next_schema) {
            bool was = schema_ok;
            schema_ok = outbox_schema_ok(r->outbox, why, sizeof(why));
            atomic_store(&r->schema_ok, schema_ok);
            next_schema = now + (schema_ok ? SCHEMA_MS : ERROR_WAIT_MS);
            if (schema_ok != was && schema_ok)
                log_write(LOG_INFO, NULL, "relay: schema compatible; publishing outbox events", NULL);
        }
        if (schema_ok && !r->recovering && now >= r->next_reconcile) {
            /* Idle or not, the marker is compared with the tracked deliveries every RECONCILE_MS (a
             * publish also compares it, atomically, with what this relay last saw). */
            r->next_reconcile = now + RECONCILE_MS;
            state = begin_recovery(r, now, "periodic check", why, sizeof(why));
        }
        if (!schema_ok) {
            state = RELAY_ERR_SCHEMA;
            wait = ERROR_WAIT_MS;
        } else if (!r->reconciled) {
            /* Not compared yet (Redis or the database away): publishing now could raise a marker that
             * is below what was lost past the value that reveals the loss. */
            if (state == RELAY_OK)
                state = RELAY_ERR_REDIS;
            wait = ERROR_WAIT_MS;
            r->next_reconcile = 0;
        } else if (r->recovering) {
            state = recover_step(r, now, why, sizeof(why));
            wait = state == RELAY_RECOVERING || state == RELAY_OK ? RECOVER_WAIT_MS : ERROR_WAIT_MS;
            if (state == RELAY_RECOVERING)
                state = RELAY_OK; /* making progress: not an error state for the logs */
        } else {
            int rows = 0;
            long jobs = 0;
            state = step(r, true, &rows, &jobs, why, sizeof(why));
            if (state == RELAY_RECOVERING) {
                state = begin_recovery(r, now, "publish", why, sizeof(why));
                wait = 0;
            }
            if (state == RELAY_OK && rows > 0) {
                atomic_fetch_add(&r->events, rows);
                atomic_fetch_add(&r->jobs, jobs);
                wait = rows >= RELAY_BATCH ? 0 : IDLE_MS / 4;
            } else if (state != RELAY_OK) {
                wait = ERROR_WAIT_MS;
                if (state == RELAY_ERR_SCHEMA)
                    next_schema = 0;
            }
        }
        atomic_store(&r->state, (int)state);
        if (state == RELAY_OK)
            failed_attempts = 0;
        else if (failed_attempts++ == 0)
            failing_since = now;
        /* A line when the state changes, and while it cannot publish one every few seconds with the
         * attempt and the time waited (not on every change of the error's text, which may
         * alternate between two causes every second). */
        if ((int)state != last_state ||
            (state != RELAY_OK && now - last_logged >= (state == RELAY_BACKLOG ? 30000u : SAY_EVERY_MS))) {
            if (state == RELAY_OK)
                log_write(LOG_INFO, NULL, "relay: running", NULL);
            else
                log_write(state == RELAY_BACKLOG       ? LOG_INFO
                          : state == RELAY_ERR_PUBLISH ? LOG_ERROR
                                                       : LOG_WARN,
                          NULL, "relay: not publishing",
                          json_pack("{s:s,s:s,s:i,s:I}", "state", relay_state_name(state), "error", why,
                                    "attempt", failed_attempts, "elapsed_ms",
                                    (json_int_t)(now - failing_since)));
            last_state = (int)state;
            last_logged = now;
        }
        if (schema_ok && now >= next_prune) {
            next_prune = now + PRUNE_MS;
            long pruned = outbox_prune(r->outbox, why, sizeof(why));
            if (pruned > 0)
                log_write(LOG_INFO, NULL, "relay: pruned published outbox rows past the retention",
                          json_pack("{s:I,s:i}", "rows", (json_int_t)pruned, "retention_days",
                                    OUTBOX_RETENTION_DAYS));
        }
        wait_ms(r, wait);
    }
    int rows = 0;
    long jobs = 0;
    char why[BASE_WHY_MAX];
    step(r, false, &rows, &jobs, why, sizeof(why));
    return NULL;
}

struct relay *relay_start(struct outbox *outbox, struct queue *q)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        outbox_free(outbox);
        return NULL;
    }
    r->outbox = outbox;
    r->q = q;
    atomic_store(&r->tick_ms, base_now_ms());
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (base_thread_start(&r->thread, relay_main, r) != 0) {
        r->joined = true;
        relay_free(r);
        return NULL;
    }
    return r;
}

void relay_stop(struct relay *r)
{
    pthread_mutex_lock(&r->mu);
    atomic_store(&r->stop, true);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

bool relay_join(struct relay *r, uint64_t deadline_ms)
{
    relay_stop(r);
    if (r->joined)
        return true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t now = base_now_ms();
    uint64_t left = deadline_ms > now ? deadline_ms - now : 0;
    until.tv_sec += (time_t)(left / 1000);
    until.tv_nsec += (long)(left % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    r->joined = pthread_timedjoin_np(r->thread, NULL, &until) == 0;
    return r->joined;
}

void relay_free(struct relay *r)
{
    if (r == NULL)
        return;
    if (!r->joined) {
        relay_stop(r);
        pthread_join(r->thread, NULL);
    }
    outbox_free(r->outbox);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

struct relay_stats relay_stats(struct relay *r)
{
    return (struct relay_stats){.tick_ms = atomic_load(&r->tick_ms),
                                .events = atomic_load(&r->events),
                                .jobs = atomic_load(&r->jobs),
                                .recovered = atomic_load(&r->recovered),
                                .recoveries = atomic_load(&r->recoveries),
                                .state = (enum relay_state)atomic_load(&r->state),
                                .schema_ok = atomic_load(&r->schema_ok)};
}
