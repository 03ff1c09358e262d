#include "base/base.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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

bool base_uuid_v4(char out[BASE_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    /* 16 bytes never come back short from getrandom once its pool is initialised (any time after
     * boot); a short read is treated as a failure rather than a weaker id. */
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
    return true;
}

size_t base_edit_distance(const char *a, const char *b, size_t cap)
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

int base_role_args(int argc, char **argv, void (*usage)(FILE *out))
{
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return BASE_EXIT_OK;
    }
    fprintf(stderr, "bollard %s: unexpected argument '%s'\n", argv[0], argv[1]);
    usage(stderr);
    return BASE_EXIT_USAGE;
}

int base_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    /* The thread inherits the mask in force when it is created. */
    sigset_t all, old;
    sigfillset(&all);
    int rc = pthread_sigmask(SIG_BLOCK, &all, &old);
    if (rc != 0)
        return rc;
    rc = pthread_create(thread, NULL, fn, arg);
    /* Cannot fail with a mask it returned itself; and a thread that exists must be reported as such. */
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

char *base_memdup(const void *src, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, src, len);
        copy[len] = '\0';
    }
    return copy;
}

bool base_buf_append(struct base_buf *b, const void *data, size_t len)
{
    if (len > SIZE_MAX - b->len)
        return false;
    if (b->len + len > b->cap) {
        size_t cap = b->cap == 0 ? 1024 : b->cap;
        while (cap < b->len + len) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        char *grown = malloc(cap);
        if (grown == NULL)
            return false;
        if (b->len > 0)
            memcpy(grown, b->bytes, b->len);
        size_t used = b->len;
        base_buf_free(b);
        *b = (struct base_buf){.bytes = grown, .len = used, .cap = cap};
    }
    if (len > 0)
        memcpy(b->bytes + b->len, data, len);
    b->len += len;
    return true;
}

void base_buf_reset(struct base_buf *b)
{
    if (b->bytes != NULL)
        explicit_bzero(b->bytes, b->len);
    b->len = 0;
}

void base_buf_free(struct base_buf *b)
{
    if (b->bytes != NULL)
        explicit_bzero(b->bytes, b->cap);
    free(b->bytes);
    *b = (struct base_buf){0};
}
