/* redisconn: one asynchronous Redis connection owned by an h2o event loop (hiredis async with an
 * adapter onto h2o sockets), with AUTH/SELECT from the URL, per-command deadlines and reconnect. */
#ifndef BOLLARD_REDISCONN_H
#define BOLLARD_REDISCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>
#include <hiredis.h>

struct redis_conn;

/* Called once per command on the loop thread. `reply` is NULL on failure (then `err` says why);
 * it may be an error reply (REDIS_REPLY_ERROR). It is freed after the callback returns. */
typedef void (*redis_reply_cb)(void *arg, redisReply *reply, const char *err);

/* Parsed redis://[[user]:password@]host[:port][/db]; returns 0 on success. */
struct redis_url {
    char host[256];
    int port;
    int db;
    char user[128];
    char password[256];
};
int redis_url_parse(const char *url, struct redis_url *out);

struct redis_conn *redis_conn_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver,
                                     const char *url, int timeout_ms);
/* Returns a handle for redis_conn_cancel, or NULL when the command cannot be sent now (not connected):
 * then the callback is not called. Arguments are copied. */
void *redis_conn_command(struct redis_conn *rc, redis_reply_cb cb, void *arg, int argc, const char **argv,
                         const size_t *argvlen);
/* The caller lost interest: its callback will not run. */
void redis_conn_cancel(struct redis_conn *rc, void *handle);
bool redis_conn_is_connected(const struct redis_conn *rc);
void redis_conn_destroy(struct redis_conn *rc);

#endif
