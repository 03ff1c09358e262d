/* delivery: signed webhook POSTs over libcurl's multi interface, a bounded number in flight.
 * Each attempt: X-Bollard-Signature (webhook_sign over "<timestamp>." + body), X-Bollard-Event-Id for
 * receiver-side idempotency, connect and total timeouts, no redirects, http/https only, no proxy,
 * and — unless private targets are allowed — the SSRF address policy applied to every address
 * curl is about to connect to, after DNS resolution (CURLOPT_OPENSOCKETFUNCTION with
 * webhook_address_forbidden), so a name that resolves to a forbidden address is never contacted.
 * Single-threaded: one pool per thread. */
#ifndef BOLLARD_DELIVERY_H
#define BOLLARD_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#define DELIVERY_ERROR_MAX       200
#define DELIVERY_RESPONSE_MAX    (64 * 1024) /* response bytes read before the rest is dropped */
#define DELIVERY_CONNECT_MAX_MS  5000        /* connect timeout: min(this, the total timeout) */
#define DELIVERY_RETRY_AFTER_MAX 3600        /* a receiver's Retry-After is honoured up to this (s) */

enum delivery_outcome {
    DELIVERY_OK = 0,      /* 2xx */
    DELIVERY_RETRY,       /* network error, timeout, 3xx, 408, 429, 5xx: try again later */
    DELIVERY_PERMANENT,   /* other 4xx: retrying cannot help */
    DELIVERY_FORBIDDEN,   /* every address of the target is forbidden by the SSRF policy: not sent */
    DELIVERY_INVALID_URL, /* the stored URL breaks the webhook URL rules: not sent */
};

struct delivery_options {
    int timeout_ms; /* whole attempt */
    bool allow_private;
    const char *user_agent;
};

struct delivery_request {
    const char *url;
    const char *secret; /* signing secret; used for the signature only, never stored */
    const char *event_id;
    const char *event_type;
    int attempt;      /* 1-based, sent as X-Bollard-Delivery-Attempt */
    const char *body; /* must stay valid until the result is taken */
    size_t body_len;
    void *user;
};

struct delivery_result {
    void *user;
    enum delivery_outcome outcome;
    long status;      /* HTTP status, 0 when none was received */
    long retry_after; /* seconds from a Retry-After header (0 if none), capped */
    double seconds;   /* duration of the attempt */
    char error[DELIVERY_ERROR_MAX];
};

struct delivery_pool;

/* Returns NULL on failure (curl could not be initialised). capacity: max attempts in flight. */
struct delivery_pool *delivery_pool_new(int capacity, const struct delivery_options *opts);
/* Aborts whatever is still in flight (results are not reported). */
void delivery_pool_free(struct delivery_pool *pool);

/* Starts one attempt. Returns false (why set) when the pool is full or curl refuses the setup, and
 * reports nothing for it; a URL breaking the rules is reported as a DELIVERY_INVALID_URL result. */
bool delivery_start(struct delivery_pool *pool, const struct delivery_request *req, char *why, size_t cap);
int delivery_in_flight(const struct delivery_pool *pool);

/* Drives the transfers: waits at most timeout_ms for network activity on them or on one of the
 * extra descriptors (whose revents are filled in), then performs what is ready. */
bool delivery_wait(struct delivery_pool *pool, struct curl_waitfd *extra, unsigned n_extra, int timeout_ms);
/* Takes one finished attempt; false when none is ready. */
bool delivery_next_result(struct delivery_pool *pool, struct delivery_result *out);
/* Aborts every attempt still in flight and hands back their `user` pointers (at most cap); returns
 * how many. Used at the shutdown deadline. */
size_t delivery_abort_all(struct delivery_pool *pool, void **users, size_t cap);

/* The rule behind the outcome (pure; unit-tested). */
enum delivery_outcome delivery_classify(long status, bool transfer_ok, bool forbidden);

/* Retry schedule: after the n-th failed attempt (n >= 1) the next one is due after
 * min(4^(n-1) s, 1 h) scaled by a jitter factor in [0.8, 1.2): 1 s, 4 s, 16 s, 64 s, 256 s,
 * 1024 s, then 1 h. `unit` is a uniform random number in [0, 1). */
long delivery_backoff_ms(int failed_attempts, double unit);

/* What happens to a job after an attempt — the one rule `bollard worker` and `bollard dev` share. */
enum delivery_verdict {
    DELIVERY_VERDICT_DONE,  /* delivered */
    DELIVERY_VERDICT_RETRY, /* try again after *delay_ms: the backoff, or the receiver's Retry-After if longer
                             */
    DELIVERY_VERDICT_DEAD,  /* permanent failure, or `attempt` was the max_attempts-th: dead-letter it */
};
/* `attempt` is the 1-based number of the attempt that produced `res`. */
enum delivery_verdict delivery_judge(const struct delivery_result *res, int attempt, int max_attempts,
                                     long *delay_ms);

#endif
