/* pkg/store on SQLite for `bollard dev`: the concurrency half (the SQL is in store_sqlite_ops.c).
 * Each store (one per event loop) owns one thread and one SQLite connection, so the loop never waits
 * on SQLite — not for a lock, a slow disk, nor a full one:
 *
 *   loop thread                                 store thread
 *   submit: copy the arguments into a job,      waits on `wake`; takes the oldest job, runs it,
 *     append it to the bounded queue ────────►    copies the outcome into the job, and sends the
 *     (full: STORE_BUSY at once)                  job itself back as an h2o message
 *   on_results (receiver on the loop's queue) ◄─┘
 *     calls back unless cancelled, frees the job
 *
 * A job is QUEUED, RUNNING or DONE (under the mutex). Cancel frees a queued job at once; a running or
 * done one is only marked and later freed on arrival without a callback. Destroy makes the running
 * statement give up, joins the thread and frees whatever is left without calling back: store_destroy
 * runs after every caller is gone (or on the loop's thread, after cancelling its own calls). */
#include "store/store_impl.h"
#include "store/store_sqlite_ops.h"
#include "base/base.h"
#include "log/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Calls submitted and not yet delivered, per store: DB_QUEUE_MAX's default (the constructor takes no
 * configuration). Past it a call is refused at once with STORE_BUSY (503 + Retry-After). */
#define SQLITE_QUEUE_MAX 512
/* Bound on a call from submit to result, the queue wait included: DB_QUERY_TIMEOUT_MS's default. */
#define SQLITE_CALL_TIMEOUT_MS 5000

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct sqlite_job {
    h2o_multithread_message_t message; /* the job travels back to the loop as the message */
    h2o_linklist_t queued;             /* in store->queue while JOB_QUEUED */
    enum job_state state;              /* under store->mutex */
    bool cancelled;                    /* loop thread only */
    enum store_op op;
    char *args[STORE_MAX_ARGS];
    long long deadline_ms;
    store_cb cb;
    void *arg;
    struct sqlite_outcome out; /* written by the store thread before it sends the message */
};

struct sqlite_store {
    h2o_multithread_receiver_t receiver; /* registered on the loop's queue */
    struct sqlite_conn *conn;            /* used by the store thread only, once it runs */
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    h2o_linklist_t queue;          /* QUEUED jobs, oldest first; under mutex */
    int stopping;                  /* set once by destroy; also read by SQLite's handlers, atomically */
    size_t outstanding;            /* loop thread only: submitted and not yet delivered or freed */
    unsigned long long busy_total; /* loop thread only: calls refused with STORE_BUSY */
};

static void job_free(struct sqlite_job *job)
{
    for (int i = 0; i < STORE_MAX_ARGS; i++)
        free(job->args[i]);
    sqlite_outcome_free(&job->out);
    free(job);
}

static void *store_thread(void *arg)
{
    struct sqlite_store *s = arg;
    pthread_mutex_lock(&s->mutex);
    for (;;) {
        while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) && h2o_linklist_is_empty(&s->queue))
            pthread_cond_wait(&s->wake, &s->mutex);
        if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
            break;
        struct sqlite_job *job = H2O_STRUCT_FROM_MEMBER(struct sqlite_job, queued, s->queue.next);
        h2o_linklist_unlink(&job->queued);
        job->state = JOB_RUNNING;
        pthread_mutex_unlock(&s->mutex);

        if ((long long)base_now_ms() >= job->deadline_ms)
            job->out.status = STORE_TIMEOUT; /* waited out its time in the queue */
        else
            sqlite_conn_run(s->conn, job->op, job->args, job->deadline_ms, &s->stopping, &job->out);

        pthread_mutex_lock(&s->mutex);
        job->state = JOB_DONE;
        pthread_mutex_unlock(&s->mutex);
        /* From here the job belongs to the loop; only on_results (or destroy) frees it. */
        h2o_multithread_send_message(&s->receiver, &job->message);
        pthread_mutex_lock(&s->mutex);
    }
    pthread_mutex_unlock(&s->mutex);
    return NULL;
}

/* On the loop's thread. The outcome's strings stay valid for the callback's duration. */
static void on_results(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct sqlite_store *s = H2O_STRUCT_FROM_MEMBER(struct sqlite_store, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct sqlite_job *job = H2O_STRUCT_FROM_MEMBER(struct sqlite_job, message.link, messages->next);
        h2o_linklist_unlink(&job->message.link);
        s->outstanding--;
        if (!job->cancelled) {
            const struct sqlite_outcome *o = &job->out;
            struct store_result r = {.status = o->status,
                                     .json = o->json,
                                     .json_len = o->json_len,
                                     .version = o->version,
                                     .user_id = o->user_id,
                                     .password_hash = o->password_hash,
                                     .next_cursor = o->next_cursor,
                                     .schema_version = o->schema_version,
                                     .schema_floor = o->schema_floor,
                                     .schema_missing = o->schema_missing,
                                     .outbox_unpublished = o->outbox_unpublished,
                                     .outbox_oldest_age_ms = o->outbox_oldest_age_ms,
                                     .row_id = o->row_id};
            job->cb(job->arg, &r);
        }
        job_free(job);
    }
}

