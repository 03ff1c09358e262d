/* redisconn: one asynchronous Redis connection owned by an h2o event loop, with TLS for rediss://
 * (h2o's socket TLS with a pkg/redistls context), AUTH/SELECT from the URL, per-command deadlines and
 * reconnect. hiredis only encodes the commands and parses the replies; the I/O is an h2o socket, the
 * same for redis:// and rediss://, so nothing blocks the loop. Against a Redis Cluster (pkg/rediscluster)
 * it talks to the master of the {webhooks} slot: found from the slot map at each connection, MOVED and
 * ASK followed (the commands in flight are sent again after a reconnection to the node named), the
 * other known nodes tried in turn when that master fails. */
#ifndef BOLLARD_REDISCONN_H
#define BOLLARD_REDISCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>
#include <hiredis.h>

struct redisconn;
struct redistls_config;

/* Called once per command on the loop thread. `reply` is NULL on failure (then `err` says why);
 * it may be an error reply (REDIS_REPLY_ERROR). It is freed after the callback returns. */
typedef void (*redisconn_reply_cb)(void *arg, redisReply *reply, const char *err);

/* `url` is redis:// or rediss:// (copied); `tls` (REDIS_TLS_*, may be NULL for the defaults) is read
 * here only. NULL when the URL does not parse or the TLS context cannot be made. Starts connecting. */
struct redisconn *redisconn_create(h2o_evloop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                                   int timeout_ms, const struct redistls_config *tls);
/* Returns a handle for redisconn_cancel, or NULL when the command cannot be sent now (not connected,
 * or its AUTH/SELECT not done yet): then the callback is not called. Arguments are copied. */
void *redisconn_command(struct redisconn *rc, redisconn_reply_cb cb, void *arg, int argc, const char **argv,
                        const size_t *argvlen);
/* The caller lost interest: its callback will not run. */
void redisconn_cancel(struct redisconn *rc, void *handle);
bool redisconn_is_connected(const struct redisconn *rc);
/* Why it is not connected (the last failure: "TLS handshake failed: certificate verify failed: …",
 * "AUTH refused: WRONGPASS …", "connecting"), one line, never a secret; "" when connected. */
void redisconn_last_error(const struct redisconn *rc, char *why, size_t cap);
void redisconn_destroy(struct redisconn *rc);

#endif
