/* HTTP/1.x response-head parsing for the probe, kept free of I/O so that it can be unit-tested and fuzzed
 * on its own. */
#ifndef PROBE_HTTP_RESPONSE_H
#define PROBE_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_parse_status {
    HTTP_PARSE_INVALID = -1,   /* the bytes cannot be the start of an HTTP/1.x response */
    HTTP_PARSE_INCOMPLETE = 0, /* valid so far; more bytes are needed */
    HTTP_PARSE_DONE = 1,       /* a final (non-1xx) response head is complete */
};

struct http_response_head {
    int status;         /* final status code, 100..599 */
    int minor_version;  /* HTTP/1.<minor_version>: 0 or 1 */
    size_t head_length; /* bytes up to and including the blank line that ends the final head */
    const char *error;  /* static description when HTTP_PARSE_INVALID, else NULL */
};

/* Parses the response head at the start of data[0..length). Stateless: callers re-run it on the whole
 * buffer after every read. Interim 1xx heads (except 101) are skipped. Validation is strict enough that
 * garbage is reported as soon as it is seen rather than after a timeout. */
enum http_parse_status http_response_parse(const char *data, size_t length, struct http_response_head *head);

/* A set of acceptable status codes, written as "200-399" or "200,204,300-308". */
struct http_status_set {
    uint64_t bits[10]; /* bit n set: status n is acceptable, n < 640 */
};

/* Returns true and fills *set when spec is a valid list of codes and ranges within 100..599. */
bool http_status_set_parse(const char *spec, struct http_status_set *set);
bool http_status_set_contains(const struct http_status_set *set, int status);

#endif
