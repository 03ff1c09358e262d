/* redisconn: one asynchronous Redis connection owned by an h2o event loop (hiredis async with an
 * adapter onto h2o sockets), with AUTH/SELECT from the URL, per-command deadlines and reconnect. */
#ifndef BOLLARD_REDISCONN_H
#define BOLLARD_REDISCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>
#include <hiredis.h>

struct redisconn;

/* Called once per command on the loop thread. `reply` is NULL on failure (then `err` says why);
 * it may be an error reply (REDIS_REPLY_ERROR). It is freed after the callback returns. */
typedef void (*redisconn_reply_cb)(void *arg, redisReply *reply, const char *err);

struct redisconn *redisconn_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                                   int timeout_ms);
/* Returns a handle for redisconn_cancel, or NULL when the command cannot be sent now (not connected):
 * then the callback is not called. Arguments are copied. */
void *redisconn_command(struct redisconn *rc, redisconn_reply_cb cb, void *arg, int argc, const char **argv,
                        const size_t *argvlen);
/* The caller lost interest: its callback will not run. */
void redisconn_cancel(struct redisconn *rc, void *handle);
bool redisconn_is_connected(const struct redisconn *rc);
void redisconn_destroy(struct redisconn *rc);

#endif
