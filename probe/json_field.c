#include "json_field.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define JSON_MAX_DEPTH  64  /* nesting deeper than this is refused rather than recursed into */
#define JSON_KEY_MAX    256 /* longer keys cannot equal a key given on the command line anyway */
#define JSON_STRING_MAX 512
#define JSON_TRUNCATED  "..."

struct json_cursor {
    const char *at;
    const char *end;
};

/* A decoded string, kept only as far as it fits; truncated strings never compare equal. */
struct json_text {
    char bytes[JSON_STRING_MAX];
    size_t length;
    bool truncated;
};

enum json_kind { JSON_KIND_STRING, JSON_KIND_SCALAR, JSON_KIND_OBJECT, JSON_KIND_ARRAY };

static void skip_space(struct json_cursor *c)
{
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r'))
        c->at++;
}

static bool consume(struct json_cursor *c, char expected)
{
    if (c->at < c->end && *c->at == expected) {
        c->at++;
        return true;
    }
    return false;
}

static void text_append(struct json_text *text, const char *bytes, size_t count)
{
    if (text == NULL)
        return;
    if (text->truncated || count > sizeof text->bytes - text->length) {
        text->truncated = true;
        return;
    }
    memcpy(text->bytes + text->length, bytes, count);
    text->length += count;
}

