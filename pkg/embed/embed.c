/* Lookup over the tables pkg/embed/tools/embed.c generates, and the one Accept-Encoding check. */
#include "embed/embed.h"

#include <string.h>
#include <strings.h>

const struct embed_file *embed_find(const struct embed_file *table, size_t count, const char *name,
                                    size_t name_len)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(table[i].name) == name_len && memcmp(table[i].name, name, name_len) == 0)
            return &table[i];
    return NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* q=0 (or 0.0, 0.00, 0.000) refuses a coding (RFC 9110 §12.5.3); anything else accepts it. */
static bool q_is_zero(const char *p, size_t n)
{
    while (n > 0 && is_ows(*p))
        p++, n--;
    if (n < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
        return false;
    p += 2, n -= 2;
    if (n == 0 || p[0] != '0')
        return false;
    for (size_t i = 1; i < n; i++)
        if (p[i] != '.' && p[i] != '0' && !is_ows(p[i]))
            return false;
    return true;
}

bool embed_accepts_gzip(const char *value, size_t len)
{
    size_t i = 0;
    bool star = false;
    while (i < len) {
        size_t end = i;
        while (end < len && value[end] != ',')
            end++;
        size_t s = i, e = end;
        while (s < e && is_ows(value[s]))
            s++;
        size_t semi = s;
        while (semi < e && value[semi] != ';')
            semi++;
        size_t tok_end = semi;
        while (tok_end > s && is_ows(value[tok_end - 1]))
            tok_end--;
        bool refused = semi < e && q_is_zero(value + semi + 1, e - semi - 1);
        size_t tok_len = tok_end - s;
        if ((tok_len == 4 && strncasecmp(value + s, "gzip", 4) == 0) ||
            (tok_len == 6 && strncasecmp(value + s, "x-gzip", 6) == 0))
            return !refused; /* an explicit gzip entry decides, whatever "*" says */
        if (tok_len == 1 && value[s] == '*' && !refused)
            star = true;
        i = end + 1;
    }
    return star;
}
