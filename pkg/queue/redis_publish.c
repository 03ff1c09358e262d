/* The Redis back-end's producer half (the relay thread, its own connection): per row SET a dedupe key NX
 * and, only if it was set, XADD one job per endpoint — atomically in one script, so a row is either fully
 * published or not at all, and publishing it again (after a crash before the relay's COMMIT) does
 * nothing. Once the rows are stamped the dedupe keys are UNLINKed (they only guard that window). */
#include "queue/redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/base.h"

/* KEYS: stream, retry set, loss marker, then one dedupe key per row that has endpoints.
 * ARGV: dedupe ttl ms, backlog max, the marker value expected at least, the number of rows that have
 * endpoints, then per such row: event_id, type, body, job count, and that many endpoint ids. Rows nobody
 * listens for are not passed at all (they are only marked published), so ARGV[4] counts exactly the rows
 * that follow. Returns {jobs added, marker}: the marker raised by one, or {-1, marker} when the backlog
 * is full, {-2, marker} when the marker is below the expected value (Redis lost data; nothing added). */
const char queue_redis_publish_lua[] =
    "local seq = tonumber(redis.call('GET', KEYS[3]) or '0') or 0\n"
    "if seq < tonumber(ARGV[3]) then return {-2, seq} end\n"
    "if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then\n"
    "  return {-1, seq}\n"
    "end\n"
    "local a, k, added = 5, 4, 0\n"
    "for r = 1, tonumber(ARGV[4]) do\n"
    "  local event_id, typ, body, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])\n"
    "  a = a + 4\n"
    "  if redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[1]) then\n"
    "    for j = 0, n - 1 do\n"
    "      redis.call('XADD', KEYS[1], '*', 'event_id', event_id, 'endpoint_id', ARGV[a + j], 'type', typ,\n"
    "                 'attempt', '1', 'body', body)\n"
    "    end\n"
    "    added = added + n\n"
    "  end\n"
    "  a = a + n\n"
    "  k = k + 1\n"
    "end\n"
    "return {added, redis.call('INCR', KEYS[3])}\n";

/* KEYS: stream, this recovery's progress key. ARGV: batch number (0 first), progress ttl ms, job count,
 * then per job event_id, endpoint_id, type, body. No dedupe key: a recovery re-enqueues what the stream
 * may no longer hold, whatever keys survived. The progress key counts the batches added so far; a batch
 * finding it at another value (Redis lost data again since the last batch: restart, FLUSHALL, fail-over)
 * adds nothing and returns -1, and the relay starts the recovery over. */
const char queue_redis_reenqueue_lua[] = "local done = tonumber(redis.call('GET', KEYS[2]) or '0') or -1\n"
                                         "if done ~= tonumber(ARGV[1]) then return -1 end\n"
                                         "for i = 0, tonumber(ARGV[3]) - 1 do\n"
                                         "  local a = 4 + i * 4\n"
                                         "  redis.call('XADD', KEYS[1], '*', 'event_id', ARGV[a], "
                                         "'endpoint_id', ARGV[a + 1], 'type', ARGV[a + 2],\n"
                                         "             'attempt', '1', 'body', ARGV[a + 3])\n"
                                         "end\n"
                                         "redis.call('SET', KEYS[2], tostring(done + 1), 'PX', ARGV[2])\n"
                                         "return tonumber(ARGV[3])\n";

/* KEYS: loss marker, recovered counter, this recovery's progress key. ARGV: the marker value to reach,
 * jobs recovered, batches added. Returns -1 (nothing changed) when the progress key does not hold that
 * many batches (Redis lost some of them), else raises the marker (never lowers it), counts the jobs,
 * deletes the progress key and returns the marker before. */
const char queue_redis_raise_lua[] =
    "if (tonumber(redis.call('GET', KEYS[3]) or '0') or -1) ~= tonumber(ARGV[3]) then return -1 end\n"
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
    "if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "redis.call('INCRBY', KEYS[2], ARGV[2])\n"
    "redis.call('DEL', KEYS[3])\n"
    "return cur\n";

/* One command line under construction: argument pointers into the caller's rows or into `owned`. */
struct args {
    size_t argc, cap;
    const char **argv;
    size_t *lens;
    char **owned;
    size_t n_owned;
};

