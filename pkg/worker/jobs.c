/* The Redis side of the job queue: consumer group reads, acks, retries, dead letters, reclaiming
 * jobs of dead consumers, lease renewal, hand-back at shutdown and trimming. Multi-key changes are
 * Lua scripts so each is atomic (a job is never both in the retry set and pending, etc.). */
#include "worker/internal.h"
#include "worker/scripts.h"
#include "worker/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "log/log.h"
#include "base/base.h"
#include "webhook/webhook.h"

#define ARGV_MAX (8 + 2 * 256 + 16)

int worker_free_slots(const struct worker *w)
{
    int free = w->capacity - w->busy - w->reserved;
    return free > 0 ? free : 0;
}

/* Errors are logged when they change, and at most every 30 s while they persist. */
void worker_redis_failed(struct worker *w, const char *what, const char *why)
{
    uint64_t now = base_now_ms();
    w->redis_up = sync_redis_connected(w->cmd);
    if (strcmp(why, w->last_redis_error) != 0 || now - w->redis_error_logged > 30000) {
        snprintf(w->last_redis_error, sizeof(w->last_redis_error), "%s", why);
        w->redis_error_logged = now;
        log_write(LOG_WARN, NULL, "redis operation failed",
                  json_pack("{s:s,s:s}", "operation", what, "error", why));
    }
}

static bool reply_is_error(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           strncmp(r->str, prefix, strlen(prefix)) == 0;
}

static redisReply *command(struct worker *w, const char *what, int argc, const char **argv,
                           const size_t *lens)
{
    char why[SYNCCONN_WHY_MAX];
    redisReply *r = sync_redis_command(w->cmd, argc, argv, lens, why, sizeof(why));
    if (r == NULL) {
        worker_redis_failed(w, what, why);
        return NULL;
    }
    w->redis_up = true;
    if (r->type == REDIS_REPLY_ERROR) {
        if (reply_is_error(r, "NOGROUP"))
            w->group_ready = false; /* Redis lost the stream (restart without persistence) */
        worker_redis_failed(w, what, why);
    }
    return r;
}

bool worker_ensure_group(struct worker *w)
{
    if (w->group_ready)
        return true;
    /* Id 0, not $: jobs published before any consumer existed must be read too. */
    const char *argv[] = {"XGROUP", "CREATE", QUEUE_STREAM_JOBS, QUEUE_GROUP, "0", "MKSTREAM"};
    redisReply *r = command(w, "XGROUP CREATE", 6, argv, NULL);
    if (r == NULL)
        return false;
    bool ok = r->type != REDIS_REPLY_ERROR || reply_is_error(r, "BUSYGROUP");
    freeReplyObject(r);
    if (ok) {
        w->group_ready = true;
        log_write(LOG_INFO, NULL, "consumer group ready",
                  json_pack("{s:s,s:s,s:s}", "stream", QUEUE_STREAM_JOBS, "group", QUEUE_GROUP, "consumer",
                            w->consumer));
    }
    return ok;
}

void worker_job_release(struct worker *w, struct job *job)
{
    if (job->state == JOB_FREE)
        return;
    free(job->body);
    memset(job, 0, sizeof(*job));
    w->busy--;
}

void worker_job_done(struct job *job, enum job_outcome outcome, long status, long delay_ms, const char *error)
{
    job->state = JOB_DONE;
    job->outcome = outcome;
    job->status = status;
    job->delay_ms = delay_ms;
    snprintf(job->error, sizeof(job->error), "%s", error != NULL ? error : "");
}

static bool held(const struct worker *w, const char *id)
{
    for (int i = 0; i < w->capacity; i++)
        if (w->jobs[i].state != JOB_FREE && strcmp(w->jobs[i].id, id) == 0)
            return true;
    return false;
}

static struct job *free_job(struct worker *w)
{
    for (int i = 0; i < w->capacity; i++)
        if (w->jobs[i].state == JOB_FREE)
            return &w->jobs[i];
    return NULL;
}

