/* pkg/outbound: libcurl multi-socket on an h2o event loop (see outbound.h). */
#include "outbound/outbound.h"
#include "base/base.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

/* h2o 2.2.5 timeouts have a fixed duration each; curl asks for any delay. A ladder of fixed ones
 * reaches any due time in a few hops (each hop takes the longest step not past it). */
static const uint64_t timer_steps_ms[] = {0, 1, 4, 16, 64, 256, 1024};
#define N_STEPS           (sizeof(timer_steps_ms) / sizeof(timer_steps_ms[0]))
#define CONNECT_MAX_MS    10000
#define RETRY_AFTER_MAX_S 3600

struct ob_sock {
    struct outbound *ob;
    curl_socket_t fd; /* curl's; sock wraps a dup() of it */
    h2o_socket_t *sock;
    int what; /* CURL_POLL_IN / OUT / INOUT */
    bool write_armed;
    bool rearm_queued;           /* on ob->rearm: its one-shot write notice fired */
    struct ob_sock *prev, *next; /* ob->socks, for outbound_destroy */
    struct ob_sock *rearm_next;  /* ob->rearm */
};

struct outbound_transfer {
    struct outbound *ob;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *buf;
    size_t len, cap, max;
    long http_status;
    long retry_after_ms;
    bool streaming, too_large, aborted, cancelled;
    outbound_data_fn on_data;
    outbound_done_fn on_done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    struct outbound_transfer *prev, *next;
};

struct outbound {
    h2o_evloop_t *loop;
    CURLM *multi;
    int max_transfers;
    size_t active;
    struct ob_sock *socks;
    /* Sockets whose write notice fired during this drive(): the only ones whose h2o interest can be
     * stale afterwards (curl reports every other change through the socket callback), so drive()
     * re-applies these instead of walking every socket. With 500 transfers held, that walk and a
     * linear lookup in the socket callback were the largest user-space costs in a profile. */
    struct ob_sock *rearm;
    struct outbound_transfer *transfers;
    h2o_timeout_t steps[N_STEPS];
    h2o_timeout_entry_t timer;
    uint64_t due_ms;
    bool timer_wanted;
    int in_curl; /* >0 while curl runs (its callbacks may be on the stack) */
    /* transfers cancelled while curl ran: removed from the multi on the next loop turn */
    h2o_timeout_entry_t reaper;
};

static void drive(struct outbound *ob, curl_socket_t fd, int events);

/* ---- timers ---- */

static void arm_timer(struct outbound *ob)
{
    if (h2o_timeout_is_linked(&ob->timer))
        h2o_timeout_unlink(&ob->timer);
    if (!ob->timer_wanted)
        return;
    uint64_t now = h2o_now(ob->loop);
    uint64_t left = ob->due_ms > now ? ob->due_ms - now : 0;
    size_t i = N_STEPS - 1;
    while (i > 0 && timer_steps_ms[i] > left)
        i--;
    h2o_timeout_link(ob->loop, &ob->steps[i], &ob->timer);
}

