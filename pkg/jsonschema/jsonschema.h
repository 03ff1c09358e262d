/* jsonschema: validates a yamldoc tree against a chart's values.schema.json (the JSON Schema subset
 * that Helm charts use), reporting each violation with the node it is about, so that callers can
 * point at file:line:col.
 *
 * Supported: type (incl. arrays of types; integer accepts 2.0), enum, const, minimum, maximum,
 * exclusiveMinimum/exclusiveMaximum (number and draft-04 boolean forms), multipleOf, minLength,
 * maxLength (code points), pattern (ECMA-262, matched with PCRE2: see jsonschema_pattern_compile),
 * properties, patternProperties, additionalProperties (bool or schema), required, minProperties,
 * maxProperties, propertyNames, dependencies/dependentRequired/dependentSchemas, items (schema or
 * tuple), prefixItems, additionalItems, minItems, maxItems, uniqueItems, contains, $ref to local
 * JSON pointers ("#", "#/definitions/…", "#/$defs/…"), allOf, anyOf, oneOf, not, if/then/else,
 * true/false schemas. `format` and other annotations are ignored. Keywords next to $ref are applied
 * too (2019-09+ behaviour). An unknown top-level `global` is always allowed: Helm passes it. */
#ifndef BOLLARD_JSONSCHEMA_H
#define BOLLARD_JSONSCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "yamldoc/yamldoc.h"

/* Bounds for hostile or cyclic schemas: keyword evaluations per validation, and nesting of
 * subschema applications ($ref hops included) per value. */
#define JSONSCHEMA_MAX_STEPS 5000000ul
#define JSONSCHEMA_MAX_DEPTH 512u
/* A values schema is tens of kilobytes; this only bounds a wrong path (e.g. a huge JSON file). */
#define JSONSCHEMA_MAX_FILE_BYTES ((size_t)16 << 20)

struct jsonschema;

struct jsonschema_violation {
    const struct yamldoc_node *node; /* the value at fault: its position is where to point */
    const char *path;                /* dotted instance path ("" = top level) */
    const char *rule;                /* "schema-type", "unknown-key", "schema-required", … */
    const char *message;
};

/* Returns 0 to continue, non-zero to stop validating. */
typedef int (*jsonschema_report_fn)(void *ctx, const struct jsonschema_violation *violation);

/* Loads and checks a schema file; NULL with the reason (file:line:col for JSON errors) in `why`. */
struct jsonschema *jsonschema_load_file(const char *path, char *why, size_t cap);
/* The same for a schema held in memory (tests, fuzzing). */
struct jsonschema *jsonschema_load_string(const char *text, char *why, size_t cap);
void jsonschema_free(struct jsonschema *schema);

/* Things in the schema this validator does not enforce (unsupported keyword, remote $ref,
 * pattern PCRE2 refuses), one sentence each. */
size_t jsonschema_warning_count(const struct jsonschema *schema);
const char *jsonschema_warning_at(const struct jsonschema *schema, size_t i);

/* Validates; returns the number of violations reported, or -1 when a budget was exhausted (then
 * `err` says which). */
long jsonschema_validate(struct jsonschema *schema, const struct yamldoc_node *root,
                         jsonschema_report_fn report, void *ctx, char *err, size_t err_len);

/* For `chart values docs`: the root schema, and a subschema with its $ref chain followed. */
const json_t *jsonschema_root(const struct jsonschema *schema);
const json_t *jsonschema_resolve(const struct jsonschema *schema, const json_t *subschema);

/* A schema `pattern` (ECMA-262 syntax) compiled with PCRE2 in UTF-8 mode; one match at a time. */
struct jsonschema_pattern;

/* Compiles `ecma` to be matched as ECMA-262 RegExp.test does (unanchored, no flags); NULL with the
 * reason (PCRE2's message and offset, or out of memory) in `why`. */
struct jsonschema_pattern *jsonschema_pattern_compile(const char *ecma, char *why, size_t cap);

/* The outcome of one match; ERROR when the text is not UTF-8 or a match limit ran out. */
enum jsonschema_match { JSONSCHEMA_MATCH_NO, JSONSCHEMA_MATCH_YES, JSONSCHEMA_MATCH_ERROR };

/* Whether the pattern occurs in `text` (`len` bytes, NULs allowed); on ERROR the reason is in `why`. */
enum jsonschema_match jsonschema_pattern_match(struct jsonschema_pattern *pattern, const char *text,
                                               size_t len, char *why, size_t cap);

/* Frees a compiled pattern (NULL is fine). */
void jsonschema_pattern_free(struct jsonschema_pattern *pattern);

#endif