/* One entry [id, [field, value, …]] (fields may be nil for an entry deleted from the stream). */
static void accept_entry(struct worker *w, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= WORKER_STREAM_ID_MAX)
        return;
    const char *id = e->element[0]->str;
    if (held(w, id))
        return; /* already ours and in progress (a reclaim can return our own slow entries) */
    struct job *job = free_job(w);
    if (job == NULL) {
        /* Cannot happen (reads ask for at most the free slots); the entry stays pending and is
         * reclaimed after the visibility timeout. */
        log_write(LOG_ERROR, NULL, "no free job slot for an entry", json_pack("{s:s}", "id", id));
        return;
    }
    memset(job, 0, sizeof(*job));
    w->busy++;
    job->state = JOB_NEW;
    snprintf(job->id, sizeof(job->id), "%s", id);
    const redisReply *f = e->element[1];
    bool have_event = false, have_endpoint = false, have_type = false, have_body = false;
    job->attempt = 0;
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "event_id") == 0 && base_uuid_is_valid(v->str, v->len)) {
            memcpy(job->event_id, v->str, BASE_UUID_LEN);
            have_event = true;
        } else if (strcmp(k->str, "endpoint_id") == 0 && base_uuid_is_valid(v->str, v->len)) {
            memcpy(job->endpoint_id, v->str, BASE_UUID_LEN);
            have_endpoint = true;
        } else if (strcmp(k->str, "type") == 0 && v->len < sizeof(job->type) &&
                   webhook_event_type_valid(v->str)) {
            memcpy(job->type, v->str, v->len);
            have_type = true;
        } else if (strcmp(k->str, "attempt") == 0) {
            char *end = NULL;
            long a = strtol(v->str, &end, 10);
            if (end != v->str && *end == '\0' && a >= 1 && a <= WORKER_MAX_ATTEMPT)
                job->attempt = (int)a;
        } else if (strcmp(k->str, "body") == 0 && !have_body) {
            job->body = malloc(v->len + 1);
            if (job->body != NULL) {
                memcpy(job->body, v->str, v->len);
                job->body[v->len] = '\0';
                job->body_len = v->len;
                have_body = true;
            }
        }
    }
    job->valid = have_event && have_endpoint && have_type && have_body && job->attempt >= 1;
    if (f->type != REDIS_REPLY_ARRAY) {
        /* Trimmed or deleted while pending: nothing left to deliver; just drop the reference. */
        worker_job_done(job, OUT_ACK, 0, 0, "entry no longer in the stream");
        w->stats.dropped++;
        return;
    }
    if (!job->valid) {
        log_write(LOG_ERROR, NULL, "malformed job: dead-lettered", json_pack("{s:s}", "id", id));
        worker_job_done(job, OUT_DEAD, 0, 0, "malformed job entry");
        return;
    }
    if (w->stopping) {
        /* Read after the stop began: hand it straight back for another worker. */
        worker_job_done(job, OUT_REQUEUE, 0, 0, "worker stopping");
    }
}

void worker_accept_entries(struct worker *w, const redisReply *entries)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++)
        accept_entry(w, entries->element[i]);
    worker_start_new_jobs(w);
}

/* XREADGROUP reply: [[stream, [entries…]]] or nil. Returns the entries array or NULL. */
static const redisReply *stream_entries(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return NULL;
    const redisReply *s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 || s->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return s->element[1];
}

/* ---- the blocking read, on its own connection */

