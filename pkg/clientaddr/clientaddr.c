/* Addresses are kept as 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d, its prefix length
 * + 96), so one comparison serves both families and an IPv4 peer seen on a dual-stack socket matches
 * an IPv4 CIDR. */
#include "clientaddr/clientaddr.h"
#include "base/base.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Hops remembered per request; only the right-most matter (the walk starts there), so when a header
 * lists more, the left-most are dropped. */
#define HOPS_MAX 32
/* Longest hop text considered: "[" IPv6 "]:" port, with room to spare; longer is not an address. */
#define HOP_TEXT_MAX 80

struct net {
    unsigned char addr[16];
    unsigned bits; /* prefix length over the 16 bytes */
};

struct clientaddr_proxies {
    size_t n;
    struct net nets[CLIENTADDR_PROXIES_MAX];
};

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4(const unsigned char a[16])
{
    return memcmp(a, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

/* Parses one textual address (no brackets, no port) into 16 bytes. */
static bool parse_ip(const char *s, size_t len, unsigned char out[16])
{
    char buf[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct in_addr v4;
    if (memchr(buf, ':', len) == NULL) {
        if (inet_pton(AF_INET, buf, &v4) != 1)
            return false;
        memcpy(out, v4_mapped_prefix, 12);
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

static bool parse_net(const char *s, size_t len, struct net *out)
{
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash != NULL ? (size_t)(slash - s) : len;
    if (!parse_ip(s, addr_len, out->addr))
        return false;
    unsigned family_bits = is_v4(out->addr) && memchr(s, ':', addr_len) == NULL ? 32 : 128;
    unsigned bits = family_bits;
    if (slash != NULL) {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3)
            return false;
        bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return false;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > family_bits)
            return false;
    }
    out->bits = bits + (128 - family_bits);
    /* Host bits set (10.0.0.1/8) is refused rather than guessed: it is usually a typo. */
    for (unsigned i = out->bits; i < 128; i++)
        if (out->addr[i / 8] & (0x80u >> (i % 8)))
            return false;
    return true;
}

struct clientaddr_proxies *clientaddr_proxies_parse(const char *list, char *why, size_t cap)
{
    struct clientaddr_proxies *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        base_why(why, cap, "out of memory");
        return NULL;
    }
    const char *s = list != NULL ? list : "";
    size_t rest = strlen(s), blank_len = rest;
    const char *blank = s;
    trim(&blank, &blank_len);
    if (blank_len == 0)
        return p;
    for (size_t entry = 1;; entry++) {
        const char *comma = memchr(s, ',', rest);
        size_t len = comma != NULL ? (size_t)(comma - s) : rest;
        const char *e = s;
        size_t elen = len;
        trim(&e, &elen);
        if (p->n == CLIENTADDR_PROXIES_MAX) {
            base_why(why, cap, "lists more than %d networks", CLIENTADDR_PROXIES_MAX);
            goto fail;
        }
        if (!parse_net(e, elen, &p->nets[p->n])) {
            base_why(why, cap,
                     "entry %zu is not an IPv4 or IPv6 network (address/prefix length, host bits zero, "
                     "comma-separated)",
                     entry);
            goto fail;
        }
        p->n++;
        if (comma == NULL)
            break;
        rest -= len + 1;
        s = comma + 1;
    }
    return p;
fail:
    free(p);
    return NULL;
}

void clientaddr_proxies_free(struct clientaddr_proxies *p)
{
    free(p);
}

size_t clientaddr_proxies_count(const struct clientaddr_proxies *p)
{
    return p != NULL ? p->n : 0;
}

static bool trusted_addr(const struct clientaddr_proxies *t, const unsigned char a[16])
{
    for (size_t i = 0; t != NULL && i < t->n; i++) {
        const struct net *n = &t->nets[i];
        unsigned full = n->bits / 8, rem = n->bits % 8;
        if (memcmp(a, n->addr, full) != 0)
            continue;
        if (rem == 0 || ((a[full] ^ n->addr[full]) & (0xffu << (8 - rem)) & 0xffu) == 0)
            return true;
    }
    return false;
}

/* A port after an address: digits, or an RFC 7239 obfuscated port ("_" then token characters). */
static bool is_port(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') ||
                  (s[0] == '_' &&
                   ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

/* One hop: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`. */
static bool parse_hop(const char *s, size_t len, unsigned char out[16])
{
    trim(&s, &len);
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        size_t after = len - (size_t)(close + 1 - s);
        if (after > 0 && (close[1] != ':' || !is_port(close + 2, after - 1)))
            return false;
        return memchr(s + 1, ':', (size_t)(close - s - 1)) != NULL &&
               parse_ip(s + 1, (size_t)(close - s - 1), out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
        /* exactly one colon: IPv4 with a port */
        if (!is_port(colon + 1, len - (size_t)(colon + 1 - s)))
            return false;
        return memchr(s, ':', (size_t)(colon - s)) == NULL && parse_ip(s, (size_t)(colon - s), out) &&
               is_v4(out);
    }
    return parse_ip(s, len, out);
}

struct hops {
    size_t n; /* hops seen; the last min(n, HOPS_MAX) are kept, in a ring */
    struct {
        bool ok;
        unsigned char addr[16];
    } ring[HOPS_MAX];
};

static void hops_add(struct hops *h, const char *s, size_t len)
{
    size_t i = h->n++ % HOPS_MAX;
    h->ring[i].ok = len <= HOP_TEXT_MAX && parse_hop(s, len, h->ring[i].addr);
}

/* X-Forwarded-For: addresses separated by commas. */
static void hops_from_xff(struct hops *h, const struct clientaddr_field *f, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *s = f[k].value, *end = f[k].value + f[k].len;
        for (;;) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *stop = comma != NULL ? comma : end;
            const char *e = s;
            size_t elen = (size_t)(stop - s);
            trim(&e, &elen);
            if (elen > 0) /* empty list elements are allowed by the list syntax and mean nothing */
                hops_add(h, e, elen);
            if (comma == NULL)
                break;
            s = comma + 1;
        }
    }
}

/* RFC 7239: Forwarded = 1#( pair *( ";" pair ) ), pair = token "=" ( token / quoted-string ). Each
 * element is one hop; its `for=` names it (an element without one is a hop that is not an address). */
static void hops_from_forwarded(struct hops *h, const struct clientaddr_field *f, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *p = f[k].value, *end = f[k].value + f[k].len;
        char value[HOP_TEXT_MAX + 1];
        size_t vlen = 0;
        bool have_for = false, bad = false, element_started = false;
        while (p <= end) {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p == end || *p == ',') { /* end of one element */
                if (element_started)
                    hops_add(h, have_for && !bad ? value : "", have_for && !bad ? vlen : 0);
                have_for = bad = element_started = false;
                vlen = 0;
                if (p == end)
                    break;
                p++;
                continue;
            }
            if (*p == ';') {
                p++;
                continue;
            }
            element_started = true;
            const char *name = p;
            while (p < end && *p != '=' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            size_t name_len = (size_t)(p - name);
            if (p == end || *p != '=') {
                bad = true;
                continue;
            }
            p++; /* '=' */
            char buf[HOP_TEXT_MAX + 1];
            size_t blen = 0;
            bool fits = true;
            if (p < end && *p == '"') {
                p++;
                while (p < end && *p != '"') {
                    if (*p == '\\' && p + 1 < end)
                        p++;
                    if (blen < HOP_TEXT_MAX)
                        buf[blen++] = *p;
                    else
                        fits = false;
                    p++;
                }
                if (p == end) {
                    bad = true; /* unterminated quoted-string */
                    continue;
                }
                p++; /* closing quote */
            } else {
                while (p < end && *p != ';' && *p != ',' && *p != ' ' && *p != '\t') {
                    if (blen < HOP_TEXT_MAX)
                        buf[blen++] = *p;
                    else
                        fits = false;
                    p++;
                }
            }
            if (name_len == 3 && strncasecmp(name, "for", 3) == 0) {
                if (have_for || !fits)
                    bad = true; /* two for= in one element: ambiguous */
                have_for = true;
                memcpy(value, buf, blen);
                vlen = blen;
            }
        }
    }
}

static void write_addr(const unsigned char a[16], char out[CLIENTADDR_TEXT_MAX])
{
    if (is_v4(a))
        inet_ntop(AF_INET, a + 12, out, CLIENTADDR_TEXT_MAX);
    else
        inet_ntop(AF_INET6, a, out, CLIENTADDR_TEXT_MAX);
}

void clientaddr_resolve(const struct clientaddr_proxies *trusted, const struct sockaddr *peer,
                        const struct clientaddr_field *xff, size_t n_xff, const struct clientaddr_field *fwd,
                        size_t n_fwd, char out[CLIENTADDR_TEXT_MAX])
{
    unsigned char client[16];
    memcpy(out, "unknown", sizeof("unknown"));
    if (peer == NULL)
        return;
    if (peer->sa_family == AF_INET) {
        memcpy(client, v4_mapped_prefix, 12);
        memcpy(client + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer->sa_family == AF_INET6) {
        memcpy(client, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    } else {
        return;
    }
    if (clientaddr_proxies_count(trusted) > 0 && trusted_addr(trusted, client)) {
        struct hops h = {0};
        if (n_xff > 0)
            hops_from_xff(&h, xff, n_xff);
        else
            hops_from_forwarded(&h, fwd, n_fwd);
        size_t kept = h.n < HOPS_MAX ? h.n : HOPS_MAX;
        for (size_t i = 0; i < kept; i++) {
            const size_t slot = (h.n - 1 - i) % HOPS_MAX; /* right to left */
            if (!h.ring[slot].ok)
                break;
            memcpy(client, h.ring[slot].addr, 16);
            if (!trusted_addr(trusted, client))
                break;
        }
    }
    write_addr(client, out);
}
