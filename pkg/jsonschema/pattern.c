/* jsonschema: schema patterns matched with PCRE2.
 *
 * JSON Schema's `pattern` is an ECMA-262 regular expression tested as RegExp.test does it: a match
 * anywhere in the string, ^ and $ only at its ends, no flags. PCRE2 reads that syntax; the options
 * below close the gaps that matter: UTF-8 code points (not bytes), Unicode \s, `.` stopping at CR
 * and LF, `$` only at the very end (not before a final newline), \uHHHH and \u{H…}, `[^]`, and
 * unset backreferences matching empty. What remains different (rare in values schemas): `.` also
 * matches U+2028/U+2029; \s misses U+FEFF; with PCRE2 older than 10.43 (Debian 12 has 10.42) \d and
 * \w also match non-ASCII digits and letters; a lookbehind must have a bounded length (PCRE2 refuses
 * the pattern, and the validator notes it is not enforced). */
#include "jsonschema/jsonschema.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* Bounds one match (a pattern with nested quantifiers must not spin on a long value): steps of the
 * matcher, backtracking depth, and heap in KiB. Far above what any chart pattern needs. */
#define PATTERN_MATCH_LIMIT    1000000u
#define PATTERN_DEPTH_LIMIT    10000u
#define PATTERN_HEAP_LIMIT_KIB 8192u

#define PATTERN_COMPILE_OPTIONS                                                                              \
    (PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS |               \
     PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C)
#ifdef PCRE2_EXTRA_ASCII_BSD
/* PCRE2 >= 10.43: \d and \w ASCII-only as in ECMA-262, while \s stays Unicode. */
#define PATTERN_EXTRA_OPTIONS (PCRE2_EXTRA_ALT_BSUX | PCRE2_EXTRA_ASCII_BSD | PCRE2_EXTRA_ASCII_BSW)
#else
#define PATTERN_EXTRA_OPTIONS PCRE2_EXTRA_ALT_BSUX
#endif

struct jsonschema_pattern {
    pcre2_code *code;
    pcre2_match_data *data; /* one match at a time: the validator is single-threaded */
    pcre2_match_context *limits;
};

static void pcre2_reason(int code, char *buf, size_t cap)
{
    PCRE2_UCHAR message[160];
    if (pcre2_get_error_message(code, message, sizeof(message)) < 0)
        snprintf((char *)message, sizeof(message), "PCRE2 error %d", code);
    snprintf(buf, cap, "%s", (const char *)message);
}

void jsonschema_pattern_free(struct jsonschema_pattern *pattern)
{
    if (pattern == NULL)
        return;
    pcre2_match_context_free(pattern->limits);
    pcre2_match_data_free(pattern->data);
    pcre2_code_free(pattern->code);
    free(pattern);
}

struct jsonschema_pattern *jsonschema_pattern_compile(const char *ecma, char *why, size_t cap)
{
    struct jsonschema_pattern *pattern = calloc(1, sizeof(*pattern));
    pcre2_compile_context *context = pcre2_compile_context_create(NULL);
    if (pattern == NULL || context == NULL)
        goto out_of_memory;
    if (pcre2_set_newline(context, PCRE2_NEWLINE_ANYCRLF) != 0 ||
        pcre2_set_compile_extra_options(context, PATTERN_EXTRA_OPTIONS) != 0) {
        base_why(why, cap, "this PCRE2 lacks the ECMA-262 options");
        goto fail;
    }
    int code;
    PCRE2_SIZE offset;
    pattern->code = pcre2_compile((PCRE2_SPTR)ecma, PCRE2_ZERO_TERMINATED, PATTERN_COMPILE_OPTIONS, &code,
                                  &offset, context);
    if (pattern->code == NULL) {
        char reason[160];
        pcre2_reason(code, reason, sizeof(reason));
        base_why(why, cap, "%s (at offset %zu)", reason, (size_t)offset);
        goto fail;
    }
    pattern->data = pcre2_match_data_create(1, NULL);
    pattern->limits = pcre2_match_context_create(NULL);
    if (pattern->data == NULL || pattern->limits == NULL)
        goto out_of_memory;
    if (pcre2_set_match_limit(pattern->limits, PATTERN_MATCH_LIMIT) != 0 ||
        pcre2_set_depth_limit(pattern->limits, PATTERN_DEPTH_LIMIT) != 0 ||
        pcre2_set_heap_limit(pattern->limits, PATTERN_HEAP_LIMIT_KIB) != 0) {
        base_why(why, cap, "cannot set the PCRE2 match limits");
        goto fail;
    }
    pcre2_compile_context_free(context);
    return pattern;
out_of_memory:
    base_why(why, cap, "out of memory");
fail:
    pcre2_compile_context_free(context);
    jsonschema_pattern_free(pattern);
    return NULL;
}

enum jsonschema_match jsonschema_pattern_match(struct jsonschema_pattern *pattern, const char *text,
                                               size_t len, char *why, size_t cap)
{
    int rc = pcre2_match(pattern->code, (PCRE2_SPTR)text, len, 0, 0, pattern->data, pattern->limits);
    if (rc >= 0) /* 0: a match with more groups than the one-pair vector holds */
        return JSONSCHEMA_MATCH_YES;
    if (rc == PCRE2_ERROR_NOMATCH)
        return JSONSCHEMA_MATCH_NO;
    pcre2_reason(rc, why, cap);
    return JSONSCHEMA_MATCH_ERROR;
}
