/* libFuzzer: `chart values lint` end to end (valueslint_run): a fuzzed values file (-f) and fuzzed
 * --set/--set-string arguments, merged over the chart's values.yaml and checked against its
 * values.schema.json and the chart rules, written as JSON. Input: YAML, then optionally a NUL byte
 * and --set arguments separated by NUL bytes ('\x01' as an argument's first byte: --set-string).
 * The values file is a memfd, so no disk I/O. Also yamldoc_load_buffer + yamldoc_apply_set directly
 * on an empty tree. Runs from the repository root (the chart files are found relative to it, or
 * through BOLLARD_CHART_DIR). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "valueslint/valueslint.h"
#include "yamldoc/yamldoc.h"

#define MAX_SETS 8

static int fd = -1;
static FILE *null;
static char values_path[64], schema_path[512], chart_values_path[512];

static void setup(void)
{
    fd = memfd_create("values", 0);
    null = fopen("/dev/null", "w");
    if (fd < 0 || null == NULL)
        abort();
    snprintf(values_path, sizeof(values_path), "/proc/self/fd/%d", fd);
    const char *dir = getenv("BOLLARD_CHART_DIR");
    if (dir == NULL)
        dir = "chart/bollard";
    snprintf(schema_path, sizeof(schema_path), "%s/values.schema.json", dir);
    snprintf(chart_values_path, sizeof(chart_values_path), "%s/values.yaml", dir);
    if (access(schema_path, R_OK) != 0 || access(chart_values_path, R_OK) != 0) {
        fprintf(stderr, "fuzz_values_lint: %s not found: run from the repository root\n", schema_path);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0)
        setup();
    const uint8_t *nul = memchr(data, '\0', size);
    size_t yaml_len = nul != NULL ? (size_t)(nul - data) : size;

    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct valueslint_set_arg sets[MAX_SETS];
    size_t n_sets = 0;
    if (nul != NULL) {
        char *p = copy + yaml_len + 1;
        char *end = copy + size;
        while (p <= end && n_sets < MAX_SETS) {
            bool force = *p == '\x01';
            sets[n_sets].text = force ? p + 1 : p;
            sets[n_sets].force_string = force;
            n_sets++;
            p += strlen(p) + 1;
        }
    }

    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, yaml_len, 0) != (ssize_t)yaml_len)
        abort();
    const char *files[1] = {values_path};
    struct valueslint_options opt = {
        .schema_path = schema_path,
        .chart_values_path = chart_values_path,
        .values_files = files,
        .values_file_count = 1,
        .sets = sets,
        .set_count = n_sets,
        .each_file_separately = (size & 1) != 0,
        .format = VALUESLINT_JSON,
        .fail_on_warnings = false,
    };
    int status = valueslint_run(&opt, null, null);
    if (status != VALUESLINT_EXIT_CLEAN && status != VALUESLINT_EXIT_FINDINGS &&
        status != VALUESLINT_EXIT_ERROR)
        abort();

    /* the library surface directly: load, then every --set onto the result */
    struct yamldoc_set *set = yamldoc_set_new();
    if (set != NULL) {
        struct yamldoc_node *root = NULL;
        struct yamldoc_error err;
        if (yamldoc_load_buffer(set, "fuzz.yaml", (const char *)data, yaml_len, &root, &err) == 0 && root) {
            for (size_t i = 0; i < n_sets; i++)
                if (yamldoc_apply_set(set, &root, sets[i].text, sets[i].force_string, (unsigned)i + 1,
                                      &err) != 0)
                    break;
            if (root != NULL && !yamldoc_equal(root, root))
                abort();
        }
        yamldoc_set_free(set);
    }
    free(copy);
    return 0;
}
