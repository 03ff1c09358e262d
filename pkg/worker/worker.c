/* `bollard worker`: the process. Main thread: signals, heartbeat, the consumer loop (reads, deliveries,
 * outcomes, periodic reclaim/renew/promote/trim). Relay thread: outbox → stream (pkg/relay). Every
 * wait is bounded, the main loop sleeps at most WORKER_TICK_MS, so the heartbeat keeps ticking and
 * a signal is seen at once (its descriptor is part of the loop's poll set). */
#include "worker/worker.h"
#include "worker/internal.h"
#include "worker/scripts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log/log.h"
#include "queue/queue.h"
#include "relay/relay.h"

#define EXIT_USAGE          64
#define RELAY_BATCH         200
#define RELAY_IDLE_MS       100 /* outbox poll interval when it was empty */
#define RELAY_ERROR_WAIT_MS 1000
#define RELAY_SCHEMA_MS     30000 /* re-check of the schema rule while compatible */
#define RELAY_PRUNE_MS      60000
#define RELAY_SAY_EVERY_MS  5000u /* a "not publishing" line at least this often while it lasts */
#define OUTBOX_RETENTION    7     /* days a published outbox row is kept */
#define STOP_MARGIN_MS      1500  /* kept from SHUTDOWN_TIMEOUT_SECONDS for hand-back and exit */

static const struct sync_redis_script script_table[SCRIPT_COUNT] = {
    [SCRIPT_RETRY] = {.name = "retry", .source = LUA_RETRY},
    [SCRIPT_DEAD] = {.name = "dead", .source = LUA_DEAD},
    [SCRIPT_PROMOTE] = {.name = "promote", .source = LUA_PROMOTE},
    [SCRIPT_REQUEUE] = {.name = "requeue", .source = LUA_REQUEUE},
    [SCRIPT_RENEW] = {.name = "renew", .source = LUA_RENEW},
    [SCRIPT_TRIM] = {.name = "trim", .source = LUA_TRIM},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: bollard worker\n"
                 "  Relays task events from the outbox table to the Redis stream " QUEUE_STREAM_JOBS "\n"
                 "  and delivers them as signed webhooks (consumer group " QUEUE_GROUP
                 "). No HTTP port; liveness is the\n"
                 "  heartbeat file WORKER_HEARTBEAT_FILE (`probe file PATH --max-age N`).\n"
                 "Exit codes: 0 after SIGTERM/SIGINT; 1 start-up failure or a second signal; 64 usage;\n"
                 "78 invalid configuration.\n");
}

/* ---- relay thread */

