/* `bollard worker`: the process. Main thread: signals, heartbeat and the deliverer (pkg/worker's
 * deliverer.c) on the Redis back-end of pkg/queue; relay thread: outbox (PostgreSQL) → queue (pkg/relay).
 * Every wait is bounded, the main loop sleeps at most WORKER_TICK_MS, so the heartbeat keeps ticking and
 * a signal is seen at once (its descriptor is part of the loop's poll set). */
#include "worker/worker.h"
#include "worker/internal.h"

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
#include "relay/relay.h"

#define WORKER_CONSUMER_MAX 160
#define WORKER_TICK_MS      250  /* longest sleep of the main loop */
#define WORKER_HEARTBEAT_MS 100  /* heartbeat rewrites are coalesced to at most this often */
#define WORKER_PG_BOUND_MS  1000 /* main-thread database calls: deliveries must keep moving */
#define STOP_MARGIN_MS      1500 /* kept from SHUTDOWN_TIMEOUT_SECONDS for hand-back and exit */

struct worker {
    const struct config *cfg;
    char consumer[WORKER_CONSUMER_MAX];
    struct worker_pipeline p; /* relay, queue and deliverer */
    uint64_t relay_stall_ms;
    uint64_t next_heartbeat, next_report, stall_logged, heartbeat_error_logged;
    bool stopping;
    uint64_t stop_started, stop_deadline;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bollard worker\n"
            "  Relays task events from the outbox table to the Redis stream " QUEUE_STREAM_JOBS "\n"
            "  and delivers them as signed webhooks (consumer group " QUEUE_GROUP
            "). No HTTP port; liveness is the\n"
            "  heartbeat file WORKER_HEARTBEAT_FILE (`probe file PATH --max-age N`). With ALERT_WEBHOOK_URL\n"
            "  set, dead letters are alerted there, at most once per ALERT_MIN_INTERVAL_SECONDS.\n"
            "Exit codes: 0 after SIGTERM/SIGINT; 1 start-up failure or a second signal; 64 usage;\n"
            "78 invalid configuration.\n");
}

/* ---- heartbeat */