static void on_timer(h2o_timeout_entry_t *entry)
{
    struct outbound *ob = H2O_STRUCT_FROM_MEMBER(struct outbound, timer, entry);
    if (h2o_now(ob->loop) < ob->due_ms) {
        arm_timer(ob);
        return;
    }
    ob->timer_wanted = false;
    drive(ob, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: only records the wish; curl is called from on_timer. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct outbound *ob = userp;
    if (timeout_ms < 0) {
        ob->timer_wanted = false;
    } else {
        ob->timer_wanted = true;
        ob->due_ms = h2o_now(ob->loop) + (uint64_t)timeout_ms;
    }
    arm_timer(ob);
    return 0;
}

/* ---- sockets ---- */

static void on_sock_readable(h2o_socket_t *sock, const char *err)
{
    struct ob_sock *s = sock->data;
    struct outbound *ob = s->ob;
    drive(ob, s->fd, err != NULL ? CURL_CSELECT_ERR : CURL_CSELECT_IN); /* s may be gone after this */
}

static void on_sock_writable(h2o_socket_t *sock, const char *err)
{
    struct ob_sock *s = sock->data;
    struct outbound *ob = s->ob;
    s->write_armed = false;
    if (!s->rearm_queued) {
        s->rearm_queued = true;
        s->rearm_next = ob->rearm;
        ob->rearm = s;
    }
    drive(ob, s->fd, err != NULL ? CURL_CSELECT_ERR : CURL_CSELECT_OUT); /* s may be gone after this */
}

static void rearm_unlink(struct outbound *ob, struct ob_sock *s)
{
    if (!s->rearm_queued)
        return;
    /* the list holds the sockets of one drive() call: one or two */
    for (struct ob_sock **p = &ob->rearm; *p != NULL; p = &(*p)->rearm_next) {
        if (*p == s) {
            *p = s->rearm_next;
            break;
        }
    }
    s->rearm_queued = false;
}

static void sock_unlink(struct outbound *ob, struct ob_sock *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        ob->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    rearm_unlink(ob, s);
}

static void sock_apply(struct ob_sock *s)
{
    bool want_in = s->what == CURL_POLL_IN || s->what == CURL_POLL_INOUT;
    bool want_out = s->what == CURL_POLL_OUT || s->what == CURL_POLL_INOUT;
    if (want_in && !h2o_socket_is_reading(s->sock))
        h2o_socket_read_start(s->sock, on_sock_readable);
    else if (!want_in && h2o_socket_is_reading(s->sock))
        h2o_socket_read_stop(s->sock);
    /* notify_write is one-shot: re-armed after each event while curl still wants to write */
    if (want_out && !s->write_armed) {
        s->write_armed = true;
        h2o_socket_notify_write(s->sock, on_sock_writable);
    }
}

/* CURLMOPT_SOCKETFUNCTION: mirrors curl's interest onto an h2o socket; never calls curl. */
static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct outbound *ob = userp;
    struct ob_sock *s = socketp; /* ours, given to curl by curl_multi_assign: no lookup */
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            sock_unlink(ob, s);
            h2o_socket_read_stop(s->sock);
            h2o_socket_close(s->sock); /* closes our dup(); curl closes its own fd */
            free(s);
        }
        return 0;
    }
    if (s == NULL) {
        int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dupfd < 0)
            return -1;
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            close(dupfd);
            return -1;
        }
        s->ob = ob;
        s->fd = fd;
        s->sock = h2o_evloop_socket_create(ob->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
        if (s->sock == NULL) {
            close(dupfd);
            free(s);
            return -1;
        }
        s->sock->data = s;
        if (curl_multi_assign(ob->multi, fd, s) != CURLM_OK) {
            h2o_socket_close(s->sock);
            free(s);
            return -1;
        }
        s->next = ob->socks;
        if (ob->socks != NULL)
            ob->socks->prev = s;
        ob->socks = s;
    }
    s->what = what;
    sock_apply(s);
    return 0;
}

/* ---- transfers ---- */

