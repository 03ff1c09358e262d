#include "redisconn/redisconn.h"
#include "base/base.h"
#include "log/log.h"
#include "rediscluster/rediscluster.h"
#include "redistls/redistls.h"
#include "url/url.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#define TICK_MS        25
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define REASON_MAX     200

enum rc_state { RC_DOWN, RC_RESOLVING, RC_CONNECTING, RC_HANDSHAKE, RC_SETUP, RC_READY };

struct redis_pending {
    redisconn_reply_cb cb; /* NULL once cancelled */
    void *arg;
    uint64_t deadline;
    const char *setup; /* AUTH/SELECT of the connection itself: its name; NULL for a caller's command */
    bool last_setup;
    bool slot_map; /* the CLUSTER SLOTS of the set-up */
    char *cmd;     /* a caller's command, encoded: sent again when redirected (MOVED/ASK) */
    size_t cmd_len;
    int redirects; /* followed so far (at most REDISCLUSTER_REDIRECTS_MAX) */
    bool asking;   /* the last redirect was an ASK: ASKING goes first */
    h2o_linklist_t link;
};

struct redisconn {
    h2o_evloop_t *loop;
    h2o_multithread_receiver_t *resolver;
    struct url_redis url;
    struct rediscluster cluster; /* the node connected to (its target), the nodes known */
    int timeout_ms;
    SSL_CTX *ssl_ctx;    /* rediss:// only */
    bool cert_requested; /* the server asked for a client certificate (none set): see pkg/redistls */
    enum rc_state state;
    h2o_socket_t *sock;
    redisReader *reader;
    struct base_buf out;      /* appended, not yet written */
    struct base_buf inflight; /* being written (h2o keeps pointing at it until the callback) */
    bool writing;
    uint64_t generation; /* changes when a connection ends: callbacks check it */
    h2o_hostinfo_getaddr_req_t *resolve_req;
    uint64_t connect_deadline;
    uint64_t retry_at;
    int backoff_ms;
    bool ever_failed;
    h2o_linklist_t pending; /* in send order; deadlines are therefore ascending */
    /* Redirected commands (and those that came meanwhile), sent once connected to the node named. */
    h2o_linklist_t resend;
    bool redirecting; /* commands wait in `resend` for a reconnection to redirect_to */
    struct rediscluster_node redirect_to;
    bool pinned;                      /* this connection follows an ASK: no slot-map hop in its set-up */
    bool hopping;                     /* rc_fail for a planned reconnection: no backoff, nothing failed */
    bool refresh;                     /* a retryable cluster state: read the slot map again once idle */
    char refresh_why[REASON_MAX / 2]; /* that state's reply ("CLUSTERDOWN The cluster is down") */
    int hops;                         /* planned reconnections since the last ready connection */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    bool destroying;
    char last_error[REASON_MAX];
};

static void rc_arm_tick(struct redisconn *rc);
static void rc_connect(struct redisconn *rc);

static void pending_free(struct redis_pending *p)
{
    if (p->cmd != NULL) {
        OPENSSL_cleanse(p->cmd, p->cmd_len);
        free(p->cmd);
    }
    free(p);
}

static void fail_list(h2o_linklist_t *list, const char *err)
{
    while (!h2o_linklist_is_empty(list)) {
        struct redis_pending *p = H2O_STRUCT_FROM_MEMBER(struct redis_pending, link, list->next);
        h2o_linklist_unlink(&p->link);
        if (p->cb != NULL)
            p->cb(p->arg, NULL, err); /* cannot send again: the state is RC_DOWN */
        pending_free(p);
    }
}

static uint64_t now_ms(struct redisconn *rc)
{
    return h2o_now(rc->loop);
}

/* ---- connection life cycle ---- */