void worker_read_send(struct worker *w)
{
    int free = worker_free_slots(w);
    if (w->read_outstanding || w->stopping || w->recovering || !w->group_ready || free == 0)
        return;
    /* Wait for a handful of free slots while busy, so one read brings several jobs. */
    int batch = w->capacity / 4 > 0 ? w->capacity / 4 : 1;
    if (w->busy > 0 && free < batch)
        return;
    char why[SYNCCONN_WHY_MAX];
    redisContext *c = sync_redis_get(w->reader, why, sizeof(why));
    if (c == NULL) {
        worker_redis_failed(w, "connect (reader)", why);
        return;
    }
    char count[16], block[16];
    snprintf(count, sizeof(count), "%d", free);
    snprintf(block, sizeof(block), "%d", WORKER_READ_BLOCK_MS);
    const char *argv[] = {"XREADGROUP", "GROUP", QUEUE_GROUP, w->consumer,       "COUNT", count,
                          "BLOCK",      block,   "STREAMS",   QUEUE_STREAM_JOBS, ">"};
    if (redisAppendCommandArgv(c, 11, argv, NULL) != REDIS_OK) {
        worker_redis_failed(w, "XREADGROUP", "cannot queue the command");
        sync_redis_drop(w->reader);
        return;
    }
    int done = 0;
    while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            worker_redis_failed(w, "XREADGROUP", c->errstr);
            sync_redis_drop(w->reader);
            return;
        }
    }
    w->read_outstanding = true;
    w->read_sent_ms = base_now_ms();
    w->reserved = free;
}

void worker_read_receive(struct worker *w)
{
    char why[SYNCCONN_WHY_MAX];
    redisContext *c = sync_redis_get(w->reader, why, sizeof(why));
    w->read_outstanding = false;
    w->reserved = 0;
    if (c == NULL)
        return;
    void *reply = NULL;
    /* Called once the socket is readable; the rest of the reply follows at once (bounded by the
     * socket timeout). */
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
        worker_redis_failed(w, "XREADGROUP", c->errstr[0] != '\0' ? c->errstr : "connection lost");
        sync_redis_drop(w->reader);
        return;
    }
    redisReply *r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        if (reply_is_error(r, "NOGROUP"))
            w->group_ready = false;
        worker_redis_failed(w, "XREADGROUP", r->str);
    } else {
        worker_accept_entries(w, stream_entries(r));
    }
    freeReplyObject(r);
}

void worker_read_check_deadline(struct worker *w, uint64_t now)
{
    if (w->read_outstanding &&
        now > w->read_sent_ms + (uint64_t)WORKER_READ_BLOCK_MS + (uint64_t)w->cfg->redis_timeout_ms) {
        /* Redis stopped answering. Anything it handed us meanwhile is pending under our name and
         * will be reclaimed after the visibility timeout. */
        worker_redis_failed(w, "XREADGROUP", "no reply within the block time plus REDIS_TIMEOUT_MS");
        sync_redis_drop(w->reader);
        w->read_outstanding = false;
        w->reserved = 0;
    }
}

/* ---- commands on the command connection */

void worker_recover_step(struct worker *w)
{
    int free = worker_free_slots(w);
    if (!w->recovering || !w->group_ready || free == 0)
        return;
    char count[16];
    snprintf(count, sizeof(count), "%d", free);
    /* An id instead of ">" re-reads this consumer's own pending entries: those a previous run under
     * the same name (a restarted container) had taken but not finished. */
    const char *argv[] = {"XREADGROUP", "GROUP",   QUEUE_GROUP,       w->consumer,      "COUNT",
                          count,        "STREAMS", QUEUE_STREAM_JOBS, w->recover_cursor};
    redisReply *r = command(w, "XREADGROUP (own pending)", 9, argv, NULL);
    if (r == NULL)
        return;
    const redisReply *entries = r->type == REDIS_REPLY_ERROR ? NULL : stream_entries(r);
    if (r->type != REDIS_REPLY_ERROR && (entries == NULL || entries->elements == 0)) {
        w->recovering = false;
    } else if (entries != NULL) {
        const redisReply *last = entries->element[entries->elements - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING)
            snprintf(w->recover_cursor, sizeof(w->recover_cursor), "%s", last->element[0]->str);
        log_write(LOG_INFO, NULL, "resuming this consumer's pending jobs from a previous run",
                  json_pack("{s:i}", "jobs", (int)entries->elements));
        worker_accept_entries(w, entries);
    }
    freeReplyObject(r);
}

