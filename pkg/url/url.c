#include "url/url.h"
#include "base/base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

bool url_redis_parse(const char *url, struct url_redis *out)
{
    memset(out, 0, sizeof(*out));
    out->port = URL_REDIS_DEFAULT_PORT;
    if (url == NULL)
        return false;
    const char *p;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        out->tls = true;
    } else {
        return false;
    }
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL) {
            if (!base_percent_decode(p, (size_t)(colon - p), false, out->user, sizeof(out->user)) ||
                !base_percent_decode(colon + 1, (size_t)(at - colon - 1), false, out->password,
                                     sizeof(out->password)))
                return false;
        } else if (!base_percent_decode(p, (size_t)(at - p), false, out->password, sizeof(out->password))) {
            return false;
        }
        p = at + 1;
    }
    for (;;) {
        if (out->n_seeds == URL_REDIS_SEEDS_MAX)
            return false;
        struct url_redis_node *n = &out->seeds[out->n_seeds++];
        n->port = URL_REDIS_DEFAULT_PORT;
        if (*p == '[') { /* [IPv6] */
            const char *host_end = strchr(p, ']');
            if (host_end == NULL || host_end == p + 1 || (size_t)(host_end - p - 1) >= sizeof(n->host))
                return false;
            memcpy(n->host, p + 1, (size_t)(host_end - p - 1));
            p = host_end + 1;
        } else {
            size_t len = strcspn(p, ":/?,");
            if (len == 0 || len >= sizeof(n->host))
                return false;
            memcpy(n->host, p, len);
            p += len;
        }
        if (*p == ':') {
            char *end;
            long port = strtol(p + 1, &end, 10);
            if (end == p + 1 || port < 1 || port > 65535)
                return false;
            n->port = (int)port;
            p = end;
        }
        if (*p != ',')
            break;
        p++;
    }
    memcpy(out->host, out->seeds[0].host, sizeof(out->host));
    out->port = out->seeds[0].port;
    if (*p == '/' && p[1] != '\0' && p[1] != '?') {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || db < 0 || db > 1000000)
            return false;
        out->db = (int)db;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    return *p == '\0' || *p == '?';
}

bool url_is_postgres(const char *url)
{
    return url != NULL && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

PQconninfoOption *url_postgres_parse(const char *url)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &errmsg);
    PQfreemem(errmsg); /* may quote the URL: never shown */
    return opts;
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

const char *url_postgres_host_to_resolve(const PQconninfoOption *opts, const char **port)
{
    const char *host = NULL;
    bool has_hostaddr = false;
    *port = "5432";
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            *port = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            has_hostaddr = true;
    }
    if (host == NULL || host[0] == '/' || strchr(host, ',') != NULL || is_ip_literal(host) || has_hostaddr)
        return NULL;
    return host;
}