static bool push(struct args *b, const char *s, size_t len)
{
    if (s == NULL)
        return false;
    if (b->argc == b->cap) {
        size_t cap = b->cap == 0 ? 64 : b->cap * 2;
        const char **argv = realloc(b->argv, cap * sizeof(*argv));
        if (argv == NULL)
            return false;
        b->argv = argv;
        size_t *lens = realloc(b->lens, cap * sizeof(*lens));
        if (lens == NULL)
            return false;
        b->lens = lens;
        b->cap = cap;
    }
    b->argv[b->argc] = s;
    b->lens[b->argc++] = len;
    return true;
}

/* Pushes a formatted string the batch owns. */
static bool pushf(struct args *b, const char *fmt, const char *x, long long n)
{
    char *s = NULL;
    if ((x != NULL ? asprintf(&s, fmt, x) : asprintf(&s, fmt, n)) < 0)
        return false;
    char **owned = realloc(b->owned, (b->n_owned + 1) * sizeof(*owned));
    if (owned == NULL) {
        free(s);
        return false;
    }
    b->owned = owned;
    b->owned[b->n_owned++] = s;
    return push(b, s, strlen(s));
}

static void args_free(struct args *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->argv);
    free(b->lens);
}

void queue_redis_dedupe_clear(struct redis_queue *q)
{
    for (int i = 0; i < q->n_dedupe; i++)
        free(q->dedupe[i]);
    free(q->dedupe);
    q->dedupe = NULL;
    q->n_dedupe = 0;
}

bool queue_redis_ready(struct queue *base, char *why, size_t cap)
{
    return syncconn_redis_ensure(((struct redis_queue *)base)->producer, why, cap);
}

enum queue_status queue_redis_publish(struct queue *base, const struct queue_event *events, int n,
                                      int *accepted, long *jobs, char *why, size_t cap)
{
    struct redis_queue *q = (struct redis_queue *)base;
    enum queue_status rc = QUEUE_DOWN;
    struct args keys = {0}, args = {0}, cmd = {0};
    redisReply *reply = NULL;
    queue_redis_dedupe_clear(q); /* a previous batch that was not stamped: its keys simply expire */
    int listened = 0;            /* rows with at least one matching endpoint: the only ones the script sees */
    for (int i = 0; i < n; i++)
        listened += events[i].endpoints[0] != '\0';
    bool ok = push(&keys, QUEUE_STREAM_JOBS, strlen(QUEUE_STREAM_JOBS)) &&
              push(&keys, QUEUE_ZSET_RETRY, strlen(QUEUE_ZSET_RETRY)) &&
              push(&keys, QUEUE_MARKER_KEY, strlen(QUEUE_MARKER_KEY)) &&
              pushf(&args, "%lld", NULL, QUEUE_DEDUPE_TTL_MS) &&
              pushf(&args, "%lld", NULL, QUEUE_BACKLOG_MAX) &&
              pushf(&args, "%lld", NULL, base->marker_expected) && pushf(&args, "%lld", NULL, listened);
    for (int i = 0; ok && i < n; i++) {
        const struct queue_event *e = &events[i];
        if (e->endpoints[0] == '\0')
            continue; /* nobody listens for it: only stamped */
        long long count = 1;
        for (const char *p = e->endpoints; *p != '\0'; p++)
            count += *p == ',';
        ok = pushf(&keys, QUEUE_DEDUPE_PREFIX "%s", e->event_id, 0) &&
             push(&args, e->event_id, strlen(e->event_id)) && push(&args, e->type, strlen(e->type)) &&
             push(&args, e->body, e->body_len) && pushf(&args, "%lld", NULL, count);
        /* endpoint ids are fixed-size uuids separated by commas; point into the row's text */
        for (const char *p = e->endpoints; ok && *p != '\0';) {
            size_t len = strcspn(p, ",");
            ok = push(&args, p, len);
            p += len + (p[len] == ',');
        }
    }
    /* Full command: EVALSHA sha numkeys KEYS… ARGV… */
    ok = ok && push(&cmd, "EVALSHA", 7) && push(&cmd, q->publish_script[0].sha, 40) &&
         pushf(&cmd, "%lld", NULL, (long long)keys.argc);
    for (size_t i = 0; ok && i < keys.argc; i++)
        ok = push(&cmd, keys.argv[i], keys.lens[i]);
    for (size_t i = 0; ok && i < args.argc; i++)
        ok = push(&cmd, args.argv[i], args.lens[i]);
    if (!ok) {
        base_why(why, cap, "out of memory building the batch");
        goto done;
    }
    reply = syncconn_redis_command(q->producer, (int)cmd.argc, cmd.argv, cmd.lens, why, cap);
    if (reply == NULL)
        goto done;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER) {
        /* Redis answered, so it is not an outage; `why` holds its error (set for error replies). */
        if (reply->type != REDIS_REPLY_ERROR)
            base_why(why, cap, "the publish script returned reply type %d, not two integers", reply->type);
        rc = QUEUE_REFUSED;
        goto done;
    }
    long long added = reply->element[0]->integer, marker = reply->element[1]->integer;
    if (added == -2) {
        base_why(why, cap, "the loss marker is %lld, below the %lld expected: Redis lost data", marker,
                 base->marker_expected);
        rc = QUEUE_LOST;
        goto done;
    }
    if (added < 0) {
        base_why(why, cap, "the jobs backlog is at its bound (%ld); events wait in the outbox",
                 QUEUE_BACKLOG_MAX);
        rc = QUEUE_FULL;
        goto done;
    }
    *accepted = n;
    *jobs = (long)added;
    base->marker_published = marker;
    queue_marker_expect(base, marker);
    rc = QUEUE_OK;
    /* The dedupe keys (KEYS[3…]) change hands: they are UNLINKed once the rows are stamped. */
    if (keys.n_owned > 0) {
        q->dedupe = keys.owned;
        q->n_dedupe = (int)keys.n_owned;
        keys.owned = NULL;
        keys.n_owned = 0;
    }