/* Ends the connection (if any) with `why`: every outstanding command's callback runs with NULL. */
static void rc_fail(struct redisconn *rc, const char *why)
{
    bool was_ready = rc->state == RC_READY;
    rc->state = RC_DOWN;
    rc->generation++;
    if (rc->resolve_req != NULL) {
        h2o_hostinfo_getaddr_cancel(rc->resolve_req);
        rc->resolve_req = NULL;
    }
    if (rc->sock != NULL) {
        h2o_socket_t *sock = rc->sock;
        rc->sock = NULL;
        sock->data = NULL;
        h2o_socket_close(sock);
    }
    if (rc->reader != NULL) {
        redisReaderFree(rc->reader);
        rc->reader = NULL;
    }
    base_buf_free(&rc->out);
    base_buf_free(&rc->inflight);
    rc->writing = false;
    snprintf(rc->last_error, sizeof(rc->last_error), "%s", why);
    char err[REASON_MAX + 32];
    snprintf(err, sizeof(err), "redis connection lost: %s", why);
    bool hop = rc->hopping && !rc->destroying;
    rc->hopping = false;
    rc->refresh = false;
    if (hop) {
        /* A planned move to another node (slot map, MOVED, ASK): only set-up entries are pending
         * (redirected commands wait in `resend`); connect again at once. */
        fail_list(&rc->pending, err);
        rc->hops++;
        rc->retry_at = now_ms(rc);
        rc_arm_tick(rc);
        return;
    }
    fail_list(&rc->pending, err);
    rc->redirecting = false;
    rc->pinned = false;
    fail_list(&rc->resend, err);
    if (rc->destroying)
        return;
    rediscluster_next(&rc->cluster); /* a failover: another node knows the new master */
    rc->hops = 0;
    uint64_t jitter = (uint64_t)(rand() % (rc->backoff_ms / 2 + 1));
    rc->retry_at = now_ms(rc) + (uint64_t)rc->backoff_ms / 2 + jitter;
    rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
    if (was_ready || !rc->ever_failed)
        log_write(LOG_WARN, NULL, "redis unreachable; retrying with backoff",
                  json_pack("{s:s,s:s,s:i}", "error", why, "host", rediscluster_target(&rc->cluster)->host,
                            "port", rediscluster_target(&rc->cluster)->port));
    rc->ever_failed = true;
    rc_arm_tick(rc);
}

static void on_write(h2o_socket_t *sock, const char *err);

static void rc_flush(struct redisconn *rc)
{
    if (rc->writing || rc->out.len == 0 || rc->sock == NULL)
        return;
    struct base_buf tmp = rc->inflight;
    rc->inflight = rc->out;
    rc->out = tmp;
    rc->out.len = 0;
    rc->writing = true;
    h2o_iovec_t iov = h2o_iovec_init(rc->inflight.bytes, rc->inflight.len);
    h2o_socket_write(rc->sock, &iov, 1, on_write);
}

static void on_write(h2o_socket_t *sock, const char *err)
{
    struct redisconn *rc = sock->data;
    if (rc == NULL)
        return;
    rc->writing = false;
    base_buf_reset(&rc->inflight);
    if (err != NULL) {
        char reason[REASON_MAX / 2], why[REASON_MAX];
        if (rc->url.tls)
            redistls_reason(NULL, err, reason, sizeof(reason));
        else
            base_why(reason, sizeof(reason), "%s", err);
        base_why(why, sizeof(why), "%s%s", reason, redistls_cert_hint(rc->cert_requested));
        rc_fail(rc, why);
        return;
    }
    rc_flush(rc);
}

/* Sends an entry's kept command (a caller's) and makes it pending. */
static bool rc_send_kept(struct redisconn *rc, struct redis_pending *p)
{
    if (!base_buf_append(&rc->out, p->cmd, p->cmd_len))
        return false;
    p->deadline = now_ms(rc) + (uint64_t)rc->timeout_ms;
    h2o_linklist_insert(&rc->pending, &p->link);
    rc_flush(rc);
    return true;
}

/* Appends one command and its pending entry (in the same order: replies come back in it). `keep`: a
 * caller's command, kept encoded for a redirect; with `hold` it is not sent but returned unlinked. */
static struct redis_pending *rc_send(struct redisconn *rc, int argc, const char **argv, const size_t *argvlen,
                                     bool keep, bool hold)
{
    struct redis_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    bool ok = len >= 0;
    if (ok && keep) {
        p->cmd = malloc((size_t)len);
        p->cmd_len = (size_t)len;
        ok = p->cmd != NULL;
        if (ok)
            memcpy(p->cmd, cmd, (size_t)len);
    }
    if (ok && !hold)
        ok = base_buf_append(&rc->out, cmd, (size_t)len);
    if (len > 0)
        OPENSSL_cleanse(cmd, (size_t)len);
    if (len >= 0)
        redisFreeCommand(cmd);
    if (!ok) {
        pending_free(p);
        return NULL;
    }
    if (hold)
        return p;
    p->deadline = now_ms(rc) + (uint64_t)rc->timeout_ms;
    h2o_linklist_insert(&rc->pending, &p->link);
    rc_flush(rc);
    return p;
}

