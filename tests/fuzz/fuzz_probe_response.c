/* libFuzzer: probe's HTTP/1.x response-head parser and its --expect status-set parser. The parser is
 * stateless and re-run on the growing buffer after every read, so every prefix is parsed too.
 * Invariants: DONE reports a head within the input, a status 100..599 and minor version 0 or 1;
 * INVALID carries an error text; a prefix of a DONE input is never INVALID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size heap copy so ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    struct http_response_head head;
    enum http_parse_status st = http_response_parse(buf, size, &head);
    if (st == HTTP_PARSE_DONE) {
        if (head.head_length == 0 || head.head_length > size || head.status < 100 || head.status > 599 ||
            (head.minor_version != 0 && head.minor_version != 1))
            abort();
        size_t step = size / 7 + 1;
        for (size_t n = 0; n < head.head_length; n += step) {
            struct http_response_head h2;
            if (http_response_parse(buf, n, &h2) == HTTP_PARSE_INVALID)
                abort();
        }
    } else if (st == HTTP_PARSE_INVALID) {
        if (head.error == NULL)
            abort();
    } else if (st != HTTP_PARSE_INCOMPLETE) {
        abort();
    }
    free(buf);

    /* --expect: the first line, NUL-terminated */
    size_t n = 0;
    while (n < size && n < 256 && data[n] != '\n')
        n++;
    char spec[257];
    memcpy(spec, data, n);
    spec[n] = '\0';
    struct http_status_set set;
    if (http_status_set_parse(spec, &set)) {
        for (int s = 0; s < 700; s++)
            if (http_status_set_contains(&set, s) && (s < 100 || s > 599))
                abort();
    }
    return 0;
}
