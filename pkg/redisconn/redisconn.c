#include "redisconn/redisconn.h"
#include "log/log.h"
#include "url/url.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <async.h>
#include <openssl/crypto.h>

#define TICK_MS        25
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

enum rc_state { RC_DOWN, RC_RESOLVING, RC_CONNECTING, RC_READY };

struct redis_pending {
    struct redisconn *rc;
    redisconn_reply_cb cb; /* NULL once cancelled */
    void *arg;
    uint64_t deadline;
    h2o_linklist_t link;
};

struct rc_adapter {
    struct redisconn *rc;
    h2o_socket_t *sock;
    bool write_armed;
};

struct redisconn {
    h2o_evloop_t *loop;
    h2o_multithread_receiver_t *resolver;
    struct url_redis url;
    bool host_is_ip;
    char ip[INET6_ADDRSTRLEN];
    int timeout_ms;
    enum rc_state state;
    redisAsyncContext *ac;
    h2o_hostinfo_getaddr_req_t *resolve_req;
    uint64_t connect_deadline;
    uint64_t retry_at;
    int backoff_ms;
    bool ever_failed;
    h2o_linklist_t pending; /* in send order; deadlines are therefore ascending */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    bool destroying;
};

static void rc_arm_tick(struct redisconn *rc);
static void rc_connect(struct redisconn *rc);

/* ---- the h2o adapter for hiredis ---- */

static void adapter_on_read(h2o_socket_t *sock, const char *err)
{
    struct rc_adapter *a = sock->data;
    (void)err; /* hiredis notices the error itself when it reads */
    redisAsyncHandleRead(a->rc->ac);
}

static void adapter_on_write(h2o_socket_t *sock, const char *err)
{
    struct rc_adapter *a = sock->data;
    (void)err;
    a->write_armed = false;
    redisAsyncHandleWrite(a->rc->ac);
}

static void adapter_add_read(void *data)
{
    struct rc_adapter *a = data;
    if (!h2o_socket_is_reading(a->sock))
        h2o_socket_read_start(a->sock, adapter_on_read);
}

static void adapter_del_read(void *data)
{
    struct rc_adapter *a = data;
    if (h2o_socket_is_reading(a->sock))
        h2o_socket_read_stop(a->sock);
}

static void adapter_add_write(void *data)
{
    struct rc_adapter *a = data;
    if (!a->write_armed) {
        a->write_armed = true;
        h2o_socket_notify_write(a->sock, adapter_on_write);
    }
}

static void adapter_del_write(void *data)
{
    (void)data; /* notify_write is one-shot; a spurious wakeup is harmless to hiredis */
}

static void adapter_cleanup(void *data)
{
    struct rc_adapter *a = data;
    h2o_socket_close(a->sock); /* closes our dup(); hiredis closes its own fd */
    free(a);
}

static int adapter_attach(struct redisconn *rc, redisAsyncContext *ac)
{
    int fd = fcntl(ac->c.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct rc_adapter *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        close(fd);
        return -1;
    }
    a->rc = rc;
    a->sock = h2o_evloop_socket_create(rc->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    if (a->sock == NULL) {
        close(fd);
        free(a);
        return -1;
    }
    a->sock->data = a;
    ac->ev.data = a;
    ac->ev.addRead = adapter_add_read;
    ac->ev.delRead = adapter_del_read;
    ac->ev.addWrite = adapter_add_write;
    ac->ev.delWrite = adapter_del_write;
    ac->ev.cleanup = adapter_cleanup;
    return 0;
}

/* ---- connection life cycle ---- */

static uint64_t now_ms(struct redisconn *rc)
{
    return h2o_now(rc->loop);
}

static void rc_note_down(struct redisconn *rc, const char *why)
{
    bool was_ready = rc->state == RC_READY;
    rc->state = RC_DOWN;
    rc->ac = NULL;
    uint64_t jitter = (uint64_t)(rand() % (rc->backoff_ms / 2 + 1));
    rc->retry_at = now_ms(rc) + (uint64_t)rc->backoff_ms / 2 + jitter;
    rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
    if (!rc->destroying && (was_ready || !rc->ever_failed))
        log_printf(LOG_WARN, "redis unreachable (%s); retrying with backoff", why);
    rc->ever_failed = true;
    rc_arm_tick(rc);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redisconn *rc = ac->data;
    if (status != REDIS_OK) {
        rc_note_down(rc, ac->errstr[0] != '\0' ? ac->errstr : "connect failed"); /* hiredis frees ac */
        return;
    }
    if (rc->ever_failed)
        log_printf(LOG_INFO, "redis reachable again");
    rc->state = RC_READY;
    rc->backoff_ms = BACKOFF_MIN_MS;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redisconn *rc = ac->data;
    (void)status;
    if (rc->state != RC_DOWN)
        rc_note_down(rc, ac->errstr[0] != '\0' ? ac->errstr : "disconnected");
}

static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    const char *what = privdata;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        log_printf(LOG_ERROR, "redis %s refused: %.*s", what, (int)reply->len, reply->str);
        redisAsyncDisconnect(ac);
    }
}