static void rc_became_ready(struct redisconn *rc)
{
    const struct rediscluster_node *node = rediscluster_target(&rc->cluster);
    if (rc->ever_failed)
        log_write(LOG_INFO, NULL, "redis reachable again",
                  json_pack("{s:s,s:i,s:b}", "host", node->host, "port", node->port, "tls", rc->url.tls));
    rc->state = RC_READY;
    rc->backoff_ms = BACKOFF_MIN_MS;
    rc->last_error[0] = '\0';
    rc->hops = 0;
    rc->redirecting = false;
    /* Redirected commands, in their order, ASKING before those an ASK sent here. */
    while (!h2o_linklist_is_empty(&rc->resend)) {
        struct redis_pending *p = H2O_STRUCT_FROM_MEMBER(struct redis_pending, link, rc->resend.next);
        h2o_linklist_unlink(&p->link);
        if (p->cb == NULL) {
            pending_free(p);
            continue;
        }
        static const char *const asking[] = {"ASKING"};
        struct redis_pending *a = NULL;
        if (p->asking && (a = rc_send(rc, 1, (const char **)asking, NULL, false, false)) != NULL)
            a->setup = "ASKING";
        if ((p->asking && a == NULL) || !rc_send_kept(rc, p)) {
            p->cb(p->arg, NULL, "redis: out of memory");
            pending_free(p);
        }
    }
}

/* Moves the connection to another node at once (planned: nothing fails, no backoff). */
static void rc_hop(struct redisconn *rc, const char *why)
{
    if (rc->hops >= REDISCLUSTER_HOPS_MAX) {
        char reason[REASON_MAX];
        base_why(reason, sizeof(reason), "%s (%d moves in a row)", why, rc->hops);
        rc_fail(rc, reason);
        return;
    }
    rc->hopping = true;
    rc_fail(rc, why);
}

/* The pipeline is read: reconnect for the redirected commands, or to read the slot map again. */
static void rc_when_idle(struct redisconn *rc)
{
    if (!h2o_linklist_is_empty(&rc->pending) || rc->state != RC_READY)
        return;
    if (rc->redirecting) {
        (void)rediscluster_retarget(&rc->cluster, rc->redirect_to.host, rc->redirect_to.port);
        rc_hop(rc, "redirected");
    } else if (rc->refresh) {
        char why[REASON_MAX];
        base_why(why, sizeof(why), "%s (reading the slot map again)", rc->refresh_why);
        rc_fail(rc, why);
    }
}

/* One reply, for the oldest pending entry. */
static void rc_dispatch(struct redisconn *rc, redisReply *reply)
{
    if (h2o_linklist_is_empty(&rc->pending)) {
        freeReplyObject(reply);
        rc_fail(rc, "a reply nobody asked for");
        return;
    }
    struct redis_pending *p = H2O_STRUCT_FROM_MEMBER(struct redis_pending, link, rc->pending.next);
    h2o_linklist_unlink(&p->link);
    if (p->slot_map) {
        int moved = rediscluster_apply_slots(&rc->cluster, reply); /* an error: standalone */
        pending_free(p);
        freeReplyObject(reply);
        if (moved < 0)
            rc_fail(rc, "CLUSTERDOWN: no master serves the slot of " REDISCLUSTER_TAG);
        else if (moved > 0)
            rc_hop(rc, "the slot map names another master");
        return;
    }
    if (p->setup != NULL) {
        if (reply->type == REDIS_REPLY_ERROR) {
            char line[REASON_MAX / 2], why[REASON_MAX];
            base_one_line(reply->str, line, sizeof(line)); /* Redis names the problem, never the password */
            base_why(why, sizeof(why), "%s refused: %s", p->setup, line);
            pending_free(p);
            freeReplyObject(reply);
            rc_fail(rc, why);
            return;
        }
        if (p->last_setup)
            rc_became_ready(rc);
        pending_free(p);
        freeReplyObject(reply);
        return;
    }
    struct rediscluster_node to;
    enum rediscluster_redirect kind = rediscluster_redirect_parse(reply, &to);
    if (kind != REDISCLUSTER_NONE && p->cb != NULL && p->redirects < REDISCLUSTER_REDIRECTS_MAX) {
        /* Sent again to the node named once every reply before it is read (the slot of all our keys
         * is the same: those sent after it come back redirected too). */
        rc->cluster.enabled = true;
        p->redirects++;
        p->asking = kind == REDISCLUSTER_ASK;
        if (!rc->redirecting) {
            rc->redirecting = true;
            rc->redirect_to = to;
            rc->pinned = kind == REDISCLUSTER_ASK;
        }
        h2o_linklist_insert(&rc->resend, &p->link);
        freeReplyObject(reply);
        rc_when_idle(rc);
        return;
    }
    if (rc->cluster.enabled && rediscluster_retryable(reply)) {
        rc->refresh = true;
        base_one_line(reply->str, rc->refresh_why, sizeof(rc->refresh_why));
    }
    if (p->cb != NULL)
        p->cb(p->arg, reply, NULL);
    pending_free(p);
    freeReplyObject(reply);
    rc_when_idle(rc);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct redisconn *rc = sock->data;
    if (rc == NULL)
        return;
    if (err != NULL) {
        char reason[REASON_MAX / 2], why[REASON_MAX];
        if (rc->url.tls)
            redistls_reason(NULL, err, reason,
                            sizeof(reason)); /* e.g. the server's alert after the handshake */
        else
            base_why(reason, sizeof(reason), "%s", err);
        base_why(why, sizeof(why), "%s%s", reason, redistls_cert_hint(rc->cert_requested));
        rc_fail(rc, why);
        return;
    }
    if (sock->input->size > 0) {
        if (redisReaderFeed(rc->reader, sock->input->bytes, sock->input->size) != REDIS_OK) {
            rc_fail(rc, "out of memory");
            return;
        }
        h2o_buffer_consume(&sock->input, sock->input->size);
    }
    uint64_t generation = rc->generation;
    while (rc->generation == generation && rc->reader != NULL) {
        void *reply = NULL;
        if (redisReaderGetReply(rc->reader, &reply) != REDIS_OK) {
            char why[REASON_MAX];
            base_why(why, sizeof(why), "protocol error: %s", rc->reader->errstr);
            rc_fail(rc, why);
            return;
        }
        if (reply == NULL)
            break;
        rc_dispatch(rc, reply);
    }
    if (rc->generation == generation)
        rc_arm_tick(rc);
}

