/* The Redis back-end's reads: the consumer group, the blocking XREADGROUP on its own connection, this
 * consumer's own pending entries after a restart, XAUTOCLAIM of jobs idle past the visibility timeout at
 * dead consumers, and lease renewal of the jobs in delivery. */
#include "queue/redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log/log.h"
#include "webhook/webhook.h"

#define ARGV_MAX (8 + 2 * 256 + 16)

bool queue_redis_ensure_group(struct redis_queue *q)
{
    if (q->group_ready)
        return true;
    /* Id 0, not $: jobs published before any consumer existed must be read too. */
    const char *argv[] = {"XGROUP", "CREATE", QUEUE_STREAM_JOBS, QUEUE_GROUP, "0", "MKSTREAM"};
    redisReply *r = queue_redis_command(q, "XGROUP CREATE", 6, argv, NULL);
    if (r == NULL)
        return false;
    bool ok = r->type != REDIS_REPLY_ERROR || queue_redis_reply_is(r, "BUSYGROUP");
    freeReplyObject(r);
    if (ok) {
        q->group_ready = true;
        log_write(LOG_INFO, NULL, "consumer group ready",
                  json_pack("{s:s,s:s,s:s}", "stream", QUEUE_STREAM_JOBS, "group", QUEUE_GROUP, "consumer",
                            q->consumer));
    }
    return ok;
}

static bool held(const struct queue_slots *s, const char *id)
{
    for (int i = 0; i < s->capacity; i++)
        if (s->jobs[i].state != QUEUE_JOB_FREE && strcmp(s->jobs[i].ref, id) == 0)
            return true;
    return false;
}

/* One entry [id, [field, value, …]] (fields may be nil for an entry deleted from the stream). */
static void accept_entry(struct redis_queue *q, struct queue_slots *s, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= QUEUE_REF_MAX)
        return;
    const char *id = e->element[0]->str;
    if (held(s, id))
        return; /* already ours and in progress (a reclaim can return our own slow entries) */
    struct queue_job *job = queue_slot_take(s);
    if (job == NULL) {
        /* Cannot happen (reads ask for at most the free slots); the entry stays pending and is
         * reclaimed after the visibility timeout. */
        log_write(LOG_ERROR, NULL, "no free job slot for an entry", json_pack("{s:s}", "id", id));
        return;
    }
    snprintf(job->ref, sizeof(job->ref), "%s", id);
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
            if (end != v->str && *end == '\0' && a >= 1 && a <= QUEUE_MAX_ATTEMPT)
                job->attempt = (int)a;
        } else if (strcmp(k->str, "body") == 0 && !have_body) {
            job->body = base_memdup(v->str, v->len);
            job->body_len = v->len;
            have_body = job->body != NULL;
        }
    }
    job->valid = have_event && have_endpoint && have_type && have_body && job->attempt >= 1;
    if (f->type != REDIS_REPLY_ARRAY) {
        /* Trimmed or deleted while pending: nothing left to deliver; just drop the reference. */
        queue_job_done(job, QUEUE_ACK, 0, 0, "entry no longer in the stream");
        q->base.stats.dropped++;
        return;
    }
    if (!job->valid) {
        log_write(LOG_ERROR, NULL, "malformed job: dead-lettered", json_pack("{s:s}", "id", id));
        queue_job_done(job, QUEUE_DEAD, 0, 0, "malformed job entry");
        return;
    }
    if (q->base.stopping) {
        /* Read after the stop began: hand it straight back for another worker. */
        queue_job_done(job, QUEUE_REQUEUE, 0, 0, "worker stopping");
    }
}

static void accept_entries(struct redis_queue *q, struct queue_slots *s, const redisReply *entries)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++)
        accept_entry(q, s, entries->element[i]);
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

void queue_redis_read_send(struct redis_queue *q, struct queue_slots *s)
{
    int free = queue_redis_free_slots(q, s);
    if (q->read_outstanding || q->base.stopping || q->recovering || !q->group_ready || free == 0)
        return;
    /* Wait for a handful of free slots while busy, so one read brings several jobs. */
    int batch = s->capacity / 4 > 0 ? s->capacity / 4 : 1;
    if (s->busy > 0 && free < batch)
        return;
    char why[SYNCCONN_WHY_MAX];
    if (!syncconn_redis_ensure(q->reader, why, sizeof(why))) {
        queue_redis_failed(q, "connect (reader)", why);
        return;
    }
    char count[16], block[16];
    snprintf(count, sizeof(count), "%d", free);
    snprintf(block, sizeof(block), "%d", QUEUE_READ_BLOCK_MS);
    const char *argv[] = {"XREADGROUP", "GROUP", QUEUE_GROUP, q->consumer,       "COUNT", count,
                          "BLOCK",      block,   "STREAMS",   QUEUE_STREAM_JOBS, ">"};
    /* A failed send drops the connection itself. */
    if (!syncconn_redis_append(q->reader, 11, argv, NULL, why, sizeof(why)) ||
        !syncconn_redis_send(q->reader, why, sizeof(why))) {
        queue_redis_failed(q, "XREADGROUP", why);
        syncconn_redis_drop(q->reader);
        return;
    }
    q->read_outstanding = true;
    q->read_sent_ms = base_now_ms();
    q->reserved = free;
}

