/* clientaddr: who the client of a request is — its TCP peer, or, when that peer is one of the
 * proxies listed in TRUSTED_PROXIES, the address those proxies forwarded (X-Forwarded-For, else
 * RFC 7239 Forwarded). The one place that decides it: the sign-in and sign-up limits count per
 * client address. */
#ifndef BOLLARD_CLIENTADDR_H
#define BOLLARD_CLIENTADDR_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

/* Longest text clientaddr_resolve writes, terminator included (an IPv6 address, or "unknown"). */
#define CLIENTADDR_TEXT_MAX 46
/* Most CIDRs TRUSTED_PROXIES may list. */
#define CLIENTADDR_PROXIES_MAX 64

/* A parsed list of trusted proxy networks; read-only once made, so every loop may share one. */
struct clientaddr_proxies;

/* Parses a comma-separated list of CIDRs, IPv4 or IPv6 (`10.0.0.0/8, fd00::/8`; a bare address is a
 * single host). An empty or blank list gives an empty set. Returns NULL on a malformed entry, one
 * with host bits set, or too many entries; `why` then says which entry (by position, not value). */
struct clientaddr_proxies *clientaddr_proxies_parse(const char *list, char *why, size_t cap);
void clientaddr_proxies_free(struct clientaddr_proxies *p);
size_t clientaddr_proxies_count(const struct clientaddr_proxies *p);

/* One header field value (not NUL-terminated). */
struct clientaddr_field {
    const char *value;
    size_t len;
};

/* The client's address as text (IPv4-mapped IPv6 written as IPv4), "unknown" when `peer` is NULL or
 * not an IP address. Forwarding headers count only when `peer` is inside `trusted` (which may be
 * NULL: none): then the client is the right-most hop of X-Forwarded-For (`xff`, every field in the
 * order received) that is not itself trusted, or of Forwarded's `for=` (`fwd`) when there is no
 * X-Forwarded-For field; every hop left of that one could have been written by the client. When
 * every hop is trusted it is the left-most; a hop that is not an address (`unknown`, an obfuscated
 * identifier, garbage) ends the walk at the trusted hop right of it. */
void clientaddr_resolve(const struct clientaddr_proxies *trusted, const struct sockaddr *peer,
                        const struct clientaddr_field *xff, size_t n_xff, const struct clientaddr_field *fwd,
                        size_t n_fwd, char out[CLIENTADDR_TEXT_MAX]);

#endif