/* Connected (and, for rediss://, the handshake done): AUTH, SELECT and a PING, then ready. */
static void rc_begin_session(struct redisconn *rc)
{
    rc->reader = redisReaderCreate();
    if (rc->reader == NULL) {
        rc_fail(rc, "out of memory");
        return;
    }
    rc->state = RC_SETUP;
    h2o_socket_read_start(rc->sock, on_read);
    struct redis_pending *last = NULL;
    if (rc->url.password[0] != '\0') {
        const char *argv[3] = {"AUTH", rc->url.user[0] != '\0' ? rc->url.user : rc->url.password,
                               rc->url.password};
        if ((last = rc_send(rc, rc->url.user[0] != '\0' ? 3 : 2, argv, NULL, false, false)) == NULL) {
            rc_fail(rc, "out of memory");
            return;
        }
        last->setup = "AUTH";
    }
    if (rc->url.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rc->url.db);
        const char *argv[2] = {"SELECT", db};
        if ((last = rc_send(rc, 2, argv, NULL, false, false)) == NULL) {
            rc_fail(rc, "out of memory");
            return;
        }
        last->setup = "SELECT";
    }
    /* A PING last: ready means the server answered on this connection (a TLS 1.3 server refuses a
     * missing client certificate only after the client's handshake is done). */
    if (!rc->pinned) {
        /* The slot map: a server without cluster support answers with an error (standalone). */
        struct redis_pending *map =
            rc_send(rc, 2, (const char **)rediscluster_slots_argv, NULL, false, false);
        if (map == NULL) {
            rc_fail(rc, "out of memory");
            return;
        }
        map->setup = "CLUSTER SLOTS";
        map->slot_map = true;
    }
    static const char *const ping[] = {"PING"};
    if ((last = rc_send(rc, 1, (const char **)ping, NULL, false, false)) == NULL) {
        rc_fail(rc, "out of memory");
        return;
    }
    last->setup = "PING";
    last->last_setup = true;
}

/* h2o's own host name check after the handshake (DNS names only, and skipped whenever the last flight
 * leaves data to send, as TLS 1.3's does) is not the one relied on: OpenSSL has already checked the
 * name or address (X509_VERIFY_PARAM, pkg/redistls) with the chain, or verification is off (dev). */
static bool h2o_post_handshake_check(const char *err)
{
    return err == h2o_socket_error_ssl_cert_name_mismatch || err == h2o_socket_error_ssl_cert_invalid ||
           err == h2o_socket_error_ssl_no_cert;
}

/* h2o reports a failed verification with X509_verify_cert_error_string()'s text, and everything
 * else with its own fixed texts. */