static void relay_wait(struct worker *w, int ms)
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
    pthread_mutex_lock(&w->relay_mu);
    while (!atomic_load(&w->relay_stop)) {
        if (pthread_cond_timedwait(&w->relay_cv, &w->relay_mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&w->relay_mu);
}

static const char *relay_state_name(int state)
{
    switch (state) {
    case 0:
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
    default:
        return "unknown";
    }
}

static void *relay_thread_main(void *arg)
{
    struct worker *w = arg;
    const struct config *cfg = w->cfg;
    char app[WORKER_CONSUMER_MAX + 32];
    snprintf(app, sizeof(app), "bollard-worker relay %s", w->consumer);
    struct relay_config rc = {.database_url = cfg->database_url,
                              .redis_url = cfg->redis_url,
                              .application_name = app,
                              .db_connect_timeout_ms = cfg->db_connect_timeout_ms,
                              .db_query_timeout_ms = cfg->db_query_timeout_ms,
                              .redis_timeout_ms = cfg->redis_timeout_ms,
                              .stream_key = QUEUE_STREAM_JOBS,
                              .retry_key = QUEUE_ZSET_RETRY,
                              .dedupe_prefix = QUEUE_DEDUPE_PREFIX,
                              .batch_size = RELAY_BATCH,
                              .backlog_max = QUEUE_BACKLOG_MAX,
                              .dedupe_ttl_ms = QUEUE_DEDUPE_TTL_MS,
                              .retention_days = OUTBOX_RETENTION};
    struct relay *r = relay_new(&rc);
    if (r == NULL) {
        log_write(LOG_ERROR, NULL, "relay: cannot initialise (out of memory or invalid REDIS_URL)", NULL);
        atomic_store(&w->relay_state, RELAY_ERR_DB);
        return NULL;
    }
    bool schema_ok = false;
    uint64_t next_schema = 0, next_prune = base_now_ms() + RELAY_PRUNE_MS;
    int last_state = 1; /* anything but a real state, so the first one is logged */
    char last_why[SYNCCONN_WHY_MAX] = "";
    uint64_t last_logged = 0, failing_since = 0;
    int failed_attempts = 0; /* consecutive iterations that could not publish */
    while (!atomic_load(&w->relay_stop)) {
        uint64_t now = base_now_ms();
        atomic_store(&w->relay_tick_ms, now);
        char why[SYNCCONN_WHY_MAX] = "";
        int state = 0, wait_ms = RELAY_IDLE_MS;
        if (now >= next_schema) {
            bool was = schema_ok;
            schema_ok = relay_schema_ok(r, why, sizeof(why));
            next_schema = now + (schema_ok ? RELAY_SCHEMA_MS : RELAY_ERROR_WAIT_MS);
            if (schema_ok != was && schema_ok)
                log_write(LOG_INFO, NULL, "relay: schema compatible; publishing outbox events", NULL);
        }
        if (!schema_ok) {
            state = RELAY_ERR_SCHEMA;
            wait_ms = RELAY_ERROR_WAIT_MS;
        } else {
            long jobs = 0;
            int n = relay_step(r, &jobs, why, sizeof(why));
            if (n > 0) {
                atomic_fetch_add(&w->relayed_events, n);
                atomic_fetch_add(&w->relayed_jobs, jobs);
                wait_ms = n >= RELAY_BATCH ? 0 : RELAY_IDLE_MS / 4;
            } else if (n < 0) {
                state = n;
                wait_ms = RELAY_ERROR_WAIT_MS;
                if (n == RELAY_ERR_SCHEMA)
                    next_schema = 0;
            }
        }
        atomic_store(&w->relay_state, state);
        if (state == 0) {
            failed_attempts = 0;
        } else if (failed_attempts++ == 0) {
            failing_since = now;
        }
        /* While it cannot publish (the database unreachable at start, say), a line every few
         * seconds with the attempt and the time waited, so the wait is visible. */
        if (state != last_state ||
            (state != 0 && (strcmp(why, last_why) != 0 ||
                            now - last_logged >= (state == RELAY_BACKLOG ? 30000u : RELAY_SAY_EVERY_MS)))) {
            if (state == 0)
                log_write(LOG_INFO, NULL, "relay: running", NULL);
            else
                log_write(state == RELAY_BACKLOG       ? LOG_INFO
                          : state == RELAY_ERR_PUBLISH ? LOG_ERROR
                                                       : LOG_WARN,
                          NULL, "relay: not publishing",
                          json_pack("{s:s,s:s,s:i,s:I}", "state", relay_state_name(state), "error", why,
                                    "attempt", failed_attempts, "elapsed_ms",
                                    (json_int_t)(now - failing_since)));
            last_state = state;
            snprintf(last_why, sizeof(last_why), "%s", why);
            last_logged = now;
        }
        if (schema_ok && now >= next_prune) {
            next_prune = now + RELAY_PRUNE_MS;
            long pruned = relay_prune(r, why, sizeof(why));
            if (pruned > 0)
                log_write(
                    LOG_INFO, NULL, "relay: pruned published outbox rows past the retention",
                    json_pack("{s:I,s:i}", "rows", (json_int_t)pruned, "retention_days", OUTBOX_RETENTION));
        }
        relay_wait(w, wait_ms);
    }
    relay_free(r);
    return NULL;
}

static void relay_stop(struct worker *w)
{
    pthread_mutex_lock(&w->relay_mu);
    atomic_store(&w->relay_stop, true);
    pthread_cond_broadcast(&w->relay_cv);
    pthread_mutex_unlock(&w->relay_mu);
}

/* ---- heartbeat */

static void heartbeat(struct worker *w, uint64_t now)
{
    if (now < w->next_heartbeat)
        return;
    w->next_heartbeat = now + WORKER_HEARTBEAT_MS;
    uint64_t relay_tick = atomic_load(&w->relay_tick_ms);
    if (w->relay_started && !w->stopping && now > relay_tick + w->relay_stall_ms) {
        /* Every relay wait is bounded; a relay this late is wedged. A stale heartbeat lets the
         * liveness probe restart the pod. */
        if (now > w->stall_logged + 10000) {
            w->stall_logged = now;
            log_write(LOG_ERROR, NULL, "relay thread stalled; heartbeat no longer refreshed",
                      json_pack("{s:I}", "stalled_ms", (json_int_t)(now - relay_tick)));
        }
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    int in_flight = 0;
    for (int i = 0; i < w->capacity; i++)
        in_flight += w->jobs[i].state != JOB_FREE;
    json_t *o = json_pack(
        "{s:s,s:I,s:i,s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:s}", "last_loop", ts,
        "unix_ms", (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "pid", (int)getpid(), "consumer",
        w->consumer, "state", w->stopping ? "stopping" : "running", "in_flight", in_flight, "concurrency",
        w->capacity, "processed", (json_int_t)(w->stats.delivered + w->stats.dead + w->stats.dropped),
        "delivered", (json_int_t)w->stats.delivered, "failed", (json_int_t)w->stats.failed_attempts,
        "retried", (json_int_t)w->stats.retried, "dead_lettered", (json_int_t)w->stats.dead, "reclaimed",
        (json_int_t)w->stats.reclaimed, "trims", (json_int_t)w->stats.trims, "relayed_events",
        (json_int_t)atomic_load(&w->relayed_events), "relayed_jobs",
        (json_int_t)atomic_load(&w->relayed_jobs), "redis", w->redis_up, "database", w->db_up, "relay",
        relay_state_name(atomic_load(&w->relay_state)));
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return;
    const char *path = w->cfg->worker_heartbeat_file;
    char tmp[4096];
    int tn = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    bool ok = false;
    if (tn > 0 && (size_t)tn < sizeof(tmp)) {
        /* Written aside and renamed: a reader never sees half a status. */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            size_t len = strlen(text);
            text[len] = '\n';
            ok = write(fd, text, len + 1) == (ssize_t)(len + 1);
            ok = close(fd) == 0 && ok;
            ok = ok && rename(tmp, path) == 0;
        }
    }
    if (!ok && now > w->heartbeat_error_logged + 60000) {
        w->heartbeat_error_logged = now;
        log_write(LOG_ERROR, NULL, "cannot write the heartbeat file",
                  json_pack("{s:s,s:s}", "path", path, "error", strerror(errno)));
    }
    free(text);
}

/* ---- outcomes of finished attempts */

static void settle(struct worker *w, const struct delivery_result *res)
{
    struct job *j = res->user;
    if (j == NULL)
        return;
    long delay = 0;
    switch (delivery_judge(res, j->attempt, w->cfg->webhook_max_attempts, &delay)) {
    case DELIVERY_VERDICT_DONE:
        w->stats.delivered++;
        worker_job_done(j, OUT_ACK, res->status, 0, NULL);
        return;
    case DELIVERY_VERDICT_RETRY:
        w->stats.failed_attempts++;
        worker_job_done(j, OUT_RETRY, res->status, delay, res->error);
        return;
    case DELIVERY_VERDICT_DEAD:
        w->stats.failed_attempts++;
        worker_job_done(j, OUT_DEAD, res->status, 0, res->error);
        return;
    }
}

/* ---- shutdown */

static void begin_stop(struct worker *w, const char *signal_name)
{
    uint64_t now = base_now_ms();
    w->stopping = true;
    w->stop_started = now;
    uint64_t budget = (uint64_t)w->cfg->shutdown_timeout_seconds * 1000;
    w->stop_deadline = now + (budget > STOP_MARGIN_MS ? budget - STOP_MARGIN_MS : 0);
    int in_flight = 0;
    for (int i = 0; i < w->capacity; i++)
        in_flight += w->jobs[i].state != JOB_FREE;
    log_write(LOG_INFO, NULL, "stopping: no new jobs; finishing in-flight deliveries",
              json_pack("{s:s,s:i,s:I}", "signal", signal_name, "in_flight", in_flight, "deadline_ms",
                        (json_int_t)(w->stop_deadline - now)));
    relay_stop(w);
}

/* The deadline: attempts still running are aborted and handed back for another worker. */
static void hand_back(struct worker *w)
{
    void *users[256];
    size_t n = delivery_abort_all(w->pool, users, sizeof(users) / sizeof(users[0]));
    for (size_t i = 0; i < n; i++)
        worker_job_done(users[i], OUT_REQUEUE, 0, 0, "shutdown deadline");
    for (int i = 0; i < w->capacity; i++)
        if (w->jobs[i].state == JOB_NEW)
            worker_job_done(&w->jobs[i], OUT_REQUEUE, 0, 0, "shutdown deadline");
    if (n > 0)
        log_write(LOG_WARN, NULL, "shutdown deadline: unfinished deliveries handed back",
                  json_pack("{s:i}", "jobs", (int)n));
    worker_flush(w);
}

/* ---- set-up */

static void consumer_name(const struct config *cfg, char *out, size_t cap)
{
    char host[256] = "";
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    const char *name = cfg->pod_name != NULL && cfg->pod_name[0] != '\0' ? cfg->pod_name : host;
    /* POD_NAME is unique per pod. Falling back to the host name, two processes on one host would
     * share a consumer (and take each other's pending jobs): the pid keeps them apart. */
    if (strcmp(name, host) == 0)
        snprintf(out, cap, "%.120s-%d", name, (int)getpid());
    else
        snprintf(out, cap, "%.150s", name);
}

static int setup_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    /* Blocked before the relay thread exists, so it inherits the mask and only the signalfd sees
     * them. */
    if (pthread_sigmask(SIG_BLOCK, &set, old) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN); /* a receiver or Redis closing on us is an error return, not death */
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Returns 1 on a second stop signal (exit at once). */
static int read_signals(struct worker *w, int sfd)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            /* As PID 1 we inherit timed-out exec probes: reap them. */
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
            continue;
        }
        const char *name = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
        if (w->stopping) {
            log_write(LOG_WARN, NULL, "second stop signal: exiting now; unfinished jobs will be reclaimed",
                      json_pack("{s:s}", "signal", name));
            return 1;
        }
        begin_stop(w, name);
    }
    return 0;
}

