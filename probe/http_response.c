#include "http_response.h"

#include <string.h>

/* RFC 9110 tchar: the characters allowed in a header field name. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values and reason phrases: HTAB, SP, VCHAR and obs-text. */
static bool is_text_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Line ends are CRLF, or a bare LF, which RFC 9112 lets recipients accept. Returns the number of bytes
 * of the line end at data[pos] (1 or 2), 0 when more bytes are needed, -1 when it is not a line end. */
static int line_end_at(const char *data, size_t length, size_t pos)
{
    if (pos >= length)
        return 0;
    if (data[pos] == '\n')
        return 1;
    if (data[pos] != '\r')
        return -1;
    if (pos + 1 >= length)
        return 0;
    return data[pos + 1] == '\n' ? 2 : -1;
}

static enum http_parse_status invalid(struct http_response_head *head, const char *why)
{
    head->error = why;
    return HTTP_PARSE_INVALID;
}

/* Parses one status line at data[*pos]; on success advances *pos past its line end. */
static enum http_parse_status parse_status_line(const char *data, size_t length, size_t *pos,
                                                struct http_response_head *head)
{
    static const char version_prefix[] = "HTTP/1.";
    const size_t prefix_length = sizeof version_prefix - 1;
    size_t p = *pos;
    size_t available = length - p;
    size_t compared = available < prefix_length ? available : prefix_length;

    if (memcmp(data + p, version_prefix, compared) != 0)
        return invalid(head, "not an HTTP/1.x response");
    if (available <= prefix_length)
        return HTTP_PARSE_INCOMPLETE;
    p += prefix_length;
    if (data[p] != '0' && data[p] != '1')
        return invalid(head, "unsupported HTTP version");
    head->minor_version = data[p] - '0';
    p++;
    if (p >= length)
        return HTTP_PARSE_INCOMPLETE;
    if (data[p] != ' ')
        return invalid(head, "malformed status line");
    p++;

    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p >= length)
            return HTTP_PARSE_INCOMPLETE;
        if (!is_digit((unsigned char)data[p]))
            return invalid(head, "malformed status code");
        status = status * 10 + (data[p] - '0');
    }
    if (status < 100 || status > 599)
        return invalid(head, "status code out of range");
    head->status = status;

    /* The reason phrase is optional, and so, in practice, is the space before it. */
    if (p >= length)
        return HTTP_PARSE_INCOMPLETE;
    if (data[p] == ' ') {
        for (p++; p < length && data[p] != '\r' && data[p] != '\n'; p++) {
            if (!is_text_char((unsigned char)data[p]))
                return invalid(head, "control character in status line");
        }
    }
    int end = line_end_at(data, length, p);
    if (end < 0)
        return invalid(head, "malformed status line");
    if (end == 0)
        return HTTP_PARSE_INCOMPLETE;
    *pos = p + (size_t)end;
    return HTTP_PARSE_DONE;
}

/* Parses header lines up to and including the blank line; on success advances *pos past it. */
static enum http_parse_status parse_header_block(const char *data, size_t length, size_t *pos,
                                                 struct http_response_head *head)
{
    size_t p = *pos;
    for (;;) {
        int end = line_end_at(data, length, p);
        if (end > 0) {
            *pos = p + (size_t)end;
            return HTTP_PARSE_DONE;
        }
        if (p >= length || (end == 0 && data[p] == '\r'))
            return HTTP_PARSE_INCOMPLETE;
        if (data[p] == ' ' || data[p] == '\t')
            return invalid(head, "obsolete header line folding");

        size_t name_start = p;
        while (p < length && is_tchar((unsigned char)data[p]))
            p++;
        if (p >= length)
            return HTTP_PARSE_INCOMPLETE;
        if (data[p] != ':' || p == name_start)
            return invalid(head, "malformed header line");
        for (p++; p < length && data[p] != '\r' && data[p] != '\n'; p++) {
            if (!is_text_char((unsigned char)data[p]))
                return invalid(head, "control character in header value");
        }
        end = line_end_at(data, length, p);
        if (end < 0)
            return invalid(head, "malformed header line");
        if (end == 0)
            return HTTP_PARSE_INCOMPLETE;
        p += (size_t)end;
    }
}

enum http_parse_status http_response_parse(const char *data, size_t length, struct http_response_head *head)
{
    memset(head, 0, sizeof *head);
    size_t pos = 0;
    for (;;) {
        if (pos >= length)
            return HTTP_PARSE_INCOMPLETE;
        enum http_parse_status result = parse_status_line(data, length, &pos, head);
        if (result != HTTP_PARSE_DONE)
            return result;
        result = parse_header_block(data, length, &pos, head);
        if (result != HTTP_PARSE_DONE)
            return result;
        /* 1xx heads other than 101 are interim (100 Continue, 103 Early Hints): the answer follows. */
        if (head->status >= 200 || head->status == 101) {
            head->head_length = pos;
            return HTTP_PARSE_DONE;
        }
    }
}

/* Reads a three-digit status code at *cursor. */
static bool parse_status_code(const char **cursor, int *code)
{
    const char *s = *cursor;
    int value = 0;
    for (int i = 0; i < 3; i++) {
        if (!is_digit((unsigned char)s[i]))
            return false;
        value = value * 10 + (s[i] - '0');
    }
    if (is_digit((unsigned char)s[3]) || value < 100 || value > 599)
        return false;
    *cursor = s + 3;
    *code = value;
    return true;
}

bool http_status_set_parse(const char *spec, struct http_status_set *set)
{
    memset(set, 0, sizeof *set);
    const char *cursor = spec;
    for (;;) {
        int low;
        int high;
        if (!parse_status_code(&cursor, &low))
            return false;
        high = low;
        if (*cursor == '-') {
            cursor++;
            if (!parse_status_code(&cursor, &high) || high < low)
                return false;
        }
        for (int code = low; code <= high; code++)
            set->bits[code / 64] |= UINT64_C(1) << (code % 64);
        if (*cursor == '\0')
            return true;
        if (*cursor != ',')
            return false;
        cursor++;
    }
}

bool http_status_set_contains(const struct http_status_set *set, int status)
{
    if (status < 0 || status >= 640)
        return false;
    return (set->bits[status / 64] >> (status % 64)) & 1;
}
