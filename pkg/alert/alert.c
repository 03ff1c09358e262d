#include "alert/alert.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/base.h"
#include "log/log.h"

/* ---- payload */

/* Slack reads &, < and > in "text" as markup (links, mentions): escaped, as its documentation asks. */
static void slack_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in != '\0'; in++) {
        const char *rep = *in == '&' ? "&amp;" : *in == '<' ? "&lt;" : *in == '>' ? "&gt;" : NULL;
        size_t n = rep != NULL ? strlen(rep) : 1;
        if (o + n + 1 > cap)
            break;
        if (rep != NULL)
            memcpy(out + o, rep, n);
        else
            out[o] = *in;
        o += n;
    }
    out[o] = '\0';
}

char *alert_payload(const struct alert_info *a, const char *id, long long unix_seconds)
{
    const char *pod = a->pod != NULL ? a->pod : "";
    const char *release = a->release != NULL ? a->release : "";
    const char *role = a->role != NULL ? a->role : "";
    char reason[ALERT_REASON_MAX + 1];
    base_one_line(a->reason != NULL && a->reason[0] != '\0' ? a->reason : "unknown", reason, sizeof(reason));

    char what[160];
    if (strcmp(a->kind, "migrate_failed") == 0)
        snprintf(what, sizeof(what), "bollard migrate failed (exit %d)", a->exit_code);
    else
        snprintf(what, sizeof(what), "bollard %s dead-lettered %lld webhook deliver%s since its last alert",
                 role, a->count, a->count == 1 ? "y" : "ies");
    char where[600];
    snprintf(where, sizeof(where), "pod %.250s, release %.250s", pod[0] != '\0' ? pod : "(unknown)",
             release[0] != '\0' ? release : "(unset)");
    char line[sizeof(what) + sizeof(where) + sizeof(reason) + 16];
    snprintf(line, sizeof(line), "%s (%s): %s", what, where, reason);
    char text[sizeof(line) * 5 + 1];
    slack_escape(line, text, sizeof(text));

    char at[32];
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(at, sizeof(at), "1970-01-01T00:00:00Z");

    json_t *fields = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "kind", a->kind, "role", role,
                               "pod", pod, "release", release, "reason", reason, "at", at);
    if (fields != NULL && a->count > 0 && json_object_set_new(fields, "count", json_integer(a->count)) != 0)
        goto fail;
    if (fields != NULL && a->exit_code >= 0 &&
        json_object_set_new(fields, "exit_code", json_integer(a->exit_code)) != 0)
        goto fail;
    json_t *body = fields != NULL ? json_pack("{s:s,s:o}", "text", text, "bollard", fields) : NULL;
    fields = NULL; /* taken by the pack ("o"), also when it fails */
    if (body == NULL)
        return NULL;
    char *out = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return out;
fail:
    json_decref(fields);
    return NULL;
}

/* ---- rate limit */

void alert_limiter_init(struct alert_limiter *l, int interval_seconds)
{
    memset(l, 0, sizeof(*l));
    l->interval_ms = (uint64_t)(interval_seconds > 0 ? interval_seconds : 1) * 1000;
}

void alert_limiter_note(struct alert_limiter *l, long long events)
{
    if (events > 0)
        l->pending += events;
}

long alert_limiter_due_in(const struct alert_limiter *l, uint64_t now_ms)
{
    if (l->pending <= 0)
        return -1;
    if (!l->taken || now_ms >= l->last_ms + l->interval_ms)
        return 0;
    return (long)(l->last_ms + l->interval_ms - now_ms);
}

bool alert_limiter_take(struct alert_limiter *l, uint64_t now_ms, long long *count)
{
    if (alert_limiter_due_in(l, now_ms) != 0)
        return false;
    *count = l->pending;
    l->pending = 0;
    l->last_ms = now_ms;
    l->taken = true;
    return true;
}

/* ---- one attempt's outcome, for both hosts */

static struct delivery_request request_for(const struct config *cfg, const char *id, int attempt,
                                           const char *body, void *user)
{
    return (struct delivery_request){.url = cfg->alert_webhook_url,
                                     .secret = cfg->alert_webhook_secret,
                                     .event_id = id,
                                     .event_type = ALERT_EVENT_TYPE,
                                     .attempt = attempt,
                                     .body = body,
                                     .body_len = strlen(body),
                                     .user = user};
}