static int next_wait(const struct worker *w, uint64_t now)
{
    uint64_t next = now + WORKER_TICK_MS;
    bool can_reclaim = !w->stopping && !w->recovering && worker_free_slots(w) > 0;
    const uint64_t due[] = {w->next_heartbeat, w->stopping ? next : w->next_promote,
                            can_reclaim ? w->next_reclaim : next, w->next_renew, w->next_trim};
    for (size_t i = 0; i < sizeof(due) / sizeof(due[0]); i++)
        if (due[i] < next)
            next = due[i];
    if (w->stopping && w->stop_deadline < next)
        next = w->stop_deadline;
    return next > now ? (int)(next - now) : 0;
}

static void run_periodic(struct worker *w, uint64_t now)
{
    uint64_t vis_ms = (uint64_t)w->cfg->worker_visibility_timeout_seconds * 1000;
    if (!worker_ensure_group(w))
        return;
    if (w->recovering)
        worker_recover_step(w);
    if (now >= w->next_renew) {
        w->next_renew = now + vis_ms / 3;
        worker_renew(w);
    }
    if (now >= w->next_reclaim) {
        /* Skipped while every slot is taken (or promised to the blocking read): it stays due and
         * runs as soon as a slot frees up, instead of a whole interval later. */
        int ran = worker_reclaim(w);
        if (ran >= 0)
            w->next_reclaim = ran > 0 ? now : now + (vis_ms / 5 > 1000 ? vis_ms / 5 : 1000);
    }
    if (now >= w->next_promote) {
        w->next_promote = now + WORKER_PROMOTE_MS;
        worker_promote(w);
    }
    if (now >= w->next_trim) {
        w->next_trim = now + WORKER_TRIM_MS;
        worker_trim(w);
    }
}