int worker_reclaim(struct worker *w)
{
    int free = worker_free_slots(w);
    if (w->stopping || w->recovering || !w->group_ready || free == 0)
        return -1;
    char count[16], idle[24];
    snprintf(count, sizeof(count), "%d", free);
    snprintf(idle, sizeof(idle), "%lld", (long long)w->cfg->worker_visibility_timeout_seconds * 1000);
    const char *argv[] = {"XAUTOCLAIM", QUEUE_STREAM_JOBS, QUEUE_GROUP, w->consumer,
                          idle,         w->reclaim_cursor, "COUNT",     count};
    redisReply *r = command(w, "XAUTOCLAIM", 8, argv, NULL);
    int more = 0;
    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(w->reclaim_cursor, sizeof(w->reclaim_cursor), "%s", r->element[0]->str);
        const redisReply *entries = r->element[1];
        if (entries->type == REDIS_REPLY_ARRAY && entries->elements > 0) {
            w->stats.reclaimed += (long long)entries->elements;
            log_write(LOG_INFO, NULL, "reclaimed jobs idle past the visibility timeout",
                      json_pack("{s:i,s:i}", "jobs", (int)entries->elements, "visibility_timeout_seconds",
                                w->cfg->worker_visibility_timeout_seconds));
            worker_accept_entries(w, entries);
        }
        if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY && r->element[2]->elements > 0)
            log_write(LOG_ERROR, NULL, "pending jobs were deleted from the stream before delivery",
                      json_pack("{s:i}", "jobs", (int)r->element[2]->elements));
        more = strcmp(w->reclaim_cursor, "0-0") != 0;
    }
    freeReplyObject(r);
    return more;
}

/* Runs a script: EVALSHA sha numkeys keys… args… */
static bool push_arg(const char **argv, size_t *lens, int *argc, const char *s, size_t len)
{
    if (*argc >= ARGV_MAX)
        return false;
    argv[*argc] = s;
    lens[*argc] = len;
    (*argc)++;
    return true;
}

void worker_renew(struct worker *w)
{
    if (!w->group_ready || w->busy == 0)
        return;
    const char *argv[ARGV_MAX];
    size_t lens[ARGV_MAX];
    int argc = 0;
    bool ok = push_arg(argv, lens, &argc, "EVALSHA", 7) &&
              push_arg(argv, lens, &argc, w->scripts[SCRIPT_RENEW].sha, 40) &&
              push_arg(argv, lens, &argc, "1", 1) &&
              push_arg(argv, lens, &argc, QUEUE_STREAM_JOBS, strlen(QUEUE_STREAM_JOBS)) &&
              push_arg(argv, lens, &argc, QUEUE_GROUP, strlen(QUEUE_GROUP)) &&
              push_arg(argv, lens, &argc, w->consumer, strlen(w->consumer));
    int ids = 0;
    for (int i = 0; ok && i < w->capacity; i++) {
        const struct job *j = &w->jobs[i];
        if (j->state == JOB_FREE || j->id[0] == '\0')
            continue;
        ok = push_arg(argv, lens, &argc, j->id, strlen(j->id));
        ids++;
    }
    if (!ok || ids == 0)
        return;
    redisReply *r = command(w, "renew leases", argc, argv, lens);
    if (r != NULL)
        freeReplyObject(r);
}

void worker_promote(struct worker *w)
{
    if (w->stopping)
        return;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", WORKER_PROMOTE_BATCH);
    const char *argv[] = {"EVALSHA", w->scripts[SCRIPT_PROMOTE].sha, "2", QUEUE_STREAM_JOBS, QUEUE_ZSET_RETRY,
                          limit};
    redisReply *r = command(w, "promote retries", 6, argv, NULL);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= WORKER_PROMOTE_BATCH)
        w->next_promote = 0; /* more are due */
    freeReplyObject(r);
}