static void log_outcome(bool delivered, const char *id, const char *kind, int attempts, const char *error)
{
    if (delivered)
        log_write(LOG_INFO, NULL, "alert delivered",
                  json_pack("{s:s,s:s,s:i}", "alert_id", id, "kind", kind, "attempts", attempts));
    else
        log_write(LOG_WARN, NULL, "alert not delivered",
                  json_pack("{s:s,s:s,s:i,s:s}", "alert_id", id, "kind", kind, "attempts", attempts, "error",
                            error != NULL ? error : "unknown"));
}

/* ---- `bollard migrate`: blocking, bounded */

bool alert_post_blocking(const struct config *cfg, const struct alert_info *a, int bound_ms)
{
    if (cfg->alert_webhook_url == NULL || cfg->alert_webhook_secret == NULL)
        return false;
    if (bound_ms <= 0 || bound_ms > ALERT_MIGRATE_MAX_MS)
        bound_ms = ALERT_MIGRATE_MAX_MS;
    uint64_t deadline = base_now_ms() + (uint64_t)bound_ms;
    char id[BASE_UUID_LEN + 1];
    if (!base_uuid_v4(id)) {
        log_write(LOG_WARN, NULL, "alert not sent",
                  json_pack("{s:s}", "error", "no random bytes for its id"));
        return false;
    }
    char *body = alert_payload(a, id, (long long)time(NULL));
    bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    struct delivery_options opts = {.timeout_ms = bound_ms,
                                    .allow_private = cfg->webhook_allow_private,
                                    .user_agent = "Bollard-Alerts/1"};
    struct delivery_pool *pool = curl_ready && body != NULL ? delivery_pool_new(1, &opts) : NULL;
    bool delivered = false;
    int attempt = 0;
    char error[DELIVERY_ERROR_MAX] = "out of memory, or libcurl could not be set up";
    while (pool != NULL && attempt < ALERT_ATTEMPTS && base_now_ms() < deadline) {
        attempt++;
        struct delivery_request req = request_for(cfg, id, attempt, body, NULL);
        if (!delivery_start(pool, &req, error, sizeof(error)))
            break;
        struct delivery_result res = {0};
        bool got = false;
        for (uint64_t now = base_now_ms(); now < deadline; now = base_now_ms()) {
            uint64_t left = deadline - now;
            if (!delivery_wait(pool, NULL, 0, left < 100 ? (int)left : 100))
                break;
            if ((got = delivery_next_result(pool, &res)))
                break;
        }
        if (!got) {
            void *users[1];
            delivery_abort_all(pool, users, 1);
            snprintf(error, sizeof(error), "no answer within %d ms", bound_ms);
            break;
        }
        long delay = 0;
        enum delivery_verdict v = delivery_judge(&res, attempt, ALERT_ATTEMPTS, &delay);
        snprintf(error, sizeof(error), "%s", res.error);
        if (v == DELIVERY_VERDICT_DONE) {
            delivered = true;
            break;
        }
        if (v == DELIVERY_VERDICT_DEAD)
            break;
        uint64_t now = base_now_ms();
        if (now + (uint64_t)delay >= deadline) {
            snprintf(error + strlen(error), sizeof(error) - strlen(error), "; no time left for attempt %d",
                     attempt + 1);
            break;
        }
        poll(NULL, 0, (int)delay); /* a CLI on its way out: nothing else to do meanwhile */
    }
    log_outcome(delivered, id, a->kind, attempt, error);
    delivery_pool_free(pool);
    if (curl_ready)
        curl_global_cleanup();
    free(body);
    return delivered;
}

/* ---- the worker's sender */

struct alert_sender {
    const struct config *cfg;
    const char *role;
    struct alert_limiter limiter;
    char reason[ALERT_REASON_MAX + 1]; /* the last dead letter's error */
    /* the alert being sent: body != NULL */
    char *body;
    char id[BASE_UUID_LEN + 1];
    int attempt;       /* attempts made */
    bool in_flight;    /* an attempt is in the pool */
    uint64_t retry_at; /* when the next attempt is due (body set, not in flight) */
    char error[DELIVERY_ERROR_MAX];
};