static int run(struct worker *w, int sfd)
{
    for (;;) {
        uint64_t now = base_now_ms();
        heartbeat(w, now);
        if (read_signals(w, sfd) != 0)
            return 1;
        if (w->stopping) {
            if (w->busy == 0 && !w->read_outstanding)
                break;
            if (now >= w->stop_deadline) {
                hand_back(w);
                break;
            }
        }
        run_periodic(w, now);
        worker_flush(w);
        worker_read_send(w);
        worker_read_check_deadline(w, now);

        struct curl_waitfd fds[2] = {{.fd = sfd, .events = CURL_WAIT_POLLIN}};
        unsigned nfds = 1;
        redisContext *rc = w->read_outstanding ? sync_redis_get(w->reader, NULL, 0) : NULL;
        if (rc != NULL) {
            fds[1] = (struct curl_waitfd){.fd = rc->fd, .events = CURL_WAIT_POLLIN};
            nfds = 2;
        }
        int wait_ms = next_wait(w, now);
        /* Outcomes that could not be written (Redis down) are retried on the next tick. */
        if (!delivery_wait(w->pool, fds, nfds, wait_ms))
            log_write(LOG_ERROR, NULL, "curl multi poll failed", NULL);
        struct delivery_result res;
        while (delivery_next_result(w->pool, &res))
            settle(w, &res);
        if (nfds == 2 && (fds[1].revents & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI)) != 0)
            worker_read_receive(w);
    }
    /* Give a reply that is still on its way no chance to strand entries unseen: none is
     * outstanding here, except after the deadline, when closing the connection cancels it. */
    worker_flush(w);
    return 0;
}