done:
    if (reply != NULL)
        freeReplyObject(reply);
    args_free(&keys);
    args_free(&args);
    args_free(&cmd);
    return rc;
}

/* In the stream is durable: every row just taken may be stamped at once. */
int queue_redis_durable(struct queue *base, const struct queue_event *taken, int n_taken, long long *ids,
                        int cap)
{
    (void)base;
    int n = 0;
    for (; n < n_taken && n < cap; n++)
        ids[n] = taken[n].row_id;
    return n;
}

void queue_redis_stamped(struct queue *base, const long long *ids, int n)
{
    struct redis_queue *q = (struct redis_queue *)base;
    (void)ids;
    (void)n;
    if (q->n_dedupe > 0) {
        struct args unlink = {0};
        char ignored[SYNCCONN_WHY_MAX];
        bool built = push(&unlink, "UNLINK", 6);
        for (int i = 0; built && i < q->n_dedupe; i++)
            built = push(&unlink, q->dedupe[i], strlen(q->dedupe[i]));
        if (built) {
            /* Best effort: a key that stays simply expires. */
            redisReply *u = syncconn_redis_command(q->producer, (int)unlink.argc, unlink.argv, unlink.lens,
                                                   ignored, sizeof(ignored));
            if (u != NULL)
                freeReplyObject(u);
        }
        args_free(&unlink);
    }
    queue_redis_dedupe_clear(q);
}

enum queue_status queue_redis_marker_check(struct queue *base, long long *marker, char *why, size_t cap)
{
    struct redis_queue *q = (struct redis_queue *)base;
    const char *argv[2] = {"GET", QUEUE_MARKER_KEY};
    redisReply *r = syncconn_redis_command(q->producer, 2, argv, NULL, why, cap);
    if (r == NULL)
        return QUEUE_DOWN;
    enum queue_status rc = QUEUE_OK;
    if (r->type == REDIS_REPLY_STRING)
        *marker = strtoll(r->str, NULL, 10);
    else if (r->type != REDIS_REPLY_NIL) {
        base_why(why, cap, "GET %s returned reply type %d", QUEUE_MARKER_KEY, r->type);
        rc = QUEUE_REFUSED;
    }
    freeReplyObject(r);
    if (rc == QUEUE_OK && *marker < base->marker_expected) {
        base_why(why, cap, "the loss marker is %lld, below the %lld expected: Redis lost data", *marker,
                 base->marker_expected);
        rc = QUEUE_LOST;
    }
    return rc;
}

void queue_redis_recovery_begin(struct queue *base)
{
    struct redis_queue *q = (struct redis_queue *)base;
    unsigned char r[8];
    unsigned long long id = 0;
    if (getrandom(r, sizeof(r), 0) == (ssize_t)sizeof(r))
        memcpy(&id, r, sizeof(id));
    else /* not expected: any value unlikely to be another relay's does */
        id = base_now_ms() ^ ((unsigned long long)getpid() << 40);
    snprintf(q->recovery_key, sizeof(q->recovery_key), "%s%016llx", QUEUE_RECOVERY_PREFIX, id);
    q->recovery_batches = 0;
}

