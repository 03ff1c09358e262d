#include "kube/kube.h"
#include "base/base.h"
#include "log/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_MAX         16384
#define NAMESPACE_MAX     253
#define RESPONSE_MAX      (1024 * 1024)
#define REQUEST_TIMEOUT_S 5L
#define PATH_MAX_LEN      1024

struct body {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > RESPONSE_MAX) {
        b->too_big = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* The first line of a small file (trailing whitespace cut); false with why when unreadable. */
static bool read_small(const char *dir, const char *file, char *out, size_t cap, char *why, size_t why_cap)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        base_why(why, why_cap, "cannot read the service account's %s (%s): %s", file, path, strerror(errno));
        return false;
    }
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    if (n == 0) {
        base_why(why, why_cap, "the service account's %s (%s) is empty", file, path);
        return false;
    }
    return true;
}

static long json_int_at(json_t *root, const char *section, const char *key)
{
    json_t *v = json_object_get(json_object_get(root, section), key);
    return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

bool kube_rollout_complete(const char *deployment_json, bool *progress_deadline_exceeded, char *summary,
                           size_t cap)
{
    *progress_deadline_exceeded = false;
    json_error_t err;
    json_t *root = json_loads(deployment_json, 0, &err);
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "kind")) ||
        strcmp(json_string_value(json_object_get(root, "kind")), "Deployment") != 0) {
        base_why(summary, cap, "not a Deployment");
        json_decref(root);
        return false;
    }
    long generation = json_int_at(root, "metadata", "generation");
    long observed = json_int_at(root, "status", "observedGeneration");
    json_t *spec_replicas = json_object_get(json_object_get(root, "spec"), "replicas");
    long want = json_is_integer(spec_replicas) ? (long)json_integer_value(spec_replicas) : 1;
    long updated = json_int_at(root, "status", "updatedReplicas");
    long total = json_int_at(root, "status", "replicas");
    long available = json_int_at(root, "status", "availableReplicas");
    json_t *conds = json_object_get(json_object_get(root, "status"), "conditions");
    size_t i;
    json_t *c;
    json_array_foreach (conds, i, c) {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *reason = json_string_value(json_object_get(c, "reason"));
        if (type != NULL && reason != NULL && strcmp(type, "Progressing") == 0 &&
            strcmp(reason, "ProgressDeadlineExceeded") == 0)
            *progress_deadline_exceeded = true;
    }
    json_decref(root);
    base_why(summary, cap,
             "generation %ld observed %ld; replicas: %ld wanted, %ld updated, %ld total, %ld available",
             generation, observed, want, updated, total, available);
    return observed >= generation && updated == want && total == updated && available == updated;
}

long kube_termination_grace(const char *deployment_json)
{
    json_t *root = json_loads(deployment_json, 0, NULL);
    json_t *v =
        json_object_get(json_object_get(json_object_get(json_object_get(root, "spec"), "template"), "spec"),
                        "terminationGracePeriodSeconds");
    long grace = json_is_integer(v) ? (long)json_integer_value(v) : 30;
    json_decref(root);
    return grace < 0 ? 0 : grace;
}

static bool sleep_ms(long ms, volatile sig_atomic_t *interrupted)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (!*interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return !*interrupted;
}