static store_handle sqlite_submit(void *impl, const struct store_call *call, enum store_status *immediate)
{
    struct sqlite_store *s = impl;
    if (s->outstanding >= SQLITE_QUEUE_MAX) {
        s->busy_total++;
        *immediate = STORE_BUSY;
        return NULL;
    }
    struct sqlite_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        *immediate = STORE_BUSY;
        return NULL;
    }
    job->op = call->op;
    job->cb = call->cb;
    job->arg = call->arg;
    for (int i = 0; i < call->nargs && i < STORE_MAX_ARGS; i++) {
        if (call->args[i] == NULL)
            continue;
        job->args[i] = strdup(call->args[i]);
        if (job->args[i] == NULL) {
            job_free(job);
            *immediate = STORE_BUSY;
            return NULL;
        }
    }
    job->deadline_ms = (long long)base_now_ms() + SQLITE_CALL_TIMEOUT_MS;
    pthread_mutex_lock(&s->mutex);
    if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
        pthread_mutex_unlock(&s->mutex);
        job_free(job);
        *immediate = STORE_UNAVAILABLE;
        return NULL;
    }
    job->state = JOB_QUEUED;
    h2o_linklist_insert(&s->queue, &job->queued);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mutex);
    s->outstanding++;
    return job;
}

static void sqlite_cancel(void *impl, store_handle handle)
{
    struct sqlite_store *s = impl;
    struct sqlite_job *job = handle;
    pthread_mutex_lock(&s->mutex);
    bool queued = job->state == JOB_QUEUED;
    if (queued)
        h2o_linklist_unlink(&job->queued);
    else
        job->cancelled = true; /* running or on its way back: dropped when it arrives */
    pthread_mutex_unlock(&s->mutex);
    if (queued) {
        s->outstanding--;
        job_free(job);
    }
}

static void free_list(h2o_linklist_t *list, size_t offset)
{
    while (!h2o_linklist_is_empty(list)) {
        h2o_linklist_t *node = list->next;
        h2o_linklist_unlink(node);
        job_free((struct sqlite_job *)((char *)node - offset));
    }
}

/* Stops and frees; `joinable` is false only when the thread never started. */
static void store_free(struct sqlite_store *s, bool joinable)
{
    h2o_linklist_t leftover;
    h2o_linklist_init_anchor(&leftover);
    pthread_mutex_lock(&s->mutex);
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    h2o_linklist_insert_list(&leftover, &s->queue);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mutex);
    free_list(&leftover, offsetof(struct sqlite_job, queued));
    if (joinable)
        pthread_join(s->thread, NULL);
    /* Results sent but not delivered. The store thread is gone and the loop is not dispatching its
     * queue while we run (we are on its thread, or it stopped), so nobody else touches this list;
     * h2o's unregister requires it empty. */
    if (s->receiver.queue != NULL) {
        free_list(&s->receiver._messages, offsetof(struct sqlite_job, message.link));
        h2o_multithread_unregister_receiver(s->receiver.queue, &s->receiver);
    }
    sqlite_conn_close(s->conn);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mutex);
    free(s);
}

static void sqlite_destroy(void *impl)
{
    store_free(impl, true);
}

static bool sqlite_stats(void *impl, struct store_stats *out)
{
    const struct sqlite_store *s = impl;
    *out = (struct store_stats){
        .outstanding = (int)s->outstanding, .queue_max = SQLITE_QUEUE_MAX, .busy_total = s->busy_total};
    return true;
}

static const struct store_backend sqlite_backend = {
    .submit = sqlite_submit, .cancel = sqlite_cancel, .destroy = sqlite_destroy, .stats = sqlite_stats};

struct store *store_create_sqlite(h2o_evloop_t *loop, h2o_multithread_queue_t *queue, const char *path)
{
    (void)loop; /* results reach it through `queue`, which is this loop's */
    struct sqlite_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    h2o_linklist_init_anchor(&s->queue);
    if (pthread_mutex_init(&s->mutex, NULL) != 0) {
        free(s);
        return NULL;
    }
    if (pthread_cond_init(&s->wake, NULL) != 0) {
        pthread_mutex_destroy(&s->mutex);
        free(s);
        return NULL;
    }
    s->conn = sqlite_conn_open(path);
    if (s->conn == NULL) {
        store_free(s, false);
        return NULL;
    }
    h2o_multithread_register_receiver(queue, &s->receiver, on_results);
    /* Signals belong to the main thread (pkg/server waits for them there). */
    if (base_thread_start(&s->thread, store_thread, s) != 0) {
        log_printf(LOG_ERROR, "cannot start the SQLite store thread");
        store_free(s, false);
        return NULL;
    }
    struct store *store = store_wrap(&sqlite_backend, s);
    if (store == NULL)
        store_free(s, true);
    return store;
}
