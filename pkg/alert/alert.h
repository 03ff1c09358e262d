/* alert: operator alerts without Alertmanager. With ALERT_WEBHOOK_URL set, `bollard migrate` posts one
 * alert when it fails and the worker one per ALERT_MIN_INTERVAL_SECONDS while it dead-letters deliveries
 * (the count since the last one). The POST is a task webhook's (pkg/delivery): X-Bollard-Signature
 * with ALERT_WEBHOOK_SECRET, X-Bollard-Event-Id = the alert's id, X-Bollard-Event-Type = "bollard.alert",
 * X-Bollard-Delivery-Attempt, no redirects or proxy, and the SSRF address policy unless
 * WEBHOOK_ALLOW_PRIVATE. The body is Slack-compatible JSON: "text" (what a Slack incoming webhook
 * shows) and a "bollard" object with the fields (README, "Alerts"). An alert never holds up the role's
 * own work, and neither the URL nor the secret is ever logged. */
#ifndef BOLLARD_ALERT_H
#define BOLLARD_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "delivery/delivery.h"

#define ALERT_EVENT_TYPE     "bollard.alert"
#define ALERT_ATTEMPTS       3     /* attempts per alert, 1 s and 4 s apart (delivery_backoff_ms) */
#define ALERT_RETRY_MAX_MS   30000 /* a receiver's Retry-After is honoured up to this */
#define ALERT_MIGRATE_MAX_MS 5000  /* `bollard migrate`'s alert, every attempt and pause included */
#define ALERT_REASON_MAX     500   /* bytes of the reason kept in the payload */

/* What one alert says. kind: "migrate_failed" or "dead_letters". */
struct alert_info {
    const char *kind;
    const char *role;    /* "migrate", "worker", "dev" */
    const char *pod;     /* POD_NAME / host name; NULL = "" */
    const char *release; /* RELEASE_NAME; NULL = "" */
    const char *reason;  /* one line, no secret; cut to ALERT_REASON_MAX */
    long long count;     /* dead letters summarised (0: not sent) */
    int exit_code;       /* migrate's exit code (-1: not sent) */
};

/* The JSON body (malloc'ed, NUL-terminated) for alert `id` at `unix_seconds`, or NULL when memory is
 * short. Pure (unit-tested). */
char *alert_payload(const struct alert_info *a, const char *id, long long unix_seconds);

/* At most one alert per interval: the first event is alerted at once, the ones after it are counted
 * and summarised by the next alert once the interval since the last one has passed. Pure. */
struct alert_limiter {
    uint64_t interval_ms;
    uint64_t last_ms; /* when the last alert was taken */
    bool taken;       /* an alert was taken before */
    long long pending;
};
void alert_limiter_init(struct alert_limiter *l, int interval_seconds);
void alert_limiter_note(struct alert_limiter *l, long long events);
/* True when an alert is due at now_ms: *count = the events since the last one (then zero again). */
bool alert_limiter_take(struct alert_limiter *l, uint64_t now_ms, long long *count);
/* Milliseconds until a pending alert is due (0: now), or -1 when none is pending. */
long alert_limiter_due_in(const struct alert_limiter *l, uint64_t now_ms);

/* `bollard migrate`: one alert (kind "migrate_failed"), blocking, within bound_ms (at most
 * ALERT_MIGRATE_MAX_MS) for every attempt together. Nothing when ALERT_WEBHOOK_URL is unset. Runs curl's
 * global set-up itself: call with no other thread using libcurl. Logs the outcome; true when delivered. */
bool alert_post_blocking(const struct config *cfg, const struct alert_info *a, int bound_ms);

/* The worker's dead-letter alerts on its deliverer's curl pool, which must have one slot more than
 * the jobs take (so an alert never takes a delivery's slot): one alert in flight at most, each
 * retried up to ALERT_ATTEMPTS times. All of it on the deliverer's thread. */
struct alert_sender;
/* NULL when ALERT_WEBHOOK_URL is unset (alerts off) or memory is short (logged); every call below
 * accepts NULL and does nothing. role: "worker" or "dev". */
struct alert_sender *alert_sender_new(const struct config *cfg, const char *role);
void alert_sender_free(struct alert_sender *s);
/* Dead letters that just happened, with the last one's error (one line, no secret). */
void alert_sender_note(struct alert_sender *s, long long dead_letters, const char *reason);
/* Starts the alert that is due, if any (call every turn). */
void alert_sender_tick(struct alert_sender *s, struct delivery_pool *pool, uint64_t now_ms);
/* Milliseconds until tick has something to do (0: now), -1 for nothing; bounds the turn's wait. */
long alert_sender_next_ms(const struct alert_sender *s, uint64_t now_ms);
/* True when `res` is the sender's attempt (res->user == s): taken here, not a job's. */
bool alert_sender_result(struct alert_sender *s, const struct delivery_result *res, uint64_t now_ms);
/* The pool's attempts were aborted (shutdown): forget the one in flight. */
void alert_sender_aborted(struct alert_sender *s);

#endif