static void transfer_unlink(struct outbound_transfer *t)
{
    struct outbound *ob = t->ob;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        ob->transfers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void transfer_free(struct outbound_transfer *t)
{
    struct outbound *ob = t->ob;
    if (t->easy != NULL) {
        curl_multi_remove_handle(ob->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t->buf);
    free(t);
}

static bool buffer_append(struct outbound_transfer *t, const char *data, size_t n)
{
    if (t->len + n > t->max) {
        t->too_large = true;
        return false;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap == 0 ? 4096 : t->cap;
        while (cap < t->len + n + 1)
            cap *= 2;
        if (cap > t->max + 1)
            cap = t->max + 1;
        char *p = realloc(t->buf, cap);
        if (p == NULL)
            return false;
        t->buf = p;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return true;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct outbound_transfer *t = userp;
    size_t n = size * nmemb;
    if (t->cancelled)
        return 0;
    if (t->streaming && t->http_status >= 200 && t->http_status < 300) {
        if (!t->on_data(t->arg, data, n)) {
            t->aborted = true;
            return 0;
        }
        return n;
    }
    return buffer_append(t, data, n) ? n : 0;
}

static long parse_long_prefix(const char *p, const char *end)
{
    long v = 0;
    bool any = false;
    while (p < end && isdigit((unsigned char)*p) && v < 100000000) {
        v = v * 10 + (*p++ - '0');
        any = true;
    }
    return any ? v : -1;
}

/* Status lines (a new one per response: 100 Continue, then the real one) and the retry hints. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    struct outbound_transfer *t = userp;
    size_t n = size * nmemb;
    const char *end = line + n;
    if (n > 5 && memcmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', n);
        t->http_status = sp != NULL ? parse_long_prefix(sp + 1, end) : 0;
        t->retry_after_ms = -1;
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < end && *v == ' ')
        v++;
    if (name_len == 14 && strncasecmp(line, "retry-after-ms", 14) == 0) {
        long ms = parse_long_prefix(v, end);
        if (ms >= 0)
            t->retry_after_ms = ms > RETRY_AFTER_MAX_S * 1000L ? RETRY_AFTER_MAX_S * 1000L : ms;
    } else if (name_len == 11 && strncasecmp(line, "retry-after", 11) == 0 && t->retry_after_ms < 0) {
        long s = parse_long_prefix(v, end); /* an HTTP-date is not parsed: the caller's default applies */
        if (s >= 0)
            t->retry_after_ms = (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000L;
    }
    return n;
}

static void finish(struct outbound_transfer *t, CURLcode code)
{
    struct outbound_response r = {.http_status = t->http_status,
                                  .body = t->buf != NULL ? t->buf : "",
                                  .body_len = t->len,
                                  .retry_after_ms = t->retry_after_ms};
    if (code == CURLE_OK) {
        r.status = OUTBOUND_OK;
    } else if (t->too_large) {
        r.status = OUTBOUND_TOO_LARGE;
        base_why(r.error, sizeof(r.error), "the response is larger than %zu bytes", t->max);
    } else if (t->aborted) {
        r.status = OUTBOUND_ABORTED;
        base_why(r.error, sizeof(r.error), "stopped by the receiver");
    } else {
        r.status = code == CURLE_OPERATION_TIMEDOUT ? OUTBOUND_TIMEOUT
                   : code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST
                       ? OUTBOUND_CONNECT_FAILED
                       : OUTBOUND_FAILED;
        base_one_line(t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code), r.error, sizeof(r.error));
    }
    transfer_unlink(t);
    t->ob->active--;
    outbound_done_fn cb = t->on_done;
    void *arg = t->arg;
    /* Freed before the callback, so a callback that starts the next transfer finds the slot free;
     * the body it reads is kept until the callback returns. */
    char *buf = t->buf;
    t->buf = NULL;
    transfer_free(t);
    cb(arg, &r);
    free(buf);
}

static void process_done(struct outbound *ob)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(ob->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct outbound_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode code = msg->data.result;
        if (t == NULL)
            continue;
        if (t->cancelled) { /* the reaper has it: it is freed there */
            continue;
        }
        finish(t, code);
    }
}

static void drive(struct outbound *ob, curl_socket_t fd, int events)
{
    int running = 0;
    ob->in_curl++;
    curl_multi_socket_action(ob->multi, fd, events, &running);
    ob->in_curl--;
    process_done(ob);
    while (ob->rearm != NULL) {
        struct ob_sock *s = ob->rearm;
        ob->rearm = s->rearm_next;
        s->rearm_queued = false;
        sock_apply(s);
    }
}

static void on_reap(h2o_timeout_entry_t *entry)
{
    struct outbound *ob = H2O_STRUCT_FROM_MEMBER(struct outbound, reaper, entry);
    struct outbound_transfer *t = ob->transfers, *next;
    for (; t != NULL; t = next) {
        next = t->next;
        if (!t->cancelled)
            continue;
        transfer_unlink(t);
        ob->active--;
        transfer_free(t);
    }
}

void outbound_cancel(struct outbound_transfer *t)
{
    if (t == NULL || t->cancelled)
        return;
    struct outbound *ob = t->ob;
    t->cancelled = true;
    if (ob->in_curl > 0) {
        /* curl may be in one of this transfer's callbacks: remove it once curl has returned */
        if (!h2o_timeout_is_linked(&ob->reaper))
            h2o_timeout_link(ob->loop, &ob->steps[0], &ob->reaper);
        return;
    }
    transfer_unlink(t);
    ob->active--;
    transfer_free(t);
}

