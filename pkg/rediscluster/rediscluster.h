/* rediscluster: what a Redis connection needs to work against a Redis Cluster, written once for
 * pkg/redisconn (the API's loops) and pkg/syncconn (the worker, `bollard check`); no I/O here.
 *
 * Every key Bollard writes carries the hash tag REDISCLUSTER_TAG, so all of them live in one slot
 * (the Lua scripts touch several at once) and one node, that slot's master, serves every command. A
 * connection therefore talks to one node at a time, its target: the master of the home slot as the
 * last slot map (CLUSTER SLOTS) named it. The node list holds the seeds of REDIS_URL and every node
 * of the last slot map (bounded); when the target fails, the connection tries the next one, whose
 * slot map names the new master after a failover. Replies parsed here: MOVED/ASK redirects, the
 * retryable cluster states (CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN) and the slot map. A server
 * without cluster support answers CLUSTER SLOTS with an error: the connection is then standalone,
 * exactly as before (a MOVED reply would still be followed). */
#ifndef BOLLARD_REDISCLUSTER_H
#define BOLLARD_REDISCLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis.h>

#include "url/url.h"

/* The hash tag of every Bollard key (queue names, sign-in limits): "bollard:{webhooks}:…". */
#define REDISCLUSTER_TAG "{webhooks}"
/* A key of the home slot that readiness reads (EXISTS): unlike PING, it is refused with
 * CLUSTERDOWN while the cluster cannot serve the slot, and redirected when the slot moves. */
#define REDISCLUSTER_HOME_KEY      "bollard:" REDISCLUSTER_TAG ":seq"
#define REDISCLUSTER_NODES_MAX     16 /* seeds + nodes learnt from slot maps */
#define REDISCLUSTER_REDIRECTS_MAX 5  /* MOVED/ASK followed per command */
#define REDISCLUSTER_HOPS_MAX      3  /* targets tried in one connection attempt before backing off */

struct rediscluster_node {
    char host[256];
    int port;
};

struct rediscluster {
    struct rediscluster_node nodes[REDISCLUSTER_NODES_MAX]; /* seeds first */
    int n_nodes, n_seeds;
    int target;   /* index into nodes */
    bool enabled; /* a slot map or a redirect was seen: this is a cluster */
};

enum rediscluster_redirect { REDISCLUSTER_NONE, REDISCLUSTER_MOVED, REDISCLUSTER_ASK };

/* Seeds from a parsed REDIS_URL; the target is the first seed. */
void rediscluster_init(struct rediscluster *c, const struct url_redis *u);
/* The node to connect to. */
const struct rediscluster_node *rediscluster_target(const struct rediscluster *c);
/* The target failed: the next known node becomes the target (round robin over every known node). */
void rediscluster_next(struct rediscluster *c);
/* Makes host:port the target (learning it if new); true when the target changed. */
bool rediscluster_retarget(struct rediscluster *c, const char *host, int port);
/* Slot of a key (CRC16 of the hash tag, or of the whole key), 0..16383. */
unsigned rediscluster_key_slot(const char *key, size_t len);
/* An error reply "MOVED 1234 host:port" or "ASK …": its kind and node; REDISCLUSTER_NONE otherwise. */
enum rediscluster_redirect rediscluster_redirect_parse(const redisReply *reply, struct rediscluster_node *to);
/* CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, UNBLOCKED: the cluster (or the node) cannot serve the
 * command now, the caller's usual backoff applies, and the slot map should be read again. */
bool rediscluster_retryable(const redisReply *reply);
/* The command for the slot map: "CLUSTER" "SLOTS". */
extern const char *const rediscluster_slots_argv[2];
/* Applies a CLUSTER SLOTS reply received from the target: learns every node (an empty address means
 * the target's own host) and makes the home slot's master the target. Returns 1 when the target
 * changed (reconnect to it), 0 when the target is the master (or the reply is an error: no cluster
 * support, or not allowed — standalone), -1 when the map has no master for the home slot. */
int rediscluster_apply_slots(struct rediscluster *c, const redisReply *reply);

#endif
