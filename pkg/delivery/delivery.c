#include "delivery/delivery.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "webhook/webhook.h"

#define BACKOFF_FIRST_MS 1000L
#define BACKOFF_CAP_MS   3600000L

struct slot {
    bool busy;
    CURL *easy;
    struct curl_slist *headers;
    bool forbidden;      /* the SSRF policy refused at least one address */
    const char *invalid; /* why the URL breaks the rules (static text), or NULL */
    size_t received;
    long retry_after;
    void *user;
    char errbuf[CURL_ERROR_SIZE];
};

struct delivery_pool {
    CURLM *multi;
    struct slot *slots;
    int capacity;
    int in_flight;
    struct delivery_options opts;
    char *user_agent;
};

enum delivery_outcome delivery_classify(long status, bool transfer_ok, bool forbidden)
{
    /* A 2xx counts even if the transfer failed afterwards (e.g. the response body was cut off): the
     * receiver has accepted the event. */
    if (status >= 200 && status < 300)
        return DELIVERY_OK;
    if (forbidden && !transfer_ok)
        return DELIVERY_FORBIDDEN;
    if (status == 408 || status == 429)
        return DELIVERY_RETRY;
    if (status >= 400 && status < 500)
        return DELIVERY_PERMANENT;
    return DELIVERY_RETRY; /* no response, 1xx/3xx (redirects are not followed), 5xx */
}

long delivery_backoff_ms(int failed_attempts, double unit)
{
    long base = BACKOFF_FIRST_MS;
    for (int i = 1; i < failed_attempts && base < BACKOFF_CAP_MS; i++)
        base *= 4;
    if (base > BACKOFF_CAP_MS)
        base = BACKOFF_CAP_MS;
    if (unit < 0 || unit >= 1)
        unit = 0.5;
    /* ±20 %: workers retrying the same failing receiver spread out instead of arriving together,
     * and each delay still grows (0.8 × 4 > 1.2). */
    return (long)((double)base * (0.8 + 0.4 * unit));
}

/* A uniform number in [0, 1) for the jitter; the kernel's generator, so that workers started together
 * do not share a sequence. */
static double jitter_unit(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        return 0.5;
    return (double)r / 4294967296.0;
}

enum delivery_verdict delivery_judge(const struct delivery_result *res, int attempt, int max_attempts,
                                     long *delay_ms)
{
    *delay_ms = 0;
    if (res->outcome == DELIVERY_OK)
        return DELIVERY_VERDICT_DONE;
    if (res->outcome != DELIVERY_RETRY || attempt >= max_attempts)
        return DELIVERY_VERDICT_DEAD;
    long delay = delivery_backoff_ms(attempt, jitter_unit());
    if (res->retry_after * 1000 > delay)
        delay = res->retry_after * 1000;
    *delay_ms = delay;
    return DELIVERY_VERDICT_RETRY;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    struct slot *s = userdata;
    size_t n = size * nmemb;
    s->received += n;
    /* Nothing is done with the body; reading an unbounded one would only waste the slot. */
    return s->received > DELIVERY_RESPONSE_MAX ? 0 : n;
}

static size_t read_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct slot *s = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1;
        while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        long v = 0;
        bool digits = false;
        while (i < n && isdigit((unsigned char)buf[i]) && v <= DELIVERY_RETRY_AFTER_MAX) {
            v = v * 10 + (buf[i] - '0');
            digits = true;
            i++;
        }
        /* Only the delta-seconds form; an HTTP date is ignored (the backoff applies). */
        if (digits)
            s->retry_after = v > DELIVERY_RETRY_AFTER_MAX ? DELIVERY_RETRY_AFTER_MAX : v;
    }
    return n;
}

/* The SSRF policy on the address actually about to be connected (after DNS, for every address
 * curl tries); refusing here means no packet is ever sent to it. */
static curl_socket_t open_checked_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct slot *s = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN || webhook_address_forbidden(&address->addr)) {
        s->forbidden = true;
        return CURL_SOCKET_BAD;
    }
    int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

