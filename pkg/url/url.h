/* url: the service URLs of the environment contract (CONTRACT §3), parsed in one place —
 * redis:// and rediss:// for pkg/redisconn and pkg/syncconn (host, port, credentials, TLS or not),
 * and postgresql:// for libpq (which parses the URL itself; this module checks the scheme and finds
 * the host name a non-blocking client must resolve on its own). */
#ifndef BOLLARD_URL_H
#define BOLLARD_URL_H

#include <stdbool.h>

#include <libpq-fe.h>

#define URL_REDIS_DEFAULT_PORT 6379
#define URL_REDIS_SEEDS_MAX    8 /* host[:port] entries a redis:// URL may list (Redis Cluster seeds) */

struct url_redis_node {
    char host[256];
    int port;
};

/* A parsed redis[s]://[[user]:password@]host[:port][,host[:port]…][/db] (user and password
 * percent-decoded); tls is set for rediss://. host/port are the first node; seeds[] lists every
 * node given (seeds[0] is the first), for a Redis Cluster: any of them leads to the others. */
struct url_redis {
    bool tls;
    char host[256];
    int port;
    int db;
    char user[128];
    char password[256];
    struct url_redis_node seeds[URL_REDIS_SEEDS_MAX];
    int n_seeds;
};

/* Parses a redis:// or rediss:// URL (a trailing ?query is ignored); false when it is malformed or
 * lists more than URL_REDIS_SEEDS_MAX nodes. */
bool url_redis_parse(const char *url, struct url_redis *out);

/* True when url has a PostgreSQL scheme (postgresql:// or postgres://). */
bool url_is_postgres(const char *url);
/* libpq's own parse of a PostgreSQL URL into its options (free with PQconninfoFree), or NULL when
 * libpq refuses it. libpq's error text is dropped: it may quote the URL, password included. */
PQconninfoOption *url_postgres_parse(const char *url);
/* The host name of parsed options that a non-blocking client must resolve itself (libpq would
 * block in getaddrinfo): the one `host` when it is a name — not an IP literal, a socket directory
 * or a list — and no `hostaddr` is given; NULL otherwise. *port gets the port ("5432" by default). */
const char *url_postgres_host_to_resolve(const PQconninfoOption *opts, const char **port);

#endif