static void rc_start_async(struct redisconn *rc, const char *ip)
{
    redisAsyncContext *ac = redisAsyncConnect(ip, rc->url.port);
    if (ac == NULL || ac->err) {
        rc->state = RC_CONNECTING;
        rc_note_down(rc, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return;
    }
    ac->data = rc;
    if (adapter_attach(rc, ac) != 0) {
        redisAsyncFree(ac);
        rc->state = RC_CONNECTING;
        rc_note_down(rc, "adapter");
        return;
    }
    rc->ac = ac;
    rc->state = RC_CONNECTING;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued before any user command, so they run first on the new connection. */
    if (rc->url.password[0] != '\0') {
        if (rc->url.user[0] != '\0')
            redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s %s", rc->url.user, rc->url.password);
        else
            redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s", rc->url.password);
    }
    if (rc->url.db != 0)
        redisAsyncCommand(ac, on_setup_reply, "SELECT", "SELECT %d", rc->url.db);
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    (void)req;
    struct redisconn *rc = data;
    rc->resolve_req = NULL;
    if (errstr != NULL || res == NULL) {
        rc_note_down(rc, errstr != NULL ? errstr : "host name lookup failed");
        return;
    }
    const void *addr = res->ai_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    char ip[INET6_ADDRSTRLEN];
    if (inet_ntop(res->ai_family, addr, ip, sizeof(ip)) == NULL) {
        rc_note_down(rc, "address");
        return;
    }
    rc_start_async(rc, ip);
}

static void rc_connect(struct redisconn *rc)
{
    rc->connect_deadline = now_ms(rc) + (uint64_t)rc->timeout_ms;
    rc_arm_tick(rc);
    if (rc->host_is_ip) {
        rc_start_async(rc, rc->url.host);
        return;
    }
    rc->state = RC_RESOLVING;
    char port[16];
    snprintf(port, sizeof(port), "%d", rc->url.port);
    rc->resolve_req = h2o_hostinfo_getaddr(rc->resolver, h2o_iovec_init(rc->url.host, strlen(rc->url.host)),
                                           h2o_iovec_init(port, strlen(port)), AF_UNSPEC, SOCK_STREAM,
                                           IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, rc);
}

/* Ends the current connection: hiredis fails every outstanding command (callbacks with NULL). */
static void rc_drop(struct redisconn *rc, const char *why)
{
    if (rc->resolve_req != NULL) {
        h2o_hostinfo_getaddr_cancel(rc->resolve_req);
        rc->resolve_req = NULL;
    }
    redisAsyncContext *ac = rc->ac;
    rc_note_down(rc, why);
    if (ac != NULL)
        redisAsyncFree(ac);
}

/* ---- commands ---- */

static void on_command_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct redis_pending *p = privdata;
    h2o_linklist_unlink(&p->link);
    if (p->cb != NULL)
        p->cb(p->arg, r, r == NULL ? "redis connection lost" : NULL);
    free(p);
}

void *redisconn_command(struct redisconn *rc, redisconn_reply_cb cb, void *arg, int argc, const char **argv,
                        const size_t *argvlen)
{
    if (rc->state != RC_READY || rc->destroying)
        return NULL;
    struct redis_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->rc = rc;
    p->cb = cb;
    p->arg = arg;
    p->deadline = now_ms(rc) + (uint64_t)rc->timeout_ms;
    if (redisAsyncCommandArgv(rc->ac, on_command_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return NULL;
    }
    h2o_linklist_insert(&rc->pending, &p->link);
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

static void on_tick(h2o_timeout_entry_t *entry)
{
    struct redisconn *rc = H2O_STRUCT_FROM_MEMBER(struct redisconn, tick_entry, entry);
    uint64_t now = now_ms(rc);
    if ((rc->state == RC_CONNECTING || rc->state == RC_RESOLVING) && now >= rc->connect_deadline) {
        rc_drop(rc, "connect timeout");
    } else if (rc->state == RC_READY && !h2o_linklist_is_empty(&rc->pending)) {
        struct redis_pending *oldest = H2O_STRUCT_FROM_MEMBER(struct redis_pending, link, rc->pending.next);
        /* A stuck command means a stuck connection: replies are strictly ordered. */
        if (now >= oldest->deadline)
            rc_drop(rc, "command timeout");
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
                                   int timeout_ms)
{
    struct redisconn *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return NULL;
    if (!url_redis_parse(url, &rc->url)) {
        free(rc);
        return NULL;
    }
    unsigned char buf[sizeof(struct in6_addr)];
    rc->host_is_ip =
        inet_pton(AF_INET, rc->url.host, buf) == 1 || inet_pton(AF_INET6, rc->url.host, buf) == 1;
    rc->loop = loop;
    rc->resolver = resolver;
    rc->timeout_ms = timeout_ms;
    rc->backoff_ms = BACKOFF_MIN_MS;
    h2o_linklist_init_anchor(&rc->pending);
    h2o_timeout_init(loop, &rc->tick, TICK_MS);
    rc->tick_entry.cb = on_tick;
    rc_connect(rc);
    return rc;
}

void redisconn_destroy(struct redisconn *rc)
{
    if (rc == NULL)
        return;
    rc->destroying = true;
    if (rc->resolve_req != NULL)
        h2o_hostinfo_getaddr_cancel(rc->resolve_req);
    if (rc->ac != NULL) {
        redisAsyncContext *ac = rc->ac;
        rc->state = RC_DOWN;
        rc->ac = NULL;
        redisAsyncFree(ac); /* pending callbacks run with NULL replies */
    }
    if (h2o_timeout_is_linked(&rc->tick_entry))
        h2o_timeout_unlink(&rc->tick_entry);
    h2o_timeout_dispose(rc->loop, &rc->tick);
    OPENSSL_cleanse(rc->url.password, sizeof(rc->url.password));
    free(rc);
}