struct delivery_pool *delivery_pool_new(int capacity, const struct delivery_options *opts)
{
    struct delivery_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->capacity = capacity > 0 ? capacity : 1;
    pool->opts = *opts;
    pool->user_agent = strdup(opts->user_agent != NULL ? opts->user_agent : "Bollard-Webhooks");
    pool->slots = calloc((size_t)pool->capacity, sizeof(*pool->slots));
    pool->multi = curl_multi_init();
    if (pool->user_agent == NULL || pool->slots == NULL || pool->multi == NULL)
        goto fail;
    for (int i = 0; i < pool->capacity; i++) {
        pool->slots[i].easy = curl_easy_init();
        if (pool->slots[i].easy == NULL)
            goto fail;
    }
    /* Keep-alive connections to receivers are reused across deliveries (bounded cache). */
    if (curl_multi_setopt(pool->multi, CURLMOPT_MAXCONNECTS, (long)pool->capacity * 2) != CURLM_OK)
        goto fail;
    return pool;
fail:
    delivery_pool_free(pool);
    return NULL;
}

static void release_slot(struct delivery_pool *pool, struct slot *s)
{
    curl_multi_remove_handle(pool->multi, s->easy);
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    s->busy = false;
    s->user = NULL;
    pool->in_flight--;
}

void delivery_pool_free(struct delivery_pool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; pool->slots != NULL && i < pool->capacity; i++) {
        struct slot *s = &pool->slots[i];
        if (s->busy)
            release_slot(pool, s);
        if (s->easy != NULL)
            curl_easy_cleanup(s->easy);
    }
    if (pool->multi != NULL)
        curl_multi_cleanup(pool->multi);
    free(pool->slots);
    free(pool->user_agent);
    free(pool);
}

int delivery_in_flight(const struct delivery_pool *pool)
{
    return pool->in_flight;
}

static bool add_header(struct curl_slist **list, const char *fmt, const char *a, const char *b)
{
    char line[WEBHOOK_SIGNATURE_LEN + 256];
    int n = snprintf(line, sizeof(line), fmt, a, b);
    if (n < 0 || (size_t)n >= sizeof(line))
        return false;
    struct curl_slist *next = curl_slist_append(*list, line);
    if (next == NULL)
        return false;
    *list = next;
    return true;
}