static bool is_verify_error(const char *err)
{
    if (err == h2o_socket_error_io || err == h2o_socket_error_closed || err == h2o_socket_error_conn_fail ||
        err == h2o_socket_error_out_of_memory || err == h2o_socket_error_ssl_decode)
        return false;
    return strcmp(err, "ssl handshake failure") != 0 && strcmp(err, "picotls handshake error") != 0;
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    struct redisconn *rc = sock->data;
    if (rc == NULL)
        return;
    if (err != NULL && !h2o_post_handshake_check(err)) {
        char reason[REASON_MAX / 2], why[REASON_MAX];
        if (is_verify_error(err)) {
            ERR_clear_error();
            base_why(reason, sizeof(reason), "certificate verify failed: %s", err);
        } else {
            redistls_reason(NULL, err, reason, sizeof(reason));
        }
        base_why(why, sizeof(why), "TLS handshake failed: %s", reason);
        rc_fail(rc, why);
        return;
    }
    rc_begin_session(rc);
}

static void on_connected(h2o_socket_t *sock, const char *err)
{
    struct redisconn *rc = sock->data;
    if (rc == NULL)
        return;
    if (err != NULL) {
        char why[REASON_MAX];
        base_why(why, sizeof(why), "cannot connect to %s:%d: %s", rediscluster_target(&rc->cluster)->host,
                 rediscluster_target(&rc->cluster)->port, err);
        rc_fail(rc, why);
        return;
    }
    if (!rc->url.tls) {
        rc_begin_session(rc);
        return;
    }
    rc->state = RC_HANDSHAKE;
    rc->cert_requested = false;
    ERR_clear_error();
    /* Client mode needs a server name: it is also sent as SNI (an address as well, which servers
     * ignore). The certificate check is OpenSSL's (see h2o_post_handshake_check). */
    const char *host = rediscluster_target(&rc->cluster)->host;
    if (!redistls_ctx_expect_host(rc->ssl_ctx, host)) {
        ERR_clear_error();
        rc_fail(rc, "TLS: cannot set the expected certificate name");
        return;
    }
    h2o_socket_ssl_handshake(sock, rc->ssl_ctx, host, on_handshake);
}

static void rc_start_connect(struct redisconn *rc, struct sockaddr *addr, socklen_t len)
{
    rc->state = RC_CONNECTING;
    h2o_socket_t *sock = h2o_socket_connect(rc->loop, addr, len, on_connected);
    if (sock == NULL) {
        char why[REASON_MAX];
        base_why(why, sizeof(why), "cannot connect to %s:%d", rediscluster_target(&rc->cluster)->host,
                 rediscluster_target(&rc->cluster)->port);
        rc_fail(rc, why);
        return;
    }
    sock->data = rc;
    rc->sock = sock;
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    (void)req;
    struct redisconn *rc = data;
    rc->resolve_req = NULL;
    if (errstr != NULL || res == NULL) {
        char why[REASON_MAX];
        base_why(why, sizeof(why), "cannot resolve %s: %s", rediscluster_target(&rc->cluster)->host,
                 errstr != NULL ? errstr : "no address");
        rc_fail(rc, why);
        return;
    }
    rc_start_connect(rc, res->ai_addr, res->ai_addrlen);
}

