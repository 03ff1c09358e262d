#include "rediscluster/rediscluster.h"

_Static_assert(REDISCLUSTER_NODES_MAX >= URL_REDIS_SEEDS_MAX + 2, "seeds are never replaced");

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rediscluster_slots_argv[2] = {"CLUSTER", "SLOTS"};

void rediscluster_init(struct rediscluster *c, const struct url_redis *u)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < u->n_seeds && i < REDISCLUSTER_NODES_MAX; i++) {
        snprintf(c->nodes[i].host, sizeof(c->nodes[i].host), "%s", u->seeds[i].host);
        c->nodes[i].port = u->seeds[i].port;
        c->n_nodes++;
    }
    if (c->n_nodes == 0) { /* a url_redis filled by hand */
        snprintf(c->nodes[0].host, sizeof(c->nodes[0].host), "%s", u->host);
        c->nodes[0].port = u->port;
        c->n_nodes = 1;
    }
    c->n_seeds = c->n_nodes;
}

const struct rediscluster_node *rediscluster_target(const struct rediscluster *c)
{
    return &c->nodes[c->target];
}

void rediscluster_next(struct rediscluster *c)
{
    c->target = (c->target + 1) % c->n_nodes;
}

/* Index of host:port, learning it when new (the list full: the last learnt slot is reused, seeds are
 * kept); -1 for an unusable address. */
static int learn(struct rediscluster *c, const char *host, size_t host_len, int port)
{
    if (host_len == 0 || host_len >= sizeof(c->nodes[0].host) || port < 1 || port > 65535)
        return -1;
    for (int i = 0; i < c->n_nodes; i++)
        if (c->nodes[i].port == port && strlen(c->nodes[i].host) == host_len &&
            memcmp(c->nodes[i].host, host, host_len) == 0)
            return i;
    int i = REDISCLUSTER_NODES_MAX - 1; /* at least URL_REDIS_SEEDS_MAX + 2 places: never a seed */
    if (c->n_nodes < REDISCLUSTER_NODES_MAX)
        i = c->n_nodes++;
    else if (i == c->target)
        i--;
    memcpy(c->nodes[i].host, host, host_len);
    c->nodes[i].host[host_len] = '\0';
    c->nodes[i].port = port;
    return i;
}

bool rediscluster_retarget(struct rediscluster *c, const char *host, int port)
{
    int i = learn(c, host, strlen(host), port);
    if (i < 0 || i == c->target)
        return false;
    c->target = i;
    return true;
}

static unsigned crc16_xmodem(const unsigned char *p, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

unsigned rediscluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1) /* a non-empty tag: only it is hashed */
            return crc16_xmodem((const unsigned char *)open + 1, (size_t)(close - open - 1)) & 16383;
    }
    return crc16_xmodem((const unsigned char *)key, len) & 16383;
}

/* "host:port" (the host may itself hold colons: IPv6) into a node. */
static bool parse_endpoint(const char *s, struct rediscluster_node *to)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(to->host))
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '@') || port < 1 || port > 65535)
        return false;
    memcpy(to->host, s, (size_t)(colon - s));
    to->host[colon - s] = '\0';
    to->port = (int)port;
    return true;
}

enum rediscluster_redirect rediscluster_redirect_parse(const redisReply *reply, struct rediscluster_node *to)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return REDISCLUSTER_NONE;
    enum rediscluster_redirect kind;
    const char *p;
    if (strncmp(reply->str, "MOVED ", 6) == 0) {
        kind = REDISCLUSTER_MOVED;
        p = reply->str + 6;
    } else if (strncmp(reply->str, "ASK ", 4) == 0) {
        kind = REDISCLUSTER_ASK;
        p = reply->str + 4;
    } else {
        return REDISCLUSTER_NONE;
    }
    char *end;
    long slot = strtol(p, &end, 10);
    if (end == p || *end != ' ' || slot < 0 || slot > 16383 || !parse_endpoint(end + 1, to))
        return REDISCLUSTER_NONE;
    return kind;
}

bool rediscluster_retryable(const redisReply *reply)
{
    static const char *const prefixes[] = {"CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "UNBLOCKED"};
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return false;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(reply->str, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* One node of a slot range: [address, port, id, …]; -1 when unusable. */
static int learn_entry(struct rediscluster *c, const redisReply *e, const char *self)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    const char *host = e->element[0]->str;
    size_t len = e->element[0]->len;
    if (len == 0 || (len == 1 && host[0] == '?')) { /* "the address you reached me at" / unknown */
        host = self;
        len = strlen(self);
    }
    return learn(c, host, len, (int)e->element[1]->integer);
}

int rediscluster_apply_slots(struct rediscluster *c, const redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return 0; /* no cluster support (or CLUSTER not allowed to this user): standalone */
    c->enabled = true;
    char self[sizeof(c->nodes[0].host)];
    snprintf(self, sizeof(self), "%s", c->nodes[c->target].host);
    unsigned home = rediscluster_key_slot(REDISCLUSTER_TAG, strlen(REDISCLUSTER_TAG));
    int master = -1;
    for (size_t r = 0; r < reply->elements; r++) {
        const redisReply *range = reply->element[r];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[0]->type != REDIS_REPLY_INTEGER || range->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        bool mine =
            (long long)home >= range->element[0]->integer && (long long)home <= range->element[1]->integer;
        for (size_t n = 2; n < range->elements; n++) {
            int i = learn_entry(c, range->element[n], self);
            if (mine && n == 2)
                master = i;
        }
    }
    if (master < 0)
        return -1;
    if (master == c->target)
        return 0;
    c->target = master;
    return 1;
}
