#include "base/base.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

uint64_t base_now_ns(void)
{
    struct timespec ts;
    /* Cannot fail for CLOCK_MONOTONIC on Linux; a zero time would only make a deadline early. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t base_now_ms(void)
{
    return base_now_ns() / 1000000u;
}

void base_why(char *why, size_t cap, const char *fmt, ...)
{
    if (why == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(why, cap, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
}

void base_one_line(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (const char *p = in != NULL ? in : ""; *p != '\0' && o + 1 < cap; p++)
        out[o++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

int base_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void base_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

bool base_percent_decode(const char *s, size_t len, bool plus_is_space, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return false;
            int hi = base_hex_value((unsigned char)s[i + 1]), lo = base_hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
        }
        if (ch == '\0' || o + 1 >= cap)
            return false;
        out[o++] = ch;
    }
    out[o] = '\0';
    return true;
}

bool base_uuid_is_valid(const char *s, size_t len)
{
    if (s == NULL || len != BASE_UUID_LEN)
        return false;
    for (size_t i = 0; i < BASE_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

void base_uuid_lower(const char *s, char out[BASE_UUID_LEN + 1])
{
    for (size_t i = 0; i < BASE_UUID_LEN; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[BASE_UUID_LEN] = '\0';
}
