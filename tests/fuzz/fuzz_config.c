/* libFuzzer: config_load (CONTRACT §3) with a fuzzed environment. Input: the first byte is the role
 * mask, then NAME=VALUE lines; the lookup answers from them (the last one wins), so every variable's
 * parsing and the cross-variable checks see arbitrary text. Problems are written to a null stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define MAX_VARS 64

struct env {
    char *names[MAX_VARS];
    char *values[MAX_VARS];
    size_t n;
};

static const char *lookup(const char *name, void *ctx)
{
    const struct env *e = ctx;
    for (size_t i = e->n; i-- > 0;)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (null == NULL && (null = fopen("/dev/null", "w")) == NULL)
        abort();
    if (size < 1)
        return 0;
    unsigned roles = data[0] & (CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_MIGRATE |
                                CONFIG_ROLE_CHECK | CONFIG_ROLE_DEV);
    if (roles == 0)
        roles = CONFIG_ROLE_API;
    char *text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct env env = {.n = 0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL && env.n < MAX_VARS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        env.names[env.n] = line;
        env.values[env.n] = eq + 1;
        env.n++;
    }
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int problems = config_load(&cfg, roles, lookup, &env, null);
    if (problems < 0)
        abort();
    config_free(&cfg);
    free(text);
    return 0;
}