void worker_trim(struct worker *w)
{
    const char *argv[] = {"EVALSHA", w->scripts[SCRIPT_TRIM].sha, "1", QUEUE_STREAM_JOBS};
    redisReply *r = command(w, "trim", 4, argv, NULL);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_INTEGER)
        w->stats.trims++;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        log_write(LOG_DEBUG, NULL, "stream trimmed up to the oldest pending entry",
                  json_pack("{s:I}", "removed", (json_int_t)r->integer));
    freeReplyObject(r);
}

/* ---- flushing outcomes */

static char *job_json(const struct job *j, int attempt)
{
    char a[16];
    snprintf(a, sizeof(a), "%d", attempt);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s%}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                          "type", j->type, "attempt", a, "body", j->body, j->body_len);
    if (o == NULL)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

struct pipeline_entry {
    struct job *job;
    char *owned; /* JSON member of a retry */
    char strings[4][32];
};

/* Appends the command for one DONE job. Returns false when it cannot be built (the job is then
 * dead-lettered as malformed if it was meant for the retry set). */
static bool append_outcome(struct worker *w, redisContext *c, struct pipeline_entry *pe)
{
    struct job *j = pe->job;
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    switch (j->outcome) {
    case OUT_ACK: {
        const char *a[] = {"XACK", QUEUE_STREAM_JOBS, QUEUE_GROUP, j->id};
        return redisAppendCommandArgv(c, 4, a, NULL) == REDIS_OK;
    }
    case OUT_RETRY:
    case OUT_DEFER: {
        int next = j->outcome == OUT_RETRY ? j->attempt + 1 : j->attempt;
        pe->owned = job_json(j, next);
        if (pe->owned == NULL)
            return false;
        snprintf(pe->strings[0], sizeof(pe->strings[0]), "%ld", j->delay_ms);
        const char *a[] = {"EVALSHA",
                           w->scripts[SCRIPT_RETRY].sha,
                           "2",
                           QUEUE_STREAM_JOBS,
                           QUEUE_ZSET_RETRY,
                           QUEUE_GROUP,
                           j->id,
                           pe->strings[0],
                           pe->owned};
        return redisAppendCommandArgv(c, 9, a, NULL) == REDIS_OK;
    }
    case OUT_DEAD: {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        snprintf(pe->strings[0], sizeof(pe->strings[0]), "%d", QUEUE_DEAD_MAXLEN);
        snprintf(pe->strings[1], sizeof(pe->strings[1]), "%d", j->attempt);
        snprintf(pe->strings[2], sizeof(pe->strings[2]), "%ld", j->status);
        snprintf(pe->strings[3], sizeof(pe->strings[3]), "%lld",
                 (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
        const char *fixed[] = {"EVALSHA",
                               w->scripts[SCRIPT_DEAD].sha,
                               "2",
                               QUEUE_STREAM_JOBS,
                               QUEUE_STREAM_DEAD,
                               QUEUE_GROUP,
                               j->id,
                               pe->strings[0],
                               "event_id",
                               j->event_id,
                               "endpoint_id",
                               j->endpoint_id,
                               "type",
                               j->type,
                               "attempts",
                               pe->strings[1],
                               "last_status",
                               pe->strings[2],
                               "last_error",
                               j->error,
                               "failed_at_ms",
                               pe->strings[3],
                               "consumer",
                               w->consumer};
        _Static_assert(sizeof(fixed) / sizeof(fixed[0]) + 2 <= sizeof(argv) / sizeof(argv[0]),
                       "room for every dead-letter field and the body");
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            argv[argc] = fixed[i];
            lens[argc] = strlen(fixed[i]);
            argc++;
        }
        argv[argc] = "body";
        lens[argc++] = 4;
        argv[argc] = j->body != NULL ? j->body : "";
        lens[argc++] = j->body_len;
        return redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK;
    }
    case OUT_REQUEUE: {
        snprintf(pe->strings[0], sizeof(pe->strings[0]), "%d", j->attempt);
        const char *a[] = {"EVALSHA",
                           w->scripts[SCRIPT_REQUEUE].sha,
                           "1",
                           QUEUE_STREAM_JOBS,
                           QUEUE_GROUP,
                           w->consumer,
                           j->id,
                           j->event_id,
                           j->endpoint_id,
                           j->type,
                           pe->strings[0],
                           j->body != NULL ? j->body : ""};
        size_t l[12];
        for (int i = 0; i < 12; i++)
            l[i] = strlen(a[i]);
        l[11] = j->body != NULL ? j->body_len : 0;
        return redisAppendCommandArgv(c, 12, a, l) == REDIS_OK;
    }
    }
    return false;
}

static void count_outcome(struct worker *w, const struct job *j)
{
    switch (j->outcome) {
    case OUT_RETRY:
        w->stats.retried++;
        log_write(LOG_WARN, NULL, "delivery failed; retry scheduled",
                  json_pack("{s:s,s:s,s:i,s:I,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                            "attempt", j->attempt, "retry_in_ms", (json_int_t)j->delay_ms, "error",
                            j->error));
        break;
    case OUT_DEAD:
        w->stats.dead++;
        log_write(LOG_WARN, NULL, "delivery dead-lettered",
                  json_pack("{s:s,s:s,s:i,s:s}", "event_id", j->event_id, "endpoint_id", j->endpoint_id,
                            "attempts", j->attempt, "error", j->error));
        break;
    case OUT_REQUEUE:
        w->stats.requeued++;
        break;
    case OUT_ACK:
    case OUT_DEFER:
        break;
    }
}

void worker_flush(struct worker *w)
{
    struct pipeline_entry pending[256];
    int n = 0;
    for (int i = 0; i < w->capacity && n < (int)(sizeof(pending) / sizeof(pending[0])); i++) {
        struct job *j = &w->jobs[i];
        if (j->state != JOB_DONE)
            continue;
        if (j->outcome == OUT_DEAD && j->valid && !j->recorded)
            worker_record_failure(w, j);
        memset(&pending[n], 0, sizeof(pending[n]));
        pending[n++].job = j;
    }
    if (n == 0)
        return;
    char why[SYNCCONN_WHY_MAX];
    redisContext *c = sync_redis_get(w->cmd, why, sizeof(why));
    if (c == NULL) {
        worker_redis_failed(w, "connect", why);
        return;
    }
    int appended = 0;
    for (int i = 0; i < n; i++) {
        if (!append_outcome(w, c, &pending[i])) {
            /* Only a JSON failure can get here (invalid UTF-8 in a body): it cannot be retried. */
            pending[i].job->outcome = OUT_DEAD;
            snprintf(pending[i].job->error, sizeof(pending[i].job->error), "job cannot be re-encoded");
            free(pending[i].owned);
            pending[i].owned = NULL;
            if (!append_outcome(w, c, &pending[i]))
                break;
        }
        appended++;
    }
    bool lost = false;
    for (int i = 0; i < appended; i++) {
        void *reply = NULL;
        if (!lost && (redisGetReply(c, &reply) != REDIS_OK || reply == NULL)) {
            worker_redis_failed(w, "flush outcomes", c->errstr[0] != '\0' ? c->errstr : "connection lost");
            lost = true;
        }
        redisReply *r = reply;
        struct job *j = pending[i].job;
        if (r != NULL) {
            if (r->type == REDIS_REPLY_ERROR) {
                if (reply_is_error(r, "NOGROUP")) {
                    /* The stream is gone with Redis' data; the job went with it. */
                    w->group_ready = false;
                    w->stats.dropped++;
                    worker_job_release(w, j);
                } else if (reply_is_error(r, "NOSCRIPT")) {
                    lost = true; /* reconnecting reloads the scripts; the job stays DONE */
                } else {
                    worker_redis_failed(w, "flush outcome", r->str);
                }
            } else {
                count_outcome(w, j);
                worker_job_release(w, j);
            }
            freeReplyObject(r);
        }
        free(pending[i].owned);
    }
    for (int i = appended; i < n; i++)
        free(pending[i].owned);
    if (lost)
        sync_redis_drop(w->cmd);
    else
        w->redis_up = true;
}
