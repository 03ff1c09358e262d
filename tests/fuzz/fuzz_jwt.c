/* libFuzzer: the bearer-token path (auth_token_verify) with arbitrary tokens. The first byte picks a
 * secret (one fixed, or the next bytes up to a '|'); the rest is the token. A token issued by
 * auth_token_issue for the fixed secret is verified too, with the fuzzed bytes spliced into it, so
 * the fuzzer starts from signatures that match. Invariants: OK implies a 36-character subject. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

static const char secret[] = "fuzz-secret-fuzz-secret-fuzz-secret-0123";
#define NOW ((time_t)1800000000)

static void check(const char *key, size_t key_len, const char *token, size_t len)
{
    char user[BASE_UUID_LEN + 1];
    memset(user, 'x', sizeof(user));
    enum auth_token_status st = auth_token_verify(key, key_len, token, len, NOW, user);
    if (st == AUTH_TOKEN_OK && strlen(user) != BASE_UUID_LEN)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *key = secret;
    size_t key_len = sizeof(secret) - 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        const char *bar = memchr(p, '|', n);
        if (bar != NULL) {
            key = p;
            key_len = (size_t)(bar - p);
            n -= key_len + 1;
            p = bar + 1;
        }
    }
    /* as given (not NUL-terminated: a copy exactly `n` long) */
    char *token = malloc(n + 1);
    if (token == NULL)
        return 0;
    memcpy(token, p, n);
    check(key, key_len, token, n);
    token[n] = '\0';
    check(key, key_len, token, n);
    free(token);

    if (data[0] & 2) {
        time_t exp;
        char *good = auth_token_issue(secret, sizeof(secret) - 1, "0b4e7a0e-5b1c-4c55-9d7e-1f2a3b4c5d6e", 1,
                                      NOW, &exp);
        if (good == NULL)
            return 0;
        size_t glen = strlen(good);
        size_t at = n > 0 ? (size_t)data[1 % size] % (glen + 1) : 0;
        char *mixed = malloc(glen + n + 1);
        if (mixed != NULL) {
            memcpy(mixed, good, at);
            memcpy(mixed + at, p, n);
            memcpy(mixed + at + n, good + at, glen - at);
            mixed[glen + n] = '\0';
            check(secret, sizeof(secret) - 1, mixed, glen + n);
            free(mixed);
        }
        free(good);
    }
    return 0;
}
