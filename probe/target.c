#include "target.h"

#include <stdio.h>
#include <string.h>

bool target_parse_port(const char *text, size_t length, uint16_t *port)
{
    if (length == 0 || length > 5)
        return false;
    unsigned value = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + (unsigned)(text[i] - '0');
    }
    if (value == 0 || value > 65535)
        return false;
    *port = (uint16_t)value;
    return true;
}

bool target_path_valid(const char *path)
{
    if (path[0] != '/')
        return false;
    size_t length = 0;
    /* The path is copied verbatim into the request line, so nothing that could end or split it. */
    for (const unsigned char *c = (const unsigned char *)path; *c; c++, length++) {
        if (*c <= 0x20 || *c >= 0x7f)
            return false;
    }
    return length < TARGET_PATH_MAX;
}

/* Host names and IP literals: letters, digits and the few separators they use. Anything else would end
 * up in a Host header or a resolver query, so it is refused here. */
static bool host_valid(const char *host, size_t length, bool bracketed)
{
    if (length == 0 || length >= TARGET_HOST_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = host[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                  c == '-' || c == '_' || (bracketed && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* Splits "HOST[:PORT]" or "[V6][:PORT]" (length bytes at text). */
static bool split_host_port(const char *text, size_t length, char *host, size_t host_size, uint16_t *port,
                            bool port_required, const char **error)
{
    const char *host_start = text;
    size_t host_length;
    const char *rest;
    bool bracketed = false;

    if (length > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', length);
        if (close == NULL) {
            *error = "missing ']' after IPv6 address";
            return false;
        }
        bracketed = true;
        host_start = text + 1;
        host_length = (size_t)(close - host_start);
        rest = close + 1;
    } else {
        const char *colon = memchr(text, ':', length);
        host_length = colon ? (size_t)(colon - text) : length;
        rest = text + host_length;
        if (colon && memchr(colon + 1, ':', length - host_length - 1)) {
            *error = "IPv6 addresses must be written in brackets, e.g. [::1]:8000";
            return false;
        }
    }
    if (!host_valid(host_start, host_length, bracketed) || host_length >= host_size) {
        *error = "invalid host";
        return false;
    }
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';

    size_t rest_length = length - (size_t)(rest - text);
    *port = 0;
    if (rest_length == 0) {
        if (port_required) {
            *error = "missing port";
            return false;
        }
        return true;
    }
    if (rest[0] != ':' || !target_parse_port(rest + 1, rest_length - 1, port)) {
        *error = "invalid port";
        return false;
    }
    return true;
}

bool target_parse_host(const char *text, char *host, size_t host_size)
{
    size_t length = strlen(text);
    bool bracketed = length >= 2 && text[0] == '[' && text[length - 1] == ']';
    if (bracketed) {
        text++;
        length -= 2;
    }
    /* Without brackets a colon can only mean IPv6 here: there is no port to confuse it with. */
    bool ipv6 = bracketed || memchr(text, ':', length) != NULL;
    if (!host_valid(text, length, ipv6) || length >= host_size)
        return false;
    memcpy(host, text, length);
    host[length] = '\0';
    return true;
}

bool target_parse_host_port(const char *text, char *host, size_t host_size, uint16_t *port,
                            const char **error)
{
    size_t length = strlen(text);
    if (target_parse_port(text, length, port)) {
        host[0] = '\0';
        return true;
    }
    return split_host_port(text, length, host, host_size, port, true, error);
}

bool target_parse_http(const char *text, struct http_target *target, const char **error)
{
    static const char scheme[] = "http://";
    memset(target, 0, sizeof *target);
    size_t length = strlen(text);

    if (length > 0 && strspn(text, "0123456789") == length) {
        if (target_parse_port(text, length, &target->port))
            return true;
        *error = "invalid port";
        return false;
    }
    if (strncmp(text, "https://", 8) == 0) {
        *error = "https is not supported (probe speaks plain HTTP)";
        return false;
    }
    if (strncmp(text, scheme, sizeof scheme - 1) == 0)
        text += sizeof scheme - 1;
    else if (strstr(text, "://") != NULL) {
        *error = "only http:// URLs are supported";
        return false;
    }

    size_t authority_length = strcspn(text, "/?#");
    if (authority_length == 0) {
        *error = "missing host";
        return false;
    }
    if (memchr(text, '@', authority_length) != NULL) {
        *error = "user information in URLs is not supported";
        return false;
    }
    if (authority_length >= sizeof target->authority) {
        *error = "host too long";
        return false;
    }
    if (!split_host_port(text, authority_length, target->host, sizeof target->host, &target->port, false,
                         error))
        return false;
    memcpy(target->authority, text, authority_length);
    target->authority[authority_length] = '\0';

    const char *path = text + authority_length;
    size_t path_length = strcspn(path, "#"); /* a fragment is never sent */
    if (path_length == 0)
        return true;
    if (path_length >= sizeof target->path - 1) {
        *error = "path too long";
        return false;
    }
    size_t offset = 0;
    if (path[0] == '?') /* "http://host?x" means "/?x" */
        target->path[offset++] = '/';
    memcpy(target->path + offset, path, path_length);
    target->path[offset + path_length] = '\0';
    if (!target_path_valid(target->path)) {
        *error = "invalid character in path";
        return false;
    }
    return true;
}

void target_format_authority(char *out, size_t out_size, const char *host, uint16_t port)
{
    bool ipv6 = strchr(host, ':') != NULL;
    int written = snprintf(out, out_size, ipv6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    if (written < 0 && out_size > 0)
        out[0] = '\0';
}
