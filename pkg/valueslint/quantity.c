/* valueslint: Kubernetes resource quantities, compared exactly.
 *
 * Grammar (k8s.io/apimachinery resource.Quantity): sign? (digits | digits '.' digits? | '.' digits)
 * followed by a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal one (n u m k M G T P E) or an exponent
 * (e|E sign? digits). Floating point would call 0.1 and 100m different; here both are 1 x 10^-1. */
#include "valueslint/valueslint.h"

#include <string.h>

/* Significant digits kept: 18 digits times 2^60 (Ei) still fits in 128 bits. */
#define MAX_SIGNIFICANT_DIGITS 18

int valueslint_parse_quantity(const char *text, struct valueslint_quantity *out)
{
    const char *p = text;
    struct valueslint_quantity q = {false, 0, 0};
    if (*p == '+' || *p == '-')
        q.negative = *p++ == '-';
    size_t digits = 0, significant = 0;
    bool seen_point = false;
    for (;; p++) {
        if (*p == '.' && !seen_point) {
            seen_point = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        digits++;
        if (q.mantissa == 0 && *p == '0') {
            if (seen_point)
                q.exponent--;
            continue;
        }
        if (significant < MAX_SIGNIFICANT_DIGITS) {
            q.mantissa = q.mantissa * 10 + (unsigned)(*p - '0');
            significant++;
            if (seen_point)
                q.exponent--;
        } else if (!seen_point) {
            q.exponent++; /* digits beyond the precision kept still scale the value */
        }
    }
    if (digits == 0)
        return -1;
    static const struct {
        const char *suffix;
        int exponent10;
        unsigned shift2;
    } SUFFIXES[] = {
        {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
        {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
        {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"", 0, 0},
    };
    if ((*p == 'e' || *p == 'E') && p[1] != '\0' && p[1] != 'i') {
        const char *e = p + 1;
        bool negative_exponent = false;
        if (*e == '+' || *e == '-')
            negative_exponent = *e++ == '-';
        if (*e < '0' || *e > '9')
            return -1;
        int exponent = 0;
        for (; *e >= '0' && *e <= '9'; e++) {
            exponent = exponent * 10 + (*e - '0');
            if (exponent > 1000)
                return -1;
        }
        if (*e != '\0')
            return -1;
        q.exponent += negative_exponent ? -exponent : exponent;
        *out = q;
        return 0;
    }
    for (size_t i = 0; i < sizeof(SUFFIXES) / sizeof(SUFFIXES[0]); i++) {
        if (strcmp(p, SUFFIXES[i].suffix) != 0)
            continue;
        q.mantissa <<= SUFFIXES[i].shift2;
        q.exponent += SUFFIXES[i].exponent10;
        *out = q;
        return 0;
    }
    return -1;
}

static unsigned digit_count(unsigned __int128 value)
{
    unsigned count = 0;
    while (value > 0) {
        value /= 10;
        count++;
    }
    return count;
}

static int compare_magnitudes(const struct valueslint_quantity *a, const struct valueslint_quantity *b)
{
    if (a->mantissa == 0 || b->mantissa == 0)
        return (a->mantissa != 0) - (b->mantissa != 0);
    long magnitude_a = (long)digit_count(a->mantissa) + a->exponent;
    long magnitude_b = (long)digit_count(b->mantissa) + b->exponent;
    if (magnitude_a != magnitude_b)
        return magnitude_a < magnitude_b ? -1 : 1;
    /* Same number of integer digits: scale the one with the larger exponent down to the other's
     * exponent. Both mantissas have at most 37 digits, so the scaled one does too. */
    unsigned __int128 x = a->mantissa, y = b->mantissa;
    for (int e = a->exponent; e > b->exponent; e--)
        x *= 10;
    for (int e = b->exponent; e > a->exponent; e--)
        y *= 10;
    return x < y ? -1 : x > y;
}

int valueslint_compare_quantities(const struct valueslint_quantity *a, const struct valueslint_quantity *b)
{
    bool a_negative = a->negative && a->mantissa != 0;
    bool b_negative = b->negative && b->mantissa != 0;
    if (a_negative != b_negative)
        return a_negative ? -1 : 1;
    int magnitude = compare_magnitudes(a, b);
    return a_negative ? -magnitude : magnitude;
}
