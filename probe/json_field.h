/* Checks one top-level field of a small JSON document (the worker's heartbeat) without a JSON library,
 * which keeps the static probe small. No I/O: unit-testable and fuzzable on its own. */
#ifndef PROBE_JSON_FIELD_H
#define PROBE_JSON_FIELD_H

#include <stddef.h>

enum json_field_result {
    JSON_FIELD_MATCH,
    JSON_FIELD_MISMATCH, /* the key is there with another value; *actual says which */
    JSON_FIELD_MISSING,  /* the document is a valid object without that key */
    JSON_FIELD_INVALID,  /* the document is not a valid JSON object */
};

/* Looks up key among the members of the top-level object in doc[0..length) and compares its value with
 * expected: a string value by its decoded text, a number, true, false or null by its literal text.
 * Objects and arrays never match. When a key repeats, the last one counts (as in most JSON readers).
 * On MISMATCH, actual receives a printable, possibly truncated rendering of the value found. */
enum json_field_result json_field_check(const char *doc, size_t length, const char *key, const char *expected,
                                        char *actual, size_t actual_size);

#endif