struct outbound_transfer *outbound_start(struct outbound *ob, const struct outbound_request *req, bool *busy,
                                         char *why, size_t cap)
{
    *busy = false;
    if (ob->active >= (size_t)ob->max_transfers) {
        *busy = true;
        base_why(why, cap, "%d outbound transfers already in flight on this loop", ob->max_transfers);
        return NULL;
    }
    if (req->url == NULL || (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)) {
        base_why(why, cap, "only http:// and https:// URLs");
        return NULL;
    }
    struct outbound_transfer *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        base_why(why, cap, "out of memory");
        return NULL;
    }
    t->ob = ob;
    t->max = req->max_response_bytes;
    t->retry_after_ms = -1;
    t->streaming = req->on_data != NULL;
    t->on_data = req->on_data;
    t->on_done = req->on_done;
    t->arg = req->arg;
    t->easy = curl_easy_init();
    if (t->easy == NULL)
        goto oom;
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *l = curl_slist_append(t->headers, req->headers[i]);
        if (l == NULL)
            goto oom;
        t->headers = l;
    }
    /* curl adds "Expect: 100-continue" to larger POSTs; providers answer at once anyway. */
    struct curl_slist *l = curl_slist_append(t->headers, "Expect:");
    if (l == NULL)
        goto oom;
    t->headers = l;
    if (req->body != NULL) {
        t->body = base_memdup(req->body, req->body_len);
        if (t->body == NULL)
            goto oom;
    }
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 1;
    CURL *e = t->easy;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                               timeout < CONNECT_MAX_MS ? timeout : CONNECT_MAX_MS) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEDATA, t) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_HEADERDATA, t) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PRIVATE, t) == CURLE_OK;
    if (ok && t->body != NULL)
        ok = curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) == CURLE_OK;
    if (!ok) {
        base_why(why, cap, "cannot set up the transfer");
        goto fail;
    }
    if (curl_multi_add_handle(ob->multi, e) != CURLM_OK) {
        base_why(why, cap, "cannot add the transfer");
        goto fail;
    }
    t->next = ob->transfers;
    if (ob->transfers != NULL)
        ob->transfers->prev = t;
    ob->transfers = t;
    ob->active++;
    return t;
oom:
    base_why(why, cap, "out of memory");
fail:
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
    return NULL;
}

size_t outbound_inflight(const struct outbound *ob)
{
    return ob->active;
}

struct outbound *outbound_create(h2o_evloop_t *loop, int max_transfers)
{
    struct outbound *ob = calloc(1, sizeof(*ob));
    if (ob == NULL)
        return NULL;
    ob->loop = loop;
    ob->max_transfers = max_transfers > 0 ? max_transfers : 1;
    ob->multi = curl_multi_init();
    if (ob->multi == NULL) {
        free(ob);
        return NULL;
    }
    for (size_t i = 0; i < N_STEPS; i++)
        h2o_timeout_init(loop, &ob->steps[i], timer_steps_ms[i]);
    ob->timer.cb = on_timer;
    ob->reaper.cb = on_reap;
    bool ok = curl_multi_setopt(ob->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) == CURLM_OK &&
              curl_multi_setopt(ob->multi, CURLMOPT_SOCKETDATA, ob) == CURLM_OK &&
              curl_multi_setopt(ob->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) == CURLM_OK &&
              curl_multi_setopt(ob->multi, CURLMOPT_TIMERDATA, ob) == CURLM_OK;
    /* Connections kept for reuse: as many as transfers may be in flight. Fewer, and every completion
     * beyond the cache's size costs a new TCP connection (and with TLS a handshake) on the event loop:
     * 500 chats held open once opened 4,905 provider connections for 4,884 completions with a cap of
     * 64. An idle connection only ever replaces an active one, so the loop's descriptors stay bounded
     * by max_transfers either way. */
    ok = ok && curl_multi_setopt(ob->multi, CURLMOPT_MAXCONNECTS, (long)ob->max_transfers) == CURLM_OK;
    if (!ok) {
        outbound_destroy(ob);
        return NULL;
    }
    return ob;
}

void outbound_destroy(struct outbound *ob)
{
    if (ob == NULL)
        return;
    while (ob->transfers != NULL) {
        struct outbound_transfer *t = ob->transfers;
        transfer_unlink(t);
        transfer_free(t);
    }
    if (h2o_timeout_is_linked(&ob->timer))
        h2o_timeout_unlink(&ob->timer);
    if (h2o_timeout_is_linked(&ob->reaper))
        h2o_timeout_unlink(&ob->reaper);
    curl_multi_cleanup(ob->multi); /* closes curl's sockets through the socket callback */
    while (ob->socks != NULL) {
        struct ob_sock *s = ob->socks;
        ob->socks = s->next;
        h2o_socket_close(s->sock);
        free(s);
    }
    for (size_t i = 0; i < N_STEPS; i++)
        h2o_timeout_dispose(ob->loop, &ob->steps[i]);
    free(ob);
}