/* One GET of the Deployment; returns the HTTP status (0 on a transport error, with why). */
static long get_deployment(const char *dir, const char *url, struct body *b, char *why, size_t cap)
{
    char token[TOKEN_MAX], ca[PATH_MAX_LEN];
    if (!read_small(dir, "token", token, sizeof(token), why, cap))
        return -1;
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    char auth[TOKEN_MAX + 32];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    struct curl_slist *more = headers != NULL ? curl_slist_append(headers, "Accept: application/json") : NULL;
    long status = 0;
    if (curl == NULL || more == NULL) {
        base_why(why, cap, "out of memory");
        goto done;
    }
    headers = more;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        base_why(why, cap, "Kubernetes API: %s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
done:
    /* The token was on the stack only; wipe it. */
    explicit_bzero(token, sizeof(token));
    explicit_bzero(auth, sizeof(auth));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

enum kube_wait kube_wait_rollout(const char *dir, const char *name, int timeout_s, int poll_ms,
                                 volatile sig_atomic_t *interrupted, char *why, size_t cap)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
        base_why(why, cap, "KUBERNETES_SERVICE_HOST/PORT are not set: --wait-rollout runs inside a pod");
        return KUBE_WAIT_FAILED;
    }
    char ns[NAMESPACE_MAX + 1];
    if (!read_small(dir, "namespace", ns, sizeof(ns), why, cap))
        return KUBE_WAIT_FAILED;
    char url[PATH_MAX_LEN];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof(url), "https://%s%s%s:%s/apis/apps/v1/namespaces/%s/deployments/%s", v6 ? "[" : "",
             host, v6 ? "]" : "", port, ns, name);
    uint64_t started = base_now_ms();
    uint64_t deadline = started + (uint64_t)timeout_s * 1000;
    for (int attempt = 1;; attempt++) {
        struct body b = {0};
        char err[BASE_WHY_MAX] = "";
        long status = get_deployment(dir, url, &b, err, sizeof(err));
        char summary[BASE_WHY_MAX] = "";
        bool deadline_exceeded = false;
        bool done = false;
        long grace = 0;
        if (status == 200 && b.data != NULL) {
            done = kube_rollout_complete(b.data, &deadline_exceeded, summary, sizeof(summary));
            grace = kube_termination_grace(b.data);
        }
        free(b.data);
        uint64_t elapsed = base_now_ms() - started;
        if (status == 401 || status == 403 || status == 404 || status < 0) {
            if (status > 0)
                base_why(why, cap,
                         "Kubernetes API answered %ld for deployment %s in namespace %s (%s); the Job's "
                         "ServiceAccount needs get on it",
                         status, name, ns, status == 404 ? "not found" : "not allowed");
            else
                base_why(why, cap, "%s", err);
            return KUBE_WAIT_FAILED;
        }
        if (done) {
            log_write(LOG_INFO, NULL, "rollout complete; waiting for the old pods' grace period",
                      json_pack("{s:s,s:s,s:I,s:s,s:i}", "deployment", name, "namespace", ns, "elapsed_ms",
                                (json_int_t)elapsed, "state", summary, "grace_s", (int)grace));
            if (base_now_ms() + (uint64_t)grace * 1000 > deadline) {
                base_why(why, cap,
                         "rolled out, but the old pods' grace period (%ld s) ends after the deadline", grace);
                return KUBE_WAIT_TIMEOUT;
            }
            if (!sleep_ms(grace * 1000, interrupted))
                return KUBE_WAIT_INTERRUPTED;
            log_write(LOG_INFO, NULL, "no pod of the previous version runs",
                      json_pack("{s:s,s:I}", "deployment", name, "elapsed_ms",
                                (json_int_t)(base_now_ms() - started)));
            return KUBE_WAIT_DONE;
        }
        if (deadline_exceeded) {
            base_why(why, cap, "deployment %s exceeded its progress deadline (%s)", name, summary);
            return KUBE_WAIT_TIMEOUT;
        }
        log_write(LOG_INFO, NULL, "waiting for the rollout to complete before the contract phase",
                  json_pack("{s:s,s:i,s:I,s:s}", "deployment", name, "attempt", attempt, "elapsed_ms",
                            (json_int_t)elapsed, "state",
                            status == 200 ? summary : (err[0] != '\0' ? err : "unexpected HTTP status")));
        if (base_now_ms() + (uint64_t)poll_ms >= deadline) {
            base_why(why, cap, "deployment %s still rolling out after %d s (%s)", name, timeout_s,
                     status == 200 ? summary : err);
            return KUBE_WAIT_TIMEOUT;
        }
        if (!sleep_ms(poll_ms, interrupted))
            return KUBE_WAIT_INTERRUPTED;
    }
}
