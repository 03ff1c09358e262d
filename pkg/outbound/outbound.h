/* outbound: HTTP requests from an event-loop thread without blocking it — libcurl's multi-socket
 * interface driven by the loop's own sockets and timers (no thread per request, no blocking call).
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION): each is wrapped as
 * h2o_evloop_socket_create(dup(fd), H2O_SOCKET_FLAG_DONT_READ), so h2o only reports readiness and
 * never reads curl's bytes; curl's timer (CURLMOPT_TIMERFUNCTION) becomes an h2o timeout. curl is
 * only ever called from the loop's own callbacks, never from inside one of curl's. Name resolution
 * is curl's threaded resolver; connections and DNS results are reused across requests of a loop.
 *
 * Each transfer has an overall deadline, a bound on the bytes kept, and may stream its body (for
 * Server-Sent Events) instead of buffering it. Cancelling is immediate and the completion callback
 * then never runs. One instance per event loop, bounded in transfers; usable by any module that
 * talks HTTP to the outside (the assistant's provider calls today, webhook deliveries possibly). */
#ifndef BOLLARD_OUTBOUND_H
#define BOLLARD_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>

#define OUTBOUND_ERROR_MAX 200

enum outbound_status {
    OUTBOUND_OK = 0,         /* a response arrived (any HTTP status) */
    OUTBOUND_TIMEOUT,        /* the transfer's deadline passed */
    OUTBOUND_CONNECT_FAILED, /* name not resolved or nobody listening */
    OUTBOUND_FAILED,         /* anything else on the wire (reset, truncated body, TLS) */
    OUTBOUND_TOO_LARGE,      /* the response passed max_response_bytes */
    OUTBOUND_ABORTED,        /* the streaming callback asked to stop */
};

struct outbound_response {
    enum outbound_status status;
    long http_status; /* 0 when none was received */
    const char *body; /* buffered bytes (every response in buffered mode; error statuses in
                       * streaming mode); valid during the callback only */
    size_t body_len;
    long retry_after_ms;            /* from retry-after-ms or retry-after (seconds); -1 when absent */
    char error[OUTBOUND_ERROR_MAX]; /* one line for logs, never a header value */
};

/* Streaming mode: called with each piece of a 2xx response's body as it arrives. Return false to
 * abort the transfer (it completes with OUTBOUND_ABORTED). Runs inside curl: it must not call any
 * outbound_* function. */
typedef bool (*outbound_data_fn)(void *arg, const char *data, size_t len);
/* Called once when the transfer ends (not after outbound_cancel). May start or cancel transfers. */
typedef void (*outbound_done_fn)(void *arg, const struct outbound_response *response);

struct outbound_request {
    const char *url;            /* http:// or https:// only; redirects are not followed */
    const char *const *headers; /* "Name: value" lines, copied */
    size_t n_headers;
    const char *body; /* POST body when non-NULL (copied); GET otherwise */
    size_t body_len;
    int timeout_ms;            /* whole transfer, connect included */
    size_t max_response_bytes; /* bytes buffered at most (streaming: of an error body) */
    outbound_data_fn on_data;  /* NULL: buffer the body */
    outbound_done_fn on_done;
    void *arg;
};

struct outbound;
struct outbound_transfer;

/* max_transfers: in flight at once on this loop. NULL when curl cannot be set up. curl_global_init
 * must have run (before any thread started). */
struct outbound *outbound_create(h2o_evloop_t *loop, int max_transfers);
/* Ends every transfer still running without calling back. */
void outbound_destroy(struct outbound *ob);

/* NULL when the loop already runs max_transfers (*busy = true) or the request cannot be made
 * (*busy = false; why says what). The callback has not run then. */
struct outbound_transfer *outbound_start(struct outbound *ob, const struct outbound_request *req, bool *busy,
                                         char *why, size_t cap);
/* Stops a running transfer at once; its callback will not run. */
void outbound_cancel(struct outbound_transfer *t);
size_t outbound_inflight(const struct outbound *ob);

#endif
