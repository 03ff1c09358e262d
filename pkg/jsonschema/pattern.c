/* jsonschema: ECMA-262 patterns as POSIX extended regular expressions, and edit distance for
 * "did you mean" suggestions.
 *
 * Known differences that remain (documented in chart --help): matching is by byte in the C locale
 * (a multi-byte character inside [...] is several bytes), `.` also matches a newline, and ^/$ only
 * ever anchor at the ends of the string (ECMA without the m flag does the same). */
#include "jsonschema/jsonschema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out_buf {
    char *data;
    size_t cap;
    size_t len;
    bool overflow;
};

static void put(struct out_buf *out, const char *text)
{
    size_t n = strlen(text);
    if (out->len + n + 1 > out->cap) {
        out->overflow = true;
        return;
    }
    memcpy(out->data + out->len, text, n);
    out->len += n;
    out->data[out->len] = '\0';
}

static void put_char(struct out_buf *out, char c)
{
    char s[2] = {c, '\0'};
    put(out, s);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \xHH or \uHHHH at `p` (pointing after the backslash): the UTF-8 bytes, and how far to skip. */
static int escape_code_point(const char *p, char utf8[5], size_t *consumed)
{
    size_t digits = p[0] == 'x' ? 2 : 4;
    unsigned long cp = 0;
    for (size_t i = 1; i <= digits; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        cp = cp * 16 + (unsigned long)h;
    }
    if (cp == 0)
        return -1; /* a NUL cannot be part of a C regex */
    *consumed = 1 + digits;
    memset(utf8, 0, 5);
    if (cp < 0x80) {
        utf8[0] = (char)cp;
    } else if (cp < 0x800) {
        utf8[0] = (char)(0xC0 | (cp >> 6));
        utf8[1] = (char)(0x80 | (cp & 0x3F));
    } else {
        utf8[0] = (char)(0xE0 | (cp >> 12));
        utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        utf8[2] = (char)(0x80 | (cp & 0x3F));
    }
    return 0;
}

static bool is_ere_special(char c)
{
    return strchr(".[]()*+?{}|^$\\", c) != NULL;
}

/* A bracket expression: ECMA escapes are meaningful inside [...], POSIX ones are not, and `]`,
 * `-` and `^` are only literal in particular places. Returns the pattern position after `]`. */
static const char *translate_bracket(const char *p, struct out_buf *out, const char **why)
{
    bool negate = false;
    bool literal_rbracket = false, literal_hyphen = false, literal_caret = false;
    /* \d \w \s seen (bits 1, 2, 4) and \D \W \S seen: a class with its complement ([\s\S], the
     * ECMA idiom for "any character") matches everything; a lone complement has no POSIX form. */
    unsigned classes = 0, complements = 0;
    char body[512];
    struct out_buf items = {body, sizeof(body), 0, false};
    body[0] = '\0';
    p++; /* '[' */
    if (*p == '^') {
        negate = true;
        p++;
    }
    while (*p != '\0' && *p != ']') {
        if (*p == '\\') {
            char e = p[1];
            if (e == '\0') {
                *why = "pattern ends inside an escape";
                return NULL;
            }
            p += 2;
            switch (e) {
            case 'd':
                put(&items, "0-9");
                classes |= 1;
                break;
            case 'w':
                put(&items, "A-Za-z0-9_");
                classes |= 2;
                break;
            case 's':
                put(&items, "[:space:]");
                classes |= 4;
                break;
            case 'D':
                complements |= 1;
                break;
            case 'W':
                complements |= 2;
                break;
            case 'S':
                complements |= 4;
                break;
            case ']':
                literal_rbracket = true;
                break;
            case '-':
                literal_hyphen = true;
                break;
            case '^':
                literal_caret = true;
                break;
            case 'n':
                put_char(&items, '\n');
                break;
            case 't':
                put_char(&items, '\t');
                break;
            case 'r':
                put_char(&items, '\r');
                break;
            case 'x':
            case 'u': {
                char utf8[5];
                size_t consumed;
                if (escape_code_point(p - 1, utf8, &consumed) != 0) {
                    *why = "malformed \\x or \\u escape";
                    return NULL;
                }
                if ((unsigned char)utf8[0] >= 0x80) {
                    *why = "non-ASCII character inside [...] (byte-wise matching)";
                    return NULL;
                }
                if (utf8[0] == ']')
                    literal_rbracket = true;
                else if (utf8[0] == '-')
                    literal_hyphen = true;
                else if (utf8[0] == '^')
                    literal_caret = true;
                else
                    put(&items, utf8);
                p += consumed - 1;
                break;
            }
            case 'b':
                put_char(&items, '\b');
                break;
            case 'p':
            case 'P':
                *why = "Unicode property escapes (\\p{…})";
                return NULL;
            default:
                put_char(&items,
                         e); /* \\ \. \/ … : the character itself (backslash is literal in POSIX []) */
                break;
            }
            continue;
        }
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            *why = "'[:', '[.' or '[=' inside [...] means something else in POSIX";
            return NULL;
        }
        if (*p == '^') {
            literal_caret = true;
            p++;
            continue;
        }
        put_char(&items, *p);
        p++;
    }
    if (*p != ']') {
        *why = "unterminated [...]";
        return NULL;
    }
    if (items.overflow) {
        *why = "bracket expression too long";
        return NULL;
    }
    p++;
    if ((classes & complements) != 0) {
        if (negate) {
            *why = "a negated class that matches nothing";
            return NULL;
        }
        put(out, "."); /* without REG_NEWLINE, POSIX '.' matches every character */
        return p;
    }
    if (complements != 0) {
        *why = "negated class escape (\\D \\W \\S) inside [...]";
        return NULL;
    }
    if (!literal_rbracket && !literal_hyphen && !literal_caret && items.len == 0) {
        if (!negate) {
            *why = "empty character class []";
            return NULL;
        }
        put(out, "."); /* ECMA [^] is any character; POSIX '.' matches newlines too */
        return p;
    }
    if (!negate && literal_caret && !literal_rbracket && !literal_hyphen && items.len == 0) {
        put(out, "\\^");
        return p;
    }
    put_char(out, '[');
    if (negate)
        put_char(out, '^');
    if (literal_rbracket)
        put_char(out, ']');
    put(out, body);
    if (literal_caret)
        put_char(out, '^');
    if (literal_hyphen)
        put_char(out, '-');
    put_char(out, ']');
    return p;
}