static bool read_hex4(struct json_cursor *c, unsigned *value)
{
    if (c->end - c->at < 4)
        return false;
    *value = 0;
    for (int i = 0; i < 4; i++) {
        char h = c->at[i];
        unsigned digit;
        if (h >= '0' && h <= '9')
            digit = (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f')
            digit = (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            digit = (unsigned)(h - 'A' + 10);
        else
            return false;
        *value = *value * 16 + digit;
    }
    c->at += 4;
    return true;
}

static void append_utf8(struct json_text *text, unsigned code_point)
{
    char encoded[4];
    size_t count;
    if (code_point < 0x80) {
        encoded[0] = (char)code_point;
        count = 1;
    } else if (code_point < 0x800) {
        encoded[0] = (char)(0xc0 | (code_point >> 6));
        encoded[1] = (char)(0x80 | (code_point & 0x3f));
        count = 2;
    } else if (code_point < 0x10000) {
        encoded[0] = (char)(0xe0 | (code_point >> 12));
        encoded[1] = (char)(0x80 | ((code_point >> 6) & 0x3f));
        encoded[2] = (char)(0x80 | (code_point & 0x3f));
        count = 3;
    } else {
        encoded[0] = (char)(0xf0 | (code_point >> 18));
        encoded[1] = (char)(0x80 | ((code_point >> 12) & 0x3f));
        encoded[2] = (char)(0x80 | ((code_point >> 6) & 0x3f));
        encoded[3] = (char)(0x80 | (code_point & 0x3f));
        count = 4;
    }
    text_append(text, encoded, count);
}

static bool parse_escape(struct json_cursor *c, struct json_text *text)
{
    if (c->at >= c->end)
        return false;
    char escaped = *c->at++;
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *found = escaped != '\0' ? strchr(from, escaped) : NULL;
    if (found != NULL) {
        text_append(text, &to[found - from], 1);
        return true;
    }
    if (escaped != 'u')
        return false;
    unsigned unit;
    if (!read_hex4(c, &unit))
        return false;
    if (unit >= 0xdc00 && unit <= 0xdfff)
        return false; /* a low surrogate without its high half */
    if (unit >= 0xd800 && unit <= 0xdbff) {
        unsigned low;
        if (!consume(c, '\\') || !consume(c, 'u') || !read_hex4(c, &low) || low < 0xdc00 || low > 0xdfff)
            return false;
        unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(text, unit);
    return true;
}

/* Parses a string at the cursor (which is on its opening quote); decodes it into text unless NULL. */
static bool parse_string(struct json_cursor *c, struct json_text *text)
{
    if (text != NULL) {
        text->length = 0;
        text->truncated = false;
    }
    if (!consume(c, '"'))
        return false;
    while (c->at < c->end) {
        unsigned char ch = (unsigned char)*c->at;
        if (ch == '"') {
            c->at++;
            return true;
        }
        if (ch < 0x20)
            return false;
        c->at++;
        if (ch == '\\') {
            if (!parse_escape(c, text))
                return false;
        } else {
            text_append(text, (const char *)&ch, 1);
        }
    }
    return false;
}

static bool consume_digits(struct json_cursor *c)
{
    const char *start = c->at;
    while (c->at < c->end && *c->at >= '0' && *c->at <= '9')
        c->at++;
    return c->at > start;
}

static bool parse_number(struct json_cursor *c)
{
    consume(c, '-');
    if (consume(c, '0')) {
        if (c->at < c->end && *c->at >= '0' && *c->at <= '9')
            return false; /* no leading zeros */
    } else if (!consume_digits(c)) {
        return false;
    }
    if (consume(c, '.') && !consume_digits(c))
        return false;
    if (consume(c, 'e') || consume(c, 'E')) {
        if (!consume(c, '+'))
            consume(c, '-');
        if (!consume_digits(c))
            return false;
    }
    return true;
}

static bool parse_word(struct json_cursor *c, const char *word)
{
    size_t length = strlen(word);
    if ((size_t)(c->end - c->at) < length || memcmp(c->at, word, length) != 0)
        return false;
    c->at += length;
    return true;
}

static bool parse_value(struct json_cursor *c, int depth, enum json_kind *kind, struct json_text *text);

static bool parse_container(struct json_cursor *c, int depth, bool is_object)
{
    char close = is_object ? '}' : ']';
    if (depth >= JSON_MAX_DEPTH)
        return false;
    c->at++; /* the opening bracket */
    skip_space(c);
    if (consume(c, close))
        return true;
    for (;;) {
        enum json_kind kind;
        skip_space(c);
        if (is_object) {
            if (!parse_string(c, NULL))
                return false;
            skip_space(c);
            if (!consume(c, ':'))
                return false;
            skip_space(c);
        }
        if (!parse_value(c, depth + 1, &kind, NULL))
            return false;
        skip_space(c);
        if (consume(c, close))
            return true;
        if (!consume(c, ','))
            return false;
    }
}

/* Parses any value; a string is decoded into text when text is not NULL. */
static bool parse_value(struct json_cursor *c, int depth, enum json_kind *kind, struct json_text *text)
{
    if (c->at >= c->end)
        return false;
    switch (*c->at) {
    case '"':
        *kind = JSON_KIND_STRING;
        return parse_string(c, text);
    case '{':
        *kind = JSON_KIND_OBJECT;
        return parse_container(c, depth, true);
    case '[':
        *kind = JSON_KIND_ARRAY;
        return parse_container(c, depth, false);
    case 't':
        *kind = JSON_KIND_SCALAR;
        return parse_word(c, "true");
    case 'f':
        *kind = JSON_KIND_SCALAR;
        return parse_word(c, "false");
    case 'n':
        *kind = JSON_KIND_SCALAR;
        return parse_word(c, "null");
    default:
        *kind = JSON_KIND_SCALAR;
        return parse_number(c);
    }
}

/* Copies a value into actual for a one-line message: non-printable bytes become '?', and a value that
 * does not fit ends in "...". */
static void render(char *actual, size_t actual_size, const char *bytes, size_t length, bool truncated,
                   bool quoted)
{
    if (actual_size == 0)
        return;
    size_t room = actual_size - 1;
    size_t quotes = quoted ? 2 : 0;
    bool shortened = truncated || length + quotes > room;
    size_t keep = length;
    if (shortened) {
        size_t tail = quotes + sizeof JSON_TRUNCATED - 1;
        keep = room > tail ? room - tail : 0;
        if (keep > length)
            keep = length;
    }
    size_t out = 0;
    if (quoted && out < room)
        actual[out++] = '"';
    for (size_t i = 0; i < keep && out < room; i++) {
        unsigned char ch = (unsigned char)bytes[i];
        actual[out++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    for (const char *s = JSON_TRUNCATED; shortened && *s && out < room; s++)
        actual[out++] = *s;
    if (quoted && out < room)
        actual[out++] = '"';
    actual[out] = '\0';
}

enum json_field_result json_field_check(const char *doc, size_t length, const char *key, const char *expected,
                                        char *actual, size_t actual_size)
{
    struct json_cursor c = {doc, doc + length};
    struct json_text member_key;
    struct json_text value_text;
    size_t key_length = strlen(key);
    bool found = false;
    bool matched = false;

    if (actual_size > 0)
        actual[0] = '\0';
    skip_space(&c);
    if (!consume(&c, '{'))
        return JSON_FIELD_INVALID;
    skip_space(&c);
    if (!consume(&c, '}')) {
        for (;;) {
            skip_space(&c);
            if (!parse_string(&c, &member_key))
                return JSON_FIELD_INVALID;
            skip_space(&c);
            if (!consume(&c, ':'))
                return JSON_FIELD_INVALID;
            skip_space(&c);
            bool is_wanted = !member_key.truncated && member_key.length == key_length &&
                             memcmp(member_key.bytes, key, key_length) == 0;
            const char *value_start = c.at;
            enum json_kind kind;
            if (!parse_value(&c, 1, &kind, is_wanted ? &value_text : NULL))
                return JSON_FIELD_INVALID;
            if (is_wanted) {
                size_t value_length = (size_t)(c.at - value_start);
                size_t expected_length = strlen(expected);
                found = true;
                if (kind == JSON_KIND_STRING) {
                    matched = !value_text.truncated && value_text.length == expected_length &&
                              memcmp(value_text.bytes, expected, expected_length) == 0;
                    render(actual, actual_size, value_text.bytes, value_text.length, value_text.truncated,
                           true);
                } else if (kind == JSON_KIND_SCALAR) {
                    matched = value_length == expected_length &&
                              memcmp(value_start, expected, expected_length) == 0;
                    render(actual, actual_size, value_start, value_length, false, false);
                } else {
                    const char *what = kind == JSON_KIND_OBJECT ? "an object" : "an array";
                    matched = false;
                    render(actual, actual_size, what, strlen(what), false, false);
                }
            }
            skip_space(&c);
            if (consume(&c, '}'))
                break;
            if (!consume(&c, ','))
                return JSON_FIELD_INVALID;
        }
    }
    skip_space(&c);
    if (c.at != c.end)
        return JSON_FIELD_INVALID;
    if (!found)
        return JSON_FIELD_MISSING;
    return matched ? JSON_FIELD_MATCH : JSON_FIELD_MISMATCH;
}
