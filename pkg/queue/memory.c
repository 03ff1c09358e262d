/* The in-process back-end (`bollard dev`, see queue.h): rows and their jobs in two fixed tables under a
 * mutex — the relay thread publishes and stamps, the deliverer takes and settles — and an eventfd that
 * wakes the deliverer when jobs arrive. A row is durable (may be stamped published) once none of its
 * jobs is left: delivered, dead-lettered or dropped. Retries wait here, in memory, with their due time,
 * so a row still unsettled at a stop stays unpublished and is delivered again on the next start. */
#include "queue/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct mem_event {
    bool used;
    long long row_id;
    char event_id[BASE_UUID_LEN + 1];
    char type[QUEUE_TYPE_MAX];
    char *body;
    size_t body_len;
    int unsettled; /* jobs of this row not settled yet */
};

enum { MEM_FREE = 0, MEM_WAITING, MEM_TAKEN };

struct mem_job {
    int state;
    int event; /* index into events */
    char endpoint_id[BASE_UUID_LEN + 1];
    int attempt;
    uint64_t due_ms;
};

struct memory_queue {
    struct queue base;
    pthread_mutex_t mu;
    int wake_fd;
    int free_jobs;
    struct mem_event events[QUEUE_MEMORY_EVENTS];
    struct mem_job jobs[QUEUE_MEMORY_JOBS];
};

/* Takes one row, or false when there is no room for it yet (it stays in the table). */
static bool take_event(struct memory_queue *q, const struct queue_event *e, uint64_t now, long *jobs)
{
    int n = e->endpoints[0] != '\0', slot = -1;
    for (const char *p = e->endpoints; (p = strchr(p, ',')) != NULL; p++)
        n++;
    for (int i = 0; i < QUEUE_MEMORY_EVENTS && slot < 0; i++)
        slot = q->events[i].used ? -1 : i;
    char *body = slot >= 0 && n <= q->free_jobs ? base_memdup(e->body, e->body_len) : NULL;
    if (body == NULL)
        return false;
    struct mem_event *m = &q->events[slot];
    *m = (struct mem_event){.used = true, .row_id = e->row_id, .body = body, .body_len = e->body_len};
    snprintf(m->event_id, sizeof(m->event_id), "%s", e->event_id);
    snprintf(m->type, sizeof(m->type), "%s", e->type);
    for (const char *p = e->endpoints; *p != '\0';) {
        size_t len = strcspn(p, ",");
        for (int i = 0; i < QUEUE_MEMORY_JOBS; i++) {
            if (q->jobs[i].state != MEM_FREE)
                continue;
            q->jobs[i] = (struct mem_job){.state = MEM_WAITING, .event = slot, .attempt = 1, .due_ms = now};
            snprintf(q->jobs[i].endpoint_id, sizeof(q->jobs[i].endpoint_id), "%.*s", (int)len, p);
            q->free_jobs--;
            m->unsettled++;
            (*jobs)++;
            break;
        }
        p += len + (p[len] == ',');
    }
    return true;
}

static enum queue_status publish(struct queue *base, const struct queue_event *events, int n, int *accepted,
                                 long *jobs, char *why, size_t cap)
{
    struct memory_queue *q = (struct memory_queue *)base;
    (void)why, (void)cap;
    uint64_t now = base_now_ms();
    pthread_mutex_lock(&q->mu);
    while (*accepted < n && take_event(q, &events[*accepted], now, jobs))
        (*accepted)++;
    pthread_mutex_unlock(&q->mu);
    uint64_t one = 1;
    if (*jobs > 0 && write(q->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        /* The deliverer also looks again within its longest wait. */
    }
    return QUEUE_OK;
}

static int durable(struct queue *base, const struct queue_event *taken, int n_taken, long long *ids, int cap)
{
    struct memory_queue *q = (struct memory_queue *)base;
    (void)taken, (void)n_taken;
    int n = 0;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < QUEUE_MEMORY_EVENTS && n < cap; i++)
        if (q->events[i].used && q->events[i].unsettled == 0)
            ids[n++] = q->events[i].row_id;
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void stamped(struct queue *base, const long long *ids, int n)
{
    struct memory_queue *q = (struct memory_queue *)base;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < QUEUE_MEMORY_EVENTS; i++)
        for (int k = 0; q->events[i].used && k < n; k++)
            if (ids[k] == q->events[i].row_id) {
                free(q->events[i].body);
                memset(&q->events[i], 0, sizeof(q->events[i]));
            }
    pthread_mutex_unlock(&q->mu);
}

