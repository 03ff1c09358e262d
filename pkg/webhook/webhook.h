/* webhook: the rules of outbound webhooks shared by the API (registration) and the worker
 * (delivery): target URLs, the SSRF address policy, signing secrets and signatures. */
#ifndef BOLLARD_WEBHOOK_H
#define BOLLARD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define WEBHOOK_URL_MAX       2048
#define WEBHOOK_SECRET_LEN    49  /* "whsec_" + 43 base64url characters (32 random bytes) */
#define WEBHOOK_SIGNATURE_LEN 100 /* "t=<unix seconds>,v1=<64 hex>" fits */
#define WEBHOOK_MAX_PER_USER  20

struct webhook_target {
    bool https;
    char host[256]; /* without brackets for IPv6 literals */
    int port;
    bool host_is_ip;
};

/* http(s)://host[:port][/path][?query], no user info, no fragment. Returns false with *why set. */
bool webhook_url_parse(const char *url, struct webhook_target *out, const char **why);

/* Loopback, private (RFC 1918, ULA), link-local (incl. 169.254.169.254 metadata), CGNAT, unspecified,
 * multicast, broadcast, reserved and IPv4-mapped/-compatible forms of those. */
bool webhook_address_forbidden(const struct sockaddr *sa);
/* The same for a textual IP literal; false when text is not an IP literal. */
bool webhook_ip_literal_forbidden(const char *text);

/* One of task.created, task.updated, task.completed, task.deleted. */
bool webhook_event_type_valid(const char *type);

/* A new random signing secret; returns 0 on success. */
int webhook_secret_generate(char out[WEBHOOK_SECRET_LEN + 1]);

/* X-Bollard-Signature value: "t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>". */
void webhook_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                  char out[WEBHOOK_SIGNATURE_LEN + 1]);

#endif