enum queue_status queue_redis_reenqueue(struct queue *base, const struct queue_event *events, int n,
                                        long *jobs, char *why, size_t cap)
{
    struct redis_queue *q = (struct redis_queue *)base;
    struct args cmd = {0};
    enum queue_status rc = QUEUE_DOWN;
    redisReply *reply = NULL;
    long count = 0;
    for (int i = 0; i < n; i++)
        for (const char *p = events[i].endpoints; *p != '\0';
             p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
            count++;
    if (count == 0)
        return QUEUE_OK;
    if (q->recovery_key[0] == '\0')
        queue_redis_recovery_begin(base);
    bool ok = push(&cmd, "EVALSHA", 7) && push(&cmd, q->publish_script[1].sha, 40) && push(&cmd, "2", 1) &&
              push(&cmd, QUEUE_STREAM_JOBS, strlen(QUEUE_STREAM_JOBS)) &&
              push(&cmd, q->recovery_key, strlen(q->recovery_key)) &&
              pushf(&cmd, "%lld", NULL, q->recovery_batches) &&
              pushf(&cmd, "%lld", NULL, QUEUE_RECOVERY_TTL_MS) && pushf(&cmd, "%lld", NULL, count);
    for (int i = 0; ok && i < n; i++) {
        const struct queue_event *e = &events[i];
        for (const char *p = e->endpoints; ok && *p != '\0';) {
            size_t len = strcspn(p, ",");
            ok = push(&cmd, e->event_id, strlen(e->event_id)) && push(&cmd, p, len) &&
                 push(&cmd, e->type, strlen(e->type)) && push(&cmd, e->body, e->body_len);
            p += len + (p[len] == ',');
        }
    }
    if (!ok) {
        base_why(why, cap, "out of memory building the batch");
        goto done;
    }
    reply = syncconn_redis_command(q->producer, (int)cmd.argc, cmd.argv, cmd.lens, why, cap);
    if (reply == NULL)
        goto done;
    if (reply->type != REDIS_REPLY_INTEGER) {
        if (reply->type != REDIS_REPLY_ERROR)
            base_why(why, cap, "the re-enqueue script returned reply type %d, not an integer", reply->type);
        rc = QUEUE_REFUSED;
        goto done;
    }
    if (reply->integer < 0) {
        base_why(why, cap,
                 "the recovery's progress in Redis is gone or behind (%lld batches added): "
                 "Redis lost data again",
                 q->recovery_batches);
        rc = QUEUE_LOST;
        goto done;
    }
    q->recovery_batches++;
    *jobs = (long)reply->integer;
    rc = QUEUE_OK;
done:
    if (reply != NULL)
        freeReplyObject(reply);
    args_free(&cmd);
    return rc;
}

enum queue_status queue_redis_marker_raise(struct queue *base, long long recovered, char *why, size_t cap)
{
    struct redis_queue *q = (struct redis_queue *)base;
    struct args cmd = {0};
    if (q->recovery_key[0] == '\0')
        queue_redis_recovery_begin(base);
    bool ok = push(&cmd, "EVALSHA", 7) && push(&cmd, q->publish_script[2].sha, 40) && push(&cmd, "3", 1) &&
              push(&cmd, QUEUE_MARKER_KEY, strlen(QUEUE_MARKER_KEY)) &&
              push(&cmd, QUEUE_RECOVERED_KEY, strlen(QUEUE_RECOVERED_KEY)) &&
              push(&cmd, q->recovery_key, strlen(q->recovery_key)) &&
              pushf(&cmd, "%lld", NULL, base->marker_expected) && pushf(&cmd, "%lld", NULL, recovered) &&
              pushf(&cmd, "%lld", NULL, q->recovery_batches);
    if (!ok) {
        base_why(why, cap, "out of memory");
        args_free(&cmd);
        return QUEUE_DOWN;
    }
    redisReply *reply = syncconn_redis_command(q->producer, (int)cmd.argc, cmd.argv, cmd.lens, why, cap);
    args_free(&cmd);
    if (reply == NULL)
        return QUEUE_DOWN;
    enum queue_status rc = QUEUE_OK;
    if (reply->type != REDIS_REPLY_INTEGER) {
        if (reply->type != REDIS_REPLY_ERROR)
            base_why(why, cap, "the raise script returned reply type %d, not an integer", reply->type);
        rc = QUEUE_REFUSED;
    } else if (reply->integer < 0) {
        base_why(why, cap,
                 "the recovery's progress in Redis is gone or behind (%lld batches added): "
                 "Redis lost data again",
                 q->recovery_batches);
        rc = QUEUE_LOST;
    }
    freeReplyObject(reply);
    if (rc == QUEUE_OK)
        q->recovery_key[0] = '\0';
    return rc;
}