struct alert_sender *alert_sender_new(const struct config *cfg, const char *role)
{
    if (cfg->alert_webhook_url == NULL || cfg->alert_webhook_secret == NULL)
        return NULL;
    struct alert_sender *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_write(LOG_ERROR, NULL, "out of memory: dead-letter alerts are off", NULL);
        return NULL;
    }
    s->cfg = cfg;
    s->role = role;
    alert_limiter_init(&s->limiter, cfg->alert_min_interval_seconds);
    return s;
}

void alert_sender_free(struct alert_sender *s)
{
    if (s == NULL)
        return;
    free(s->body);
    free(s);
}

void alert_sender_note(struct alert_sender *s, long long dead_letters, const char *reason)
{
    if (s == NULL || dead_letters <= 0)
        return;
    alert_limiter_note(&s->limiter, dead_letters);
    base_one_line(reason, s->reason, sizeof(s->reason));
}

static void finish(struct alert_sender *s, bool delivered)
{
    log_outcome(delivered, s->id, "dead_letters", s->attempt, s->error);
    free(s->body);
    s->body = NULL;
    s->in_flight = false;
}

static void start_attempt(struct alert_sender *s, struct delivery_pool *pool, uint64_t now_ms)
{
    s->attempt++;
    struct delivery_request req = request_for(s->cfg, s->id, s->attempt, s->body, s);
    char why[DELIVERY_ERROR_MAX];
    if (delivery_start(pool, &req, why, sizeof(why))) {
        s->in_flight = true;
        return;
    }
    /* Not started (curl refused the set-up): counts as an attempt, so this ends too. */
    snprintf(s->error, sizeof(s->error), "%s", why);
    if (s->attempt >= ALERT_ATTEMPTS)
        finish(s, false);
    else
        s->retry_at = now_ms + 1000;
}

void alert_sender_tick(struct alert_sender *s, struct delivery_pool *pool, uint64_t now_ms)
{
    if (s == NULL || s->in_flight)
        return;
    if (s->body != NULL) {
        if (now_ms >= s->retry_at)
            start_attempt(s, pool, now_ms);
        return;
    }
    long long count = 0;
    if (!alert_limiter_take(&s->limiter, now_ms, &count))
        return;
    if (!base_uuid_v4(s->id)) {
        log_write(
            LOG_WARN, NULL, "alert not sent",
            json_pack("{s:s,s:I}", "error", "no random bytes for its id", "dead_letters", (json_int_t)count));
        return;
    }
    struct alert_info a = {.kind = "dead_letters",
                           .role = s->role,
                           .pod = s->cfg->pod_name,
                           .release = s->cfg->release_name,
                           .reason = s->reason,
                           .count = count,
                           .exit_code = -1};
    s->body = alert_payload(&a, s->id, (long long)time(NULL));
    if (s->body == NULL) {
        log_write(LOG_WARN, NULL, "alert not sent",
                  json_pack("{s:s,s:I}", "error", "out of memory", "dead_letters", (json_int_t)count));
        return;
    }
    s->attempt = 0;
    s->error[0] = '\0';
    start_attempt(s, pool, now_ms);
}

long alert_sender_next_ms(const struct alert_sender *s, uint64_t now_ms)
{
    if (s == NULL || s->in_flight)
        return -1;
    if (s->body != NULL)
        return s->retry_at > now_ms ? (long)(s->retry_at - now_ms) : 0;
    return alert_limiter_due_in(&s->limiter, now_ms);
}

bool alert_sender_result(struct alert_sender *s, const struct delivery_result *res, uint64_t now_ms)
{
    if (s == NULL || res->user != (void *)s)
        return false;
    s->in_flight = false;
    snprintf(s->error, sizeof(s->error), "%s", res->error);
    long delay = 0;
    switch (delivery_judge(res, s->attempt, ALERT_ATTEMPTS, &delay)) {
    case DELIVERY_VERDICT_DONE:
        finish(s, true);
        break;
    case DELIVERY_VERDICT_DEAD:
        finish(s, false);
        break;
    case DELIVERY_VERDICT_RETRY:
        s->retry_at = now_ms + (uint64_t)(delay < ALERT_RETRY_MAX_MS ? delay : ALERT_RETRY_MAX_MS);
        break;
    }
    return true;
}

void alert_sender_aborted(struct alert_sender *s)
{
    if (s == NULL || !s->in_flight)
        return;
    snprintf(s->error, sizeof(s->error), "aborted at the shutdown deadline");
    finish(s, false);
}