static void heartbeat(struct worker *w, uint64_t now)
{
    if (now >= w->next_report && !w->stopping) {
        /* The fleet's figures for the API's /metrics (this process has no port of its own). */
        w->next_report = now + QUEUE_WORKER_REPORT_MS;
        worker_pipeline_report(&w->p, false);
    }
    if (now < w->next_heartbeat)
        return;
    w->next_heartbeat = now + WORKER_HEARTBEAT_MS;
    struct relay_stats relay = relay_stats(w->p.relay);
    uint64_t relay_tick = relay.tick_ms;
    if (!w->stopping && now > relay_tick + w->relay_stall_ms) {
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
    const struct worker_deliverer *d = &w->p.d;
    struct queue_stats qs = queue_stats(d->q);
    int in_flight = d->slots.busy;
    json_t *o = json_pack(
        "{s:s,s:I,s:i,s:s,s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:s,s:s}",
        "last_loop", ts, "unix_ms", (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "pid", (int)getpid(),
        "consumer", w->consumer, "state", w->stopping ? "stopping" : "running", "in_flight", in_flight,
        "concurrency", d->slots.capacity, "processed",
        (json_int_t)(d->delivered + qs.dead + d->dropped + qs.dropped), "delivered", (json_int_t)d->delivered,
        "failed", (json_int_t)d->failed_attempts, "retried", (json_int_t)qs.retried, "dead_lettered",
        (json_int_t)qs.dead, "reclaimed", (json_int_t)qs.reclaimed, "trims", (json_int_t)qs.trims,
        "relayed_events", (json_int_t)relay.events, "relayed_jobs", (json_int_t)relay.jobs, "recovered_jobs",
        (json_int_t)relay.recovered, "redis_data_losses", (json_int_t)relay.recoveries, "redis", qs.up,
        "database", d->db_up, "relay", relay_state_name(relay.state), "schema",
        relay.schema_ok ? "compatible" : "not compatible");
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

/* ---- shutdown */

static void begin_stop(struct worker *w, const char *signal_name)
{
    uint64_t now = base_now_ms();
    w->stopping = true;
    w->stop_started = now;
    uint64_t budget = (uint64_t)w->cfg->shutdown_timeout_seconds * 1000;
    w->stop_deadline = now + (budget > STOP_MARGIN_MS ? budget - STOP_MARGIN_MS : 0);
    log_write(LOG_INFO, NULL, "stopping: no new jobs; finishing in-flight deliveries",
              json_pack("{s:s,s:i,s:I}", "signal", signal_name, "in_flight", w->p.d.slots.busy, "deadline_ms",
                        (json_int_t)(w->stop_deadline - now)));
    worker_deliverer_stop(&w->p.d);
    relay_stop(w->p.relay);
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
    /* Only the signalfd sees them (the relay thread blocks every signal). */
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

static int run(struct worker *w, int sfd)
{
    for (;;) {
        uint64_t now = base_now_ms();
        heartbeat(w, now);
        if (read_signals(w, sfd) != 0)
            return 1;
        /* At the deadline, attempts still running are handed back for another worker. */
        if (w->stopping && worker_deliverer_finished(&w->p.d, now, w->stop_deadline,
                                                     "shutdown deadline: unfinished deliveries handed back"))
            break;
        uint64_t next = w->next_heartbeat < now + WORKER_TICK_MS ? w->next_heartbeat : now + WORKER_TICK_MS;
        if (w->stopping && w->stop_deadline < next)
            next = w->stop_deadline;
        struct curl_waitfd sig = {.fd = sfd, .events = CURL_WAIT_POLLIN};
        worker_deliverer_turn(&w->p.d, &sig, 1, next > now ? (int)(next - now) : 0);
    }
    /* Give a reply that is still on its way no chance to strand entries unseen: none is
     * outstanding here, except after the deadline, when closing the connection cancels it. */
    worker_settle_flush(&w->p.d);
    return 0;
}

int worker_args(int argc, char **argv)
{
    return base_role_args(argc, argv, usage);
}

int worker_main(const struct config *cfg, int argc, char **argv)
{
    (void)argc, (void)argv; /* cmd/bollard ran worker_args first */
    int rc = 1;
    sigset_t old;
    int sfd = -1;
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return 1;
    w->cfg = cfg;
    consumer_name(cfg, w->consumer, sizeof(w->consumer));
    w->relay_stall_ms = (uint64_t)cfg->db_connect_timeout_ms + 8ull * (uint64_t)cfg->db_query_timeout_ms +
                        8ull * (uint64_t)cfg->redis_timeout_ms + 10000;
    sfd = setup_signals(&old);
    if (sfd < 0) {
        fprintf(stderr, "bollard worker: cannot set up signal handling: %s\n", strerror(errno));
        goto cleanup;
    }
    /* Main-thread Redis and database calls are bounded to a second, so a stalled Redis or database
     * cannot freeze the deliveries in flight for long. */
    int redis_bound = cfg->redis_timeout_ms < 1000 ? cfg->redis_timeout_ms : 1000;
    struct queue_redis_config qc = {.url = cfg->redis_url,
                                    .tls = &cfg->redis_tls,
                                    .consumer = w->consumer,
                                    .timeout_ms = cfg->redis_timeout_ms,
                                    .consumer_bound_ms = redis_bound,
                                    .visibility_ms = cfg->worker_visibility_timeout_seconds * 1000};
    char app[WORKER_CONSUMER_MAX + 32], relay_app[WORKER_CONSUMER_MAX + 32];
    snprintf(app, sizeof(app), "bollard-worker %s", w->consumer);
    snprintf(relay_app, sizeof(relay_app), "bollard-worker relay %s", w->consumer);
    int pg_bound =
        cfg->db_query_timeout_ms < WORKER_PG_BOUND_MS ? cfg->db_query_timeout_ms : WORKER_PG_BOUND_MS;
    int pg_connect =
        cfg->db_connect_timeout_ms < WORKER_PG_BOUND_MS ? cfg->db_connect_timeout_ms : WORKER_PG_BOUND_MS;
    struct outbox *pg = outbox_pg_new(&(struct outbox_pg_config){.url = cfg->database_url,
                                                                 .application_name = app,
                                                                 .connect_timeout_ms = pg_connect,
                                                                 .query_timeout_ms = pg_bound,
                                                                 .idle_in_transaction_ms = 5000});
    /* The idle timeout frees the rows' locks if this process hangs between publishing and committing. */
    struct outbox *relay_pg =
        outbox_pg_new(&(struct outbox_pg_config){.url = cfg->database_url,
                                                 .application_name = relay_app,
                                                 .connect_timeout_ms = cfg->db_connect_timeout_ms,
                                                 .query_timeout_ms = cfg->db_query_timeout_ms,
                                                 .idle_in_transaction_ms = 4 * cfg->redis_timeout_ms + 5000});
    char why[BASE_WHY_MAX] = "";
    if (!worker_pipeline_open(&w->p, cfg, "worker", queue_redis_new(&qc), pg, relay_pg, why, sizeof(why))) {
        fprintf(stderr, "bollard worker: cannot start: %s\n", why);
        goto cleanup;
    }
    worker_pipeline_log_started(
        &w->p, "worker starting",
        json_pack("{s:s,s:s,s:s,s:i,s:s}", "consumer", w->consumer, "stream", QUEUE_STREAM_JOBS, "group",
                  QUEUE_GROUP, "visibility_timeout_seconds", cfg->worker_visibility_timeout_seconds,
                  "heartbeat_file", cfg->worker_heartbeat_file));
    rc = run(w, sfd);
    if (rc != 0) {
        /* Second signal: leave at once; pending entries are reclaimed by other workers. */
        _exit(rc);
    }
    /* The relay finishes its batch (every call bounded); wait no longer than the shutdown budget. */
    uint64_t budget_end = w->stopping ? w->stop_started + (uint64_t)cfg->shutdown_timeout_seconds * 1000 - 250
                                      : base_now_ms() + 5000;
    if (!relay_join(w->p.relay, budget_end)) {
        log_write(LOG_ERROR, NULL, "relay thread did not stop within the shutdown budget; exiting anyway",
                  NULL);
        _exit(0);
    }
    worker_pipeline_report(&w->p, true); /* gone at once, not after QUEUE_WORKER_TTL_MS */
    worker_pipeline_log_stopped(&w->p, "worker stopped");
    rc = 0;
cleanup:
    worker_pipeline_close(&w->p);
    if (sfd >= 0)
        close(sfd);
    free(w);
    return rc;
}
