/* Parsing of probe targets: http URLs, HOST:PORT pairs and bare ports. No I/O, no name resolution. */
#ifndef PROBE_TARGET_H
#define PROBE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TARGET_HOST_MAX 256 /* a DNS name is at most 253 characters */
#define TARGET_PATH_MAX 2048

struct http_target {
    char host[TARGET_HOST_MAX];           /* without IPv6 brackets */
    uint16_t port;                        /* 0 when the text did not name one */
    char path[TARGET_PATH_MAX];           /* empty when the text did not name one */
    char authority[TARGET_HOST_MAX + 10]; /* host[:port] as written, for the Host header; may be empty */
};

/* Accepts "PORT", "http://HOST[:PORT][/PATH]" and "HOST[:PORT][/PATH]"; IPv6 hosts in brackets.
 * Returns true on success, else false with *error set to a static description. */
bool target_parse_http(const char *text, struct http_target *target, const char **error);

/* Accepts "HOST:PORT", "[IPV6]:PORT" or "PORT" (host left empty). */
bool target_parse_host_port(const char *text, char *host, size_t host_size, uint16_t *port,
                            const char **error);

/* A bare host: a name, an IPv4 literal, or an IPv6 literal with or without brackets. */
bool target_parse_host(const char *text, char *host, size_t host_size);

/* A TCP port number, 1..65535, decimal digits only. */
bool target_parse_port(const char *text, size_t length, uint16_t *port);

/* An http path: starts with '/', printable ASCII without spaces, shorter than TARGET_PATH_MAX. */
bool target_path_valid(const char *path);

/* Writes host (bracketed if it contains ':') and the port, as used in a Host header or a message. */
void target_format_authority(char *out, size_t out_size, const char *host, uint16_t port);

#endif