/* Header values come from our own stream entries, but a CR/LF would still split a header. */
static bool header_safe(const char *v)
{
    for (; *v != '\0'; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
            return false;
    return true;
}

#define SETOPT(opt, val)                                                                                     \
    do {                                                                                                     \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                                                     \
            snprintf(why, cap, "curl refused option %s", #opt);                                              \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

bool delivery_start(struct delivery_pool *pool, const struct delivery_request *req, char *why, size_t cap)
{
    struct slot *s = NULL;
    for (int i = 0; i < pool->capacity && s == NULL; i++)
        if (!pool->slots[i].busy)
            s = &pool->slots[i];
    if (s == NULL) {
        snprintf(why, cap, "no free delivery slot");
        return false;
    }
    CURL *e = s->easy;
    curl_easy_reset(e);
    s->forbidden = false;
    s->invalid = NULL;
    s->received = 0;
    s->retry_after = 0;
    s->errbuf[0] = '\0';
    s->headers = NULL;
    s->user = req->user;

    struct webhook_target target;
    const char *bad = NULL;
    bool url_ok = webhook_url_parse(req->url, &target, &bad);

    char attempt[16], stamp[WEBHOOK_SIGNATURE_LEN + 1];
    snprintf(attempt, sizeof(attempt), "%d", req->attempt);
    webhook_sign(req->secret, (long long)time(NULL), req->body, req->body_len, stamp);
    if (stamp[0] == '\0') {
        snprintf(why, cap, "cannot compute the signature");
        goto fail;
    }
    if (!header_safe(req->event_id) || !header_safe(req->event_type)) {
        snprintf(why, cap, "unsafe header value in the job");
        goto fail;
    }
    if (!add_header(&s->headers, "Content-Type: application/json%s%s", "", "") ||
        !add_header(&s->headers, "X-Bollard-Event-Id: %s%s", req->event_id, "") ||
        !add_header(&s->headers, "X-Bollard-Event-Type: %s%s", req->event_type, "") ||
        !add_header(&s->headers, "X-Bollard-Delivery-Attempt: %s%s", attempt, "") ||
        !add_header(&s->headers, "X-Bollard-Signature: %s%s", stamp, "") ||
        /* curl would otherwise wait for "100 Continue" on bodies over 1 KiB */
        !add_header(&s->headers, "Expect:%s%s", "", "")) {
        snprintf(why, cap, "out of memory building headers");
        goto fail;
    }
    long total_ms = pool->opts.timeout_ms > 0 ? pool->opts.timeout_ms : 10000;
    long connect_ms = total_ms < DELIVERY_CONNECT_MAX_MS ? total_ms : DELIVERY_CONNECT_MAX_MS;
    /* An invalid URL is never handed to curl: the attempt still goes through the multi handle (to a
     * URL curl refuses without any network activity) so its result is reported like any other. */
    SETOPT(CURLOPT_URL, url_ok ? req->url : "bollard-invalid://");
    SETOPT(CURLOPT_PRIVATE, (void *)s);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, req->body);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    SETOPT(CURLOPT_HTTPHEADER, s->headers);
    SETOPT(CURLOPT_USERAGENT, pool->user_agent);
    SETOPT(CURLOPT_TIMEOUT_MS, total_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* A proxy (even one from the environment) would be the address connected to, defeating the
     * address check below. */
    SETOPT(CURLOPT_PROXY, "");
    SETOPT(CURLOPT_ERRORBUFFER, s->errbuf);
    SETOPT(CURLOPT_WRITEFUNCTION, discard_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)s);
    SETOPT(CURLOPT_HEADERFUNCTION, read_header);
    SETOPT(CURLOPT_HEADERDATA, (void *)s);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    if (!pool->opts.allow_private) {
        SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
        SETOPT(CURLOPT_OPENSOCKETDATA, (void *)s);
    }
    if (curl_multi_add_handle(pool->multi, e) != CURLM_OK) {
        snprintf(why, cap, "curl_multi_add_handle failed");
        goto fail;
    }
    s->busy = true;
    pool->in_flight++;
    if (!url_ok)
        s->invalid = bad != NULL ? bad : "is not a valid webhook URL";
    return true;
fail:
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    s->user = NULL;
    return false;
}

bool delivery_wait(struct delivery_pool *pool, struct curl_waitfd *extra, unsigned n_extra, int timeout_ms)
{
    int numfds = 0;
    if (curl_multi_poll(pool->multi, extra, n_extra, timeout_ms < 0 ? 0 : timeout_ms, &numfds) != CURLM_OK)
        return false;
    int running = 0;
    return curl_multi_perform(pool->multi, &running) == CURLM_OK;
}

bool delivery_next_result(struct delivery_pool *pool, struct delivery_result *out)
{
    for (;;) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(pool->multi, &left);
        if (msg == NULL)
            return false;
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct slot *s = NULL;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s) != CURLE_OK || s == NULL)
            continue;
        CURLcode code = msg->data.result;
        memset(out, 0, sizeof(*out));
        out->user = s->user;
        long status = 0;
        if (curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
            status = 0;
        double seconds = 0;
        if (curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME, &seconds) != CURLE_OK)
            seconds = 0;
        out->status = status;
        out->seconds = seconds;
        out->retry_after = s->retry_after;
        if (s->invalid != NULL) {
            out->outcome = DELIVERY_INVALID_URL;
            snprintf(out->error, sizeof(out->error), "refused: the webhook URL %s", s->invalid);
        } else {
            out->outcome = delivery_classify(status, code == CURLE_OK, s->forbidden);
            if (out->outcome == DELIVERY_FORBIDDEN)
                snprintf(out->error, sizeof(out->error),
                         "refused: the target resolves to a loopback, private, link-local or otherwise "
                         "forbidden address (WEBHOOK_ALLOW_PRIVATE=false)");
            else if (status != 0)
                snprintf(out->error, sizeof(out->error), "HTTP %ld", status);
            else
                snprintf(out->error, sizeof(out->error), "%.*s", (int)sizeof(out->error) - 1,
                         s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(code));
        }
        release_slot(pool, s);
        return true;
    }
}

size_t delivery_abort_all(struct delivery_pool *pool, void **users, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < pool->capacity; i++) {
        struct slot *s = &pool->slots[i];
        if (!s->busy)
            continue;
        if (n < cap)
            users[n++] = s->user;
        release_slot(pool, s);
    }
    return n;
}