int jsonschema_translate_pattern(const char *ecma, char *ere, size_t ere_len, const char **why)
{
    struct out_buf out = {ere, ere_len, 0, false};
    if (ere_len == 0) {
        *why = "no room";
        return -1;
    }
    ere[0] = '\0';
    *why = NULL;
    const char *p = ecma;
    while (*p != '\0') {
        char c = *p;
        if (c == '[') {
            p = translate_bracket(p, &out, why);
            if (p == NULL)
                return -1;
            continue;
        }
        if (c == '(' && p[1] == '?') {
            if (p[2] == ':') {
                put_char(&out, '(');
                p += 3;
                continue;
            }
            if (p[2] == '<' && p[3] != '=' && p[3] != '!') {
                const char *close = strchr(p, '>');
                if (close == NULL) {
                    *why = "malformed named group";
                    return -1;
                }
                put_char(&out, '(');
                p = close + 1;
                continue;
            }
            *why = "lookahead/lookbehind assertions";
            return -1;
        }
        if ((c == '*' || c == '+' || c == '?' || c == '}') && p[1] == '?') {
            put_char(&out, c); /* lazy and greedy quantifiers accept the same strings */
            p += 2;
            continue;
        }
        if (c != '\\') {
            put_char(&out, c);
            p++;
            continue;
        }
        char e = p[1];
        if (e == '\0') {
            *why = "pattern ends with a backslash";
            return -1;
        }
        p += 2;
        switch (e) {
        case 'd':
            put(&out, "[0-9]");
            break;
        case 'D':
            put(&out, "[^0-9]");
            break;
        case 'w':
            put(&out, "[A-Za-z0-9_]");
            break;
        case 'W':
            put(&out, "[^A-Za-z0-9_]");
            break;
        case 's':
            put(&out, "[[:space:]]");
            break;
        case 'S':
            put(&out, "[^[:space:]]");
            break;
        case 'b':
        case 'B':
            put_char(&out, '\\'); /* glibc knows word boundaries */
            put_char(&out, e);
            break;
        case 'n':
            put_char(&out, '\n');
            break;
        case 't':
            put_char(&out, '\t');
            break;
        case 'r':
            put_char(&out, '\r');
            break;
        case 'x':
        case 'u': {
            char utf8[5];
            size_t consumed;
            if (escape_code_point(p - 1, utf8, &consumed) != 0) {
                *why = "malformed \\x or \\u escape";
                return -1;
            }
            if (utf8[1] == '\0' && is_ere_special(utf8[0]))
                put_char(&out, '\\');
            put(&out, utf8);
            p += consumed - 1;
            break;
        }
        case 'p':
        case 'P':
            *why = "Unicode property escapes (\\p{…})";
            return -1;
        default:
            if (e >= '1' && e <= '9') {
                *why = "backreferences";
                return -1;
            }
            if (is_ere_special(e))
                put_char(&out, '\\');
            put_char(&out, e);
            break;
        }
    }
    if (out.overflow) {
        *why = "pattern too long";
        return -1;
    }
    return 0;
}

size_t jsonschema_edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        size_t best = row[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            /* Case slips (replicacount) are the commonest key typo: they cost nothing here, so
             * the right spelling always wins the suggestion. */
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t value = diagonal + cost;
            if (above + 1 < value)
                value = above + 1;
            if (row[j - 1] + 1 < value)
                value = row[j - 1] + 1;
            row[j] = value;
            diagonal = above;
            if (value < best)
                best = value;
        }
        if (best > cap)
            return cap + 1;
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}