static void rc_connect(struct redisconn *rc)
{
    rc->connect_deadline = now_ms(rc) + (uint64_t)rc->timeout_ms;
    rc_arm_tick(rc);
    char port[16];
    const struct rediscluster_node *node = rediscluster_target(&rc->cluster);
    snprintf(port, sizeof(port), "%d", node->port);
    if (redistls_host_is_ip(node->host)) {
        /* numeric: getaddrinfo does no lookup */
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
        struct addrinfo *res = NULL;
        if (getaddrinfo(node->host, port, &hints, &res) != 0 || res == NULL) {
            rc_fail(rc, "bad address");
            return;
        }
        rc_start_connect(rc, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        return;
    }
    rc->state = RC_RESOLVING;
    rc->resolve_req = h2o_hostinfo_getaddr(rc->resolver, h2o_iovec_init(node->host, strlen(node->host)),
                                           h2o_iovec_init(port, strlen(port)), AF_UNSPEC, SOCK_STREAM,
                                           IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, rc);
}

/* ---- commands ---- */

void *redisconn_command(struct redisconn *rc, redisconn_reply_cb cb, void *arg, int argc, const char **argv,
                        const size_t *argvlen)
{
    if (rc->destroying || (rc->state != RC_READY && !rc->redirecting))
        return NULL;
    /* While redirecting, commands wait for the new connection with those redirected. */
    struct redis_pending *p = rc_send(rc, argc, argv, argvlen, true, rc->redirecting);
    if (p == NULL)
        return NULL;
    if (rc->redirecting)
        h2o_linklist_insert(&rc->resend, &p->link);
    p->cb = cb;
    p->arg = arg;
    rc_arm_tick(rc);
    return p;
}

void redisconn_cancel(struct redisconn *rc, void *handle)
{
    (void)rc;
    struct redis_pending *p = handle;
    if (p != NULL)
        p->cb = NULL;
}

bool redisconn_is_connected(const struct redisconn *rc)
{
    return rc->state == RC_READY;
}

void redisconn_last_error(const struct redisconn *rc, char *why, size_t cap)
{
    if (rc->state == RC_READY)
        base_why(why, cap, "%s", "");
    else if (rc->last_error[0] != '\0')
        base_why(why, cap, "%s", rc->last_error);
    else
        base_why(why, cap, "%s", "connecting");
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct redisconn *rc = H2O_STRUCT_FROM_MEMBER(struct redisconn, tick_entry, entry);
    uint64_t now = now_ms(rc);
    if (rc->state != RC_READY && rc->state != RC_DOWN && now >= rc->connect_deadline) {
        static const char *const what[] = {[RC_RESOLVING] = "resolving",
                                           [RC_CONNECTING] = "connecting",
                                           [RC_HANDSHAKE] = "in the TLS handshake",
                                           [RC_SETUP] = "in AUTH/SELECT"};
        char why[REASON_MAX];
        base_why(why, sizeof(why), "connect timeout (%d ms, %s)", rc->timeout_ms, what[rc->state]);
        rc_fail(rc, why);
    } else if (rc->state == RC_READY && !h2o_linklist_is_empty(&rc->pending)) {
        struct redis_pending *oldest = H2O_STRUCT_FROM_MEMBER(struct redis_pending, link, rc->pending.next);
        /* A stuck command means a stuck connection: replies are strictly ordered. */
        if (now >= oldest->deadline)
            rc_fail(rc, "command timeout");
    } else if (rc->state == RC_DOWN && now >= rc->retry_at) {
        rc_connect(rc);
    }
    rc_arm_tick(rc);
}

static void rc_arm_tick(struct redisconn *rc)
{
    if (rc->destroying || h2o_timeout_is_linked(&rc->tick_entry))
        return;
    if (rc->state != RC_READY || !h2o_linklist_is_empty(&rc->pending))
        h2o_timeout_link(rc->loop, &rc->tick, &rc->tick_entry);
}

struct redisconn *redisconn_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                                   int timeout_ms, const struct redistls_config *tls)
{
    struct redisconn *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return NULL;
    if (!url_redis_parse(url, &rc->url))
        goto fail;
    if (rc->url.tls) {
        char why[BASE_WHY_MAX];
        rc->ssl_ctx = redistls_ctx_new(tls, rc->url.host, &rc->cert_requested, why, sizeof(why));
        if (rc->ssl_ctx == NULL) {
            log_write(LOG_ERROR, NULL, "redis TLS cannot be set up", json_pack("{s:s}", "error", why));
            goto fail;
        }
    }
    rediscluster_init(&rc->cluster, &rc->url);
    rc->loop = loop;
    rc->resolver = resolver;
    rc->timeout_ms = timeout_ms;
    rc->backoff_ms = BACKOFF_MIN_MS;
    h2o_linklist_init_anchor(&rc->pending);
    h2o_linklist_init_anchor(&rc->resend);
    h2o_timeout_init(loop, &rc->tick, TICK_MS);
    rc->tick_entry.cb = on_tick;
    rc_connect(rc);
    return rc;
fail:
    OPENSSL_cleanse(&rc->url, sizeof(rc->url));
    free(rc);
    return NULL;
}

void redisconn_destroy(struct redisconn *rc)
{
    if (rc == NULL)
        return;
    rc->destroying = true;
    rc_fail(rc, "shutting down"); /* pending callbacks run with NULL replies */
    if (h2o_timeout_is_linked(&rc->tick_entry))
        h2o_timeout_unlink(&rc->tick_entry);
    h2o_timeout_dispose(rc->loop, &rc->tick);
    SSL_CTX_free(rc->ssl_ctx);
    OPENSSL_cleanse(&rc->url, sizeof(rc->url));
    free(rc);
}