int worker_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "bollard worker: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return EXIT_USAGE;
    }
    return -1;
}

int worker_main(const struct config *cfg, int argc, char **argv)
{
    int args = worker_args(argc, argv);
    if (args >= 0)
        return args;
    if (cfg->database_is_sqlite) {
        fprintf(stderr, "bollard worker: needs PostgreSQL (DATABASE_URL=postgresql://…); `bollard dev` "
                        "runs the SQLite mode\n");
        return 1;
    }
    int rc = 1;
    sigset_t old;
    int sfd = -1;
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return 1;
    w->cfg = cfg;
    w->capacity = cfg->worker_concurrency;
    consumer_name(cfg, w->consumer, sizeof(w->consumer));
    snprintf(w->recover_cursor, sizeof(w->recover_cursor), "0");
    snprintf(w->reclaim_cursor, sizeof(w->reclaim_cursor), "0-0");
    w->recovering = true;
    w->db_up = true;
    memcpy(w->scripts, script_table, sizeof(script_table));
    pthread_mutex_init(&w->relay_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->relay_cv, &ca);
    pthread_condattr_destroy(&ca);
    w->relay_stall_ms = (uint64_t)cfg->db_connect_timeout_ms + 8ull * (uint64_t)cfg->db_query_timeout_ms +
                        8ull * (uint64_t)cfg->redis_timeout_ms + 10000;

    /* Before any other thread exists: curl's global set-up is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bollard worker: cannot initialise libcurl\n");
        goto cleanup;
    }
    w->curl_ready = true;
    w->jobs = calloc((size_t)w->capacity, sizeof(*w->jobs));
    struct delivery_options dopts = {.timeout_ms = cfg->webhook_timeout_ms,
                                     .allow_private = cfg->webhook_allow_private,
                                     .user_agent = "Bollard-Webhooks/1"};
    w->pool = delivery_pool_new(w->capacity, &dopts);
    char app[WORKER_CONSUMER_MAX + 32];
    snprintf(app, sizeof(app), "bollard-worker %s", w->consumer);
    int pg_connect =
        cfg->db_connect_timeout_ms < WORKER_PG_BOUND_MS ? cfg->db_connect_timeout_ms : WORKER_PG_BOUND_MS;
    w->pg = sync_pg_new(cfg->database_url, app, pg_connect);
    /* Main-thread Redis calls are bounded to a second as well, so a stalled Redis cannot freeze the
     * deliveries in flight for long. */
    int redis_bound = cfg->redis_timeout_ms < 1000 ? cfg->redis_timeout_ms : 1000;
    w->cmd = sync_redis_new(cfg->redis_url, redis_bound, w->scripts, SCRIPT_COUNT);
    w->reader = sync_redis_new(cfg->redis_url, redis_bound, NULL, 0);
    if (w->jobs == NULL || w->pool == NULL || w->pg == NULL || w->cmd == NULL || w->reader == NULL) {
        fprintf(stderr, "bollard worker: cannot initialise (out of memory, curl, or REDIS_URL)\n");
        goto cleanup;
    }
    sfd = setup_signals(&old);
    if (sfd < 0) {
        fprintf(stderr, "bollard worker: cannot set up signal handling: %s\n", strerror(errno));
        goto cleanup;
    }
    log_write(LOG_INFO, NULL, "worker starting",
              json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:b,s:s}", "consumer", w->consumer, "stream",
                        QUEUE_STREAM_JOBS, "group", QUEUE_GROUP, "concurrency", w->capacity,
                        "visibility_timeout_seconds", cfg->worker_visibility_timeout_seconds, "max_attempts",
                        cfg->webhook_max_attempts, "timeout_ms", cfg->webhook_timeout_ms, "allow_private",
                        cfg->webhook_allow_private, "heartbeat_file", cfg->worker_heartbeat_file));
    atomic_store(&w->relay_tick_ms, base_now_ms());
    if (pthread_create(&w->relay_thread, NULL, relay_thread_main, w) != 0) {
        fprintf(stderr, "bollard worker: cannot start the relay thread\n");
        goto cleanup;
    }
    w->relay_started = true;
    rc = run(w, sfd);
    if (rc != 0) {
        /* Second signal: leave at once; pending entries are reclaimed by other workers. */
        _exit(rc);
    }
    relay_stop(w);
    /* The relay finishes its batch (every call bounded); wait no longer than the shutdown budget. */
    uint64_t budget_end = w->stopping ? w->stop_started + (uint64_t)cfg->shutdown_timeout_seconds * 1000 - 250
                                      : base_now_ms() + 5000;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t now = base_now_ms();
    uint64_t left = budget_end > now ? budget_end - now : 0;
    until.tv_sec += (time_t)(left / 1000);
    until.tv_nsec += (long)(left % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(w->relay_thread, NULL, &until) != 0) {
        log_write(LOG_ERROR, NULL, "relay thread did not stop within the shutdown budget; exiting anyway",
                  NULL);
        _exit(0);
    }
    w->relay_started = false;
    log_write(LOG_INFO, NULL, "worker stopped",
              json_pack("{s:I,s:I,s:I,s:I}", "delivered", (json_int_t)w->stats.delivered, "dead_lettered",
                        (json_int_t)w->stats.dead, "retried", (json_int_t)w->stats.retried, "handed_back",
                        (json_int_t)w->stats.requeued));
    rc = 0;
cleanup:
    if (w->relay_started) {
        relay_stop(w);
        pthread_join(w->relay_thread, NULL);
    }
    if (sfd >= 0)
        close(sfd);
    for (int i = 0; w->jobs != NULL && i < w->capacity; i++)
        free(w->jobs[i].body);
    delivery_pool_free(w->pool);
    sync_redis_free(w->cmd);
    sync_redis_free(w->reader);
    sync_pg_free(w->pg);
    worker_endpoints_clear(w);
    if (w->curl_ready)
        curl_global_cleanup();
    free(w->jobs);
    pthread_cond_destroy(&w->relay_cv);
    pthread_mutex_destroy(&w->relay_mu);
    free(w);
    return rc;
}