/* Due jobs into the free slots: WORKER_CONCURRENCY in flight at most. */
static void take_due(struct queue *base, struct queue_slots *s, uint64_t now)
{
    struct memory_queue *q = (struct memory_queue *)base;
    if (base->stopping)
        return;
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < QUEUE_MEMORY_JOBS && s->busy < s->capacity; i++) {
        struct mem_job *m = &q->jobs[i];
        if (m->state != MEM_WAITING || m->due_ms > now)
            continue;
        const struct mem_event *e = &q->events[m->event];
        struct queue_job *j = queue_slot_take(s);
        j->body = base_memdup(e->body, e->body_len);
        if (j->body == NULL) {
            queue_slot_release(s, j);
            break;
        }
        j->body_len = e->body_len;
        snprintf(j->ref, sizeof(j->ref), "%d", i);
        snprintf(j->event_id, sizeof(j->event_id), "%s", e->event_id);
        snprintf(j->endpoint_id, sizeof(j->endpoint_id), "%s", m->endpoint_id);
        snprintf(j->type, sizeof(j->type), "%s", e->type);
        j->attempt = m->attempt;
        j->valid = true;
        m->state = MEM_TAKEN;
    }
    pthread_mutex_unlock(&q->mu);
}

static int arm(struct queue *base, struct queue_slots *s, uint64_t now)
{
    (void)s, (void)now;
    return ((struct memory_queue *)base)->wake_fd;
}

static void drain(struct queue *base, struct queue_slots *s)
{
    uint64_t value;
    (void)s;
    if (read(((struct memory_queue *)base)->wake_fd, &value, sizeof(value)) < 0) {
        /* non-blocking: EAGAIN when there was nothing to take */
    }
}

static int next_ms(struct queue *base, const struct queue_slots *s, uint64_t now, int max_ms)
{
    struct memory_queue *q = (struct memory_queue *)base;
    uint64_t until = now + (uint64_t)max_ms;
    if (base->stopping || s->busy >= s->capacity)
        return max_ms; /* nothing can be taken before a slot frees up (a result wakes the wait) */
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < QUEUE_MEMORY_JOBS; i++)
        if (q->jobs[i].state == MEM_WAITING && q->jobs[i].due_ms < until)
            until = q->jobs[i].due_ms;
    pthread_mutex_unlock(&q->mu);
    return until > now ? (int)(until - now) : 0;
}

static void settle(struct queue *base, struct queue_slots *s)
{
    struct memory_queue *q = (struct memory_queue *)base;
    uint64_t now = base_now_ms();
    pthread_mutex_lock(&q->mu);
    for (int i = 0; i < s->capacity; i++) {
        struct queue_job *j = &s->jobs[i];
        if (j->state != QUEUE_JOB_DONE || j->held)
            continue;
        struct mem_job *m = &q->jobs[atoi(j->ref)];
        if (j->outcome == QUEUE_ACK || j->outcome == QUEUE_DEAD) {
            q->events[m->event].unsettled--;
            memset(m, 0, sizeof(*m));
            q->free_jobs++;
        } else {
            m->state = MEM_WAITING;
            m->attempt = j->outcome == QUEUE_RETRY ? j->attempt + 1 : j->attempt;
            m->due_ms = now + (uint64_t)(j->outcome == QUEUE_REQUEUE ? 0 : j->delay_ms);
        }
        queue_count_settled(base, j);
        queue_slot_release(s, j);
    }
    pthread_mutex_unlock(&q->mu);
    base->stats.up = true;
}

static void memory_free(struct queue *base)
{
    struct memory_queue *q = (struct memory_queue *)base;
    for (int i = 0; i < QUEUE_MEMORY_EVENTS; i++)
        free(q->events[i].body);
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static const struct queue_ops memory_ops = {
    .publish = publish,
    .durable = durable,
    .stamped = stamped,
    .poll = take_due,
    .arm = arm,
    .ready_fd = drain,
    .next_ms = next_ms,
    .settle = settle,
    .free = memory_free,
};

struct queue *queue_memory_new(void)
{
    struct memory_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->base.ops = &memory_ops;
    q->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER; /* cannot fail, unlike pthread_mutex_init */
    q->free_jobs = QUEUE_MEMORY_JOBS;
    q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->wake_fd < 0) {
        free(q);
        return NULL;
    }
    return &q->base;
}