void queue_redis_read_receive(struct redis_queue *q, struct queue_slots *s)
{
    char why[SYNCCONN_WHY_MAX];
    q->read_outstanding = false;
    q->reserved = 0;
    if (!syncconn_redis_connected(q->reader))
        return;
    /* Called once the socket is readable; the rest of the reply follows at once (bounded by the
     * connection's timeout). A failure drops the connection. */
    redisReply *reply = syncconn_redis_reply(q->reader, why, sizeof(why));
    if (reply == NULL) {
        queue_redis_failed(q, "XREADGROUP", why);
        return;
    }
    redisReply *r = reply;
    if (r->type == REDIS_REPLY_ERROR) {
        if (queue_redis_reply_is(r, "NOGROUP"))
            q->group_ready = false;
        queue_redis_failed(q, "XREADGROUP", r->str);
    } else {
        accept_entries(q, s, stream_entries(r));
    }
    freeReplyObject(r);
}

void queue_redis_read_check_deadline(struct redis_queue *q, uint64_t now)
{
    if (q->read_outstanding &&
        now > q->read_sent_ms + (uint64_t)QUEUE_READ_BLOCK_MS + (uint64_t)q->timeout_ms) {
        /* Redis stopped answering. Anything it handed us meanwhile is pending under our name and
         * will be reclaimed after the visibility timeout. */
        queue_redis_failed(q, "XREADGROUP", "no reply within the block time plus REDIS_TIMEOUT_MS");
        syncconn_redis_drop(q->reader);
        q->read_outstanding = false;
        q->reserved = 0;
    }
}

/* ---- commands on the command connection */

void queue_redis_recover_step(struct redis_queue *q, struct queue_slots *s)
{
    int free = queue_redis_free_slots(q, s);
    if (!q->recovering || !q->group_ready || free == 0)
        return;
    char count[16];
    snprintf(count, sizeof(count), "%d", free);
    /* An id instead of ">" re-reads this consumer's own pending entries: those a previous run under
     * the same name (a restarted container) had taken but not finished. */
    const char *argv[] = {"XREADGROUP", "GROUP",   QUEUE_GROUP,       q->consumer,      "COUNT",
                          count,        "STREAMS", QUEUE_STREAM_JOBS, q->recover_cursor};
    redisReply *r = queue_redis_command(q, "XREADGROUP (own pending)", 9, argv, NULL);
    if (r == NULL)
        return;
    const redisReply *entries = r->type == REDIS_REPLY_ERROR ? NULL : stream_entries(r);
    if (r->type != REDIS_REPLY_ERROR && (entries == NULL || entries->elements == 0)) {
        q->recovering = false;
    } else if (entries != NULL) {
        const redisReply *last = entries->element[entries->elements - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING)
            snprintf(q->recover_cursor, sizeof(q->recover_cursor), "%s", last->element[0]->str);
        log_write(LOG_INFO, NULL, "resuming this consumer's pending jobs from a previous run",
                  json_pack("{s:i}", "jobs", (int)entries->elements));
        accept_entries(q, s, entries);
    }
    freeReplyObject(r);
}

int queue_redis_reclaim(struct redis_queue *q, struct queue_slots *s)
{
    int free = queue_redis_free_slots(q, s);
    if (q->base.stopping || q->recovering || !q->group_ready || free == 0)
        return -1;
    char count[16], idle[24];
    snprintf(count, sizeof(count), "%d", free);
    snprintf(idle, sizeof(idle), "%lld", (long long)q->visibility_ms);
    const char *argv[] = {"XAUTOCLAIM", QUEUE_STREAM_JOBS, QUEUE_GROUP, q->consumer,
                          idle,         q->reclaim_cursor, "COUNT",     count};
    redisReply *r = queue_redis_command(q, "XAUTOCLAIM", 8, argv, NULL);
    int more = 0;
    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(q->reclaim_cursor, sizeof(q->reclaim_cursor), "%s", r->element[0]->str);
        const redisReply *entries = r->element[1];
        if (entries->type == REDIS_REPLY_ARRAY && entries->elements > 0) {
            q->base.stats.reclaimed += (long long)entries->elements;
            log_write(LOG_INFO, NULL, "reclaimed jobs idle past the visibility timeout",
                      json_pack("{s:i,s:i}", "jobs", (int)entries->elements, "visibility_timeout_seconds",
                                (int)(q->visibility_ms / 1000)));
            accept_entries(q, s, entries);
        }
        if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY && r->element[2]->elements > 0)
            log_write(LOG_ERROR, NULL, "pending jobs were deleted from the stream before delivery",
                      json_pack("{s:i}", "jobs", (int)r->element[2]->elements));
        more = strcmp(q->reclaim_cursor, "0-0") != 0;
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

void queue_redis_renew(struct redis_queue *q, const struct queue_slots *s)
{
    if (!q->group_ready || s->busy == 0)
        return;
    const char *argv[ARGV_MAX];
    size_t lens[ARGV_MAX];
    int argc = 0;
    bool ok = push_arg(argv, lens, &argc, "EVALSHA", 7) &&
              push_arg(argv, lens, &argc, q->scripts[SCRIPT_RENEW].sha, 40) &&
              push_arg(argv, lens, &argc, "1", 1) &&
              push_arg(argv, lens, &argc, QUEUE_STREAM_JOBS, strlen(QUEUE_STREAM_JOBS)) &&
              push_arg(argv, lens, &argc, QUEUE_GROUP, strlen(QUEUE_GROUP)) &&
              push_arg(argv, lens, &argc, q->consumer, strlen(q->consumer));
    int ids = 0;
    for (int i = 0; ok && i < s->capacity; i++) {
        const struct queue_job *j = &s->jobs[i];
        if (j->state == QUEUE_JOB_FREE || j->ref[0] == '\0')
            continue;
        ok = push_arg(argv, lens, &argc, j->ref, strlen(j->ref));
        ids++;
    }
    if (!ok || ids == 0)
        return;
    redisReply *r = queue_redis_command(q, "renew leases", argc, argv, lens);
    if (r != NULL)
        freeReplyObject(r);
}
