#include "webhook/webhook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool webhook_url_parse(const char *url, struct webhook_target *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(url);
    if (len > WEBHOOK_URL_MAX) {
        *why = "is longer than 2048 characters";
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f) {
            *why = "must be an absolute URL without spaces or control characters";
            return false;
        }
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->https = true;
        out->port = 443;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->port = 80;
        p = url + 7;
    } else {
        *why = "must start with http:// or https://";
        return false;
    }
    size_t auth_len = strcspn(p, "/?#");
    if (memchr(p, '@', auth_len) != NULL) {
        *why = "must not carry credentials (user@host)";
        return false;
    }
    if (strchr(url, '#') != NULL) {
        *why = "must not have a fragment";
        return false;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', auth_len);
        if (host_end == NULL) {
            *why = "has an unterminated IPv6 literal";
            return false;
        }
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(out->host)) {
        *why = "has no host";
        return false;
    }
    memcpy(out->host, host, hlen);
    for (size_t i = 0; i < hlen; i++)
        out->host[i] = (char)tolower((unsigned char)out->host[i]);
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/' && *end != '?')) {
            *why = "has an invalid port";
            return false;
        }
        out->port = (int)port;
    } else if (*p != '\0' && *p != '/' && *p != '?') {
        *why = "has an invalid host";
        return false;
    }
    unsigned char buf[sizeof(struct in6_addr)];
    out->host_is_ip = inet_pton(AF_INET, out->host, buf) == 1 || inet_pton(AF_INET6, out->host, buf) == 1;
    if (!out->host_is_ip) {
        for (size_t i = 0; i < hlen; i++) {
            char c = out->host[i];
            if (!(isalnum((unsigned char)c) || c == '-' || c == '.')) {
                *why = "has an invalid host name";
                return false;
            }
        }
    }
    return true;
}

static bool ipv4_forbidden(uint32_t a)
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    return b0 == 0 ||                                          /* 0.0.0.0/8 "this network" */
           b0 == 10 ||                                         /* RFC 1918 */
           b0 == 127 ||                                        /* loopback */
           (b0 == 100 && (b1 & 0xC0) == 64) ||                 /* 100.64/10 CGNAT */
           (b0 == 169 && b1 == 254) ||                         /* link-local, cloud metadata */
           (b0 == 172 && (b1 & 0xF0) == 16) ||                 /* RFC 1918 */
           (b0 == 192 && b1 == 168) ||                         /* RFC 1918 */
           (b0 == 192 && b1 == 0 && ((a >> 8) & 0xFF) == 0) || /* 192.0.0/24 IETF */
           (b0 == 198 && (b1 & 0xFE) == 18) ||                 /* 198.18/15 benchmarking */
           b0 >= 224;                                          /* multicast, reserved, broadcast */
}

bool webhook_address_forbidden(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return ipv4_forbidden(a);
    }
    if (sa->sa_family != AF_INET6)
        return true;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    const uint8_t *b = a6->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6) || IN6_IS_ADDR_V4COMPAT(a6)) {
        uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return ipv4_forbidden(a);
    }
    static const uint8_t zero[8] = {0};
    /* Local-use NAT64 64:ff9b:1::/48 (RFC 8215) maps onto the operator's own networks. */
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 && b[5] == 0x01)
        return true;
    /* NAT64 64:ff9b::/96, and IPv4-translated ::ffff:0:a.b.c.d (RFC 2765): the last 32 bits are the
     * IPv4 target. */
    if ((b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) ||
        (memcmp(b, zero, 8) == 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0)) {
        uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return ipv4_forbidden(a);
    }
    if (b[0] == 0x20 && b[1] == 0x02) { /* 6to4 2002:a.b.c.d::/48 (RFC 3056) embeds its IPv4 relay target */
        uint32_t a = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5];
        return ipv4_forbidden(a);
    }
    /* Teredo 2001::/32 (RFC 4380) tunnels to an IPv4 host the address only hides. */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00)
        return true;
    return IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_LOOPBACK(a6) || IN6_IS_ADDR_LINKLOCAL(a6) ||
           IN6_IS_ADDR_SITELOCAL(a6) || IN6_IS_ADDR_MULTICAST(a6) ||
           (b[0] & 0xFE) == 0xFC ||                                        /* ULA fc00::/7 */
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8); /* documentation */
}

bool webhook_ip_literal_forbidden(const char *text)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, text, &a4.sin_addr) == 1)
        return webhook_address_forbidden((struct sockaddr *)&a4);
    if (inet_pton(AF_INET6, text, &a6.sin6_addr) == 1)
        return webhook_address_forbidden((struct sockaddr *)&a6);
    return false;
}

bool webhook_event_type_valid(const char *type)
{
    static const char *const types[] = {"task.created", "task.updated", "task.completed", "task.deleted"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return true;
    return false;
}

int webhook_secret_generate(char out[WEBHOOK_SECRET_LEN + 1])
{
    unsigned char raw[32];
    unsigned char b64[48];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    int n = EVP_EncodeBlock(b64, raw, sizeof(raw)); /* 44 chars with one '=' */
    if (n != 44)
        return -1;
    memcpy(out, "whsec_", 6);
    for (int i = 0; i < 43; i++)
        out[6 + i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[WEBHOOK_SECRET_LEN] = '\0';
    return 0;
}

void webhook_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                  char out[WEBHOOK_SIGNATURE_LEN + 1])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "%lld.", timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    bool ok = ctx != NULL && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 &&
              EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    if (!ok) {
        out[0] = '\0';
        return;
    }
    int n = snprintf(out, WEBHOOK_SIGNATURE_LEN + 1, "t=%lld,v1=", timestamp);
    for (size_t i = 0; i < mac_len && n + 2 <= WEBHOOK_SIGNATURE_LEN; i++)
        n += snprintf(out + n, (size_t)(WEBHOOK_SIGNATURE_LEN + 1 - n), "%02x", mac[i]);
}
