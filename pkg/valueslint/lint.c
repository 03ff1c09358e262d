/* valueslint: the `chart values lint` pipeline, in Helm's order:
 *   user values = -f files deep-merged left to right, then each --set applied;
 *   final       = user values coalesced onto the chart's values.yaml (null deletes a default);
 * then schema validation and the chart rules on the final tree. */
#include "valueslint/valueslint.h"

#include "jsonschema/jsonschema.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct lint_state {
    struct valueslint_report report;
    struct yamldoc_set *set;
    struct jsonschema *schema;
    const char **sources; /* files in merge order, for sorting findings */
    size_t source_count;
};

static void add_source(struct lint_state *state, const char *source)
{
    for (size_t i = 0; i < state->source_count; i++)
        if (strcmp(state->sources[i], source) == 0)
            return;
    state->sources[state->source_count++] = source;
}

static void add_load_error(struct lint_state *state, const struct yamldoc_error *err)
{
    valueslint_report_add(&state->report, VALUESLINT_ERROR, err->rule, err->pos, "", "%s", err->message);
}

static int on_violation(void *ctx, const struct jsonschema_violation *v)
{
    struct lint_state *state = ctx;
    if (strcmp(v->rule, "unknown-key") == 0 || v->path[0] == '\0')
        valueslint_report_add(&state->report, VALUESLINT_ERROR, v->rule, v->node->pos, v->path, "%s",
                              v->message);
    else
        valueslint_report_add(&state->report, VALUESLINT_ERROR, v->rule, v->node->pos, v->path, "%s: %s",
                              v->path, v->message);
    return 0;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, "-") == 0 || strcmp(b, "-") == 0)
        return false;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Duplicates and notes recorded by the loads of one run (the set keeps those of earlier runs). */
static void report_duplicates(struct lint_state *state, size_t first_duplicate, size_t first_note,
                              size_t seen_before)
{
    for (size_t i = first_duplicate; i < yamldoc_duplicate_count(state->set); i++) {
        const struct yamldoc_duplicate *dup = yamldoc_duplicate_at(state->set, i);
        valueslint_report_add(&state->report, VALUESLINT_ERROR, "duplicate-key", dup->pos, dup->path,
                              "%s: duplicate key (first at line %u); Helm silently uses this later value",
                              dup->path, dup->first.line);
    }
    size_t stored = yamldoc_duplicate_count(state->set) - first_duplicate;
    size_t seen = yamldoc_duplicates_seen(state->set) - seen_before;
    if (seen > stored && stored > 0) {
        const struct yamldoc_duplicate *last =
            yamldoc_duplicate_at(state->set, yamldoc_duplicate_count(state->set) - 1);
        valueslint_report_add(&state->report, VALUESLINT_ERROR, "duplicate-key", last->pos, "",
                              "%zu more duplicate keys after this one are not listed", seen - stored);
    }
    for (size_t i = first_note; i < yamldoc_note_count(state->set); i++) {
        const struct yamldoc_error *note = yamldoc_note_at(state->set, i);
        valueslint_report_add(&state->report, VALUESLINT_WARNING, note->rule, note->pos, "", "%s",
                              note->message);
    }
}

/* Loads everything and merges it; returns the final tree or NULL after recording a load error. */
static struct yamldoc_node *load_values(struct lint_state *state, const struct valueslint_options *options,
                                        const char *const *values_files, size_t values_file_count,
                                        bool *deploy_input)
{
    struct yamldoc_error err;
    struct yamldoc_node *chart_values = NULL;
    if (options->chart_values_path != NULL) {
        if (yamldoc_load_file(state->set, options->chart_values_path, &chart_values, &err) != 0) {
            add_load_error(state, &err);
            return NULL;
        }
        add_source(state, chart_values->pos.source);
    }
    struct yamldoc_node *user = yamldoc_node_new(state->set, YAMLDOC_MAP, (struct yamldoc_pos){0});
    if (user == NULL)
        goto out_of_memory;
    *deploy_input = options->set_count > 0;
    for (size_t i = 0; i < values_file_count; i++) {
        const char *path = values_files[i];
        /* `-f chart/bollard/values.yaml` merges the defaults onto themselves: nothing to add, and
         * loading it twice would report its duplicate keys twice. */
        if (options->chart_values_path != NULL && same_file(path, options->chart_values_path))
            continue;
        struct yamldoc_node *file_values = NULL;
        if (yamldoc_load_file(state->set, path, &file_values, &err) != 0) {
            add_load_error(state, &err);
            return NULL;
        }
        add_source(state, file_values->pos.source);
        *deploy_input = true;
        user = yamldoc_merge(state->set, user, file_values, YAMLDOC_MERGE_OVERRIDE);
        if (user == NULL)
            goto out_of_memory;
    }
    for (size_t i = 0; i < options->set_count; i++) {
        if (yamldoc_apply_set(state->set, &user, options->sets[i].text, options->sets[i].force_string,
                              (unsigned)(i + 1), &err) != 0) {
            add_load_error(state, &err);
            return NULL;
        }
    }
    struct yamldoc_node *final =
        chart_values ? yamldoc_merge(state->set, chart_values, user, YAMLDOC_MERGE_COALESCE) : user;
    if (final == NULL)
        goto out_of_memory;
    if (final->pos.source == NULL && state->source_count > 0)
        final->pos = (struct yamldoc_pos){state->sources[state->source_count - 1], 1, 1};
    return final;
out_of_memory:
    valueslint_report_add(&state->report, VALUESLINT_ERROR, "yaml-limit", (struct yamldoc_pos){0}, "",
                          "the merged values need more than %zu MiB of memory",
                          YAMLDOC_MAX_ARENA_BYTES >> 20);
    return NULL;
}

static void print_summary(const struct lint_state *state, FILE *err)
{
    size_t errors = valueslint_report_count(&state->report, VALUESLINT_ERROR);
    size_t warnings = valueslint_report_count(&state->report, VALUESLINT_WARNING);
    if (errors == 0 && warnings == 0)
        fprintf(err, "chart values lint: no findings in %zu file%s\n", state->source_count,
                state->source_count == 1 ? "" : "s");
    else
        fprintf(err, "chart values lint: %zu error%s, %zu warning%s\n", errors, errors == 1 ? "" : "s",
                warnings, warnings == 1 ? "" : "s");
}

/* One install's worth of values: load, merge, validate, apply the rules. -1 on an input error. */
static int lint_one(struct lint_state *state, const struct valueslint_options *options,
                    const char *const *values_files, size_t values_file_count)
{
    bool deploy_input = false;
    size_t first_duplicate = yamldoc_duplicate_count(state->set);
    size_t first_note = yamldoc_note_count(state->set);
    size_t seen_before = yamldoc_duplicates_seen(state->set);
    struct yamldoc_node *values = load_values(state, options, values_files, values_file_count, &deploy_input);
    if (values == NULL)
        return -1;
    report_duplicates(state, first_duplicate, first_note, seen_before);
    if (state->schema != NULL) {
        char message[256];
        if (jsonschema_validate(state->schema, values, on_violation, state, message, sizeof(message)) < 0) {
            struct yamldoc_pos pos = {options->schema_path, 0, 0};
            valueslint_report_add(&state->report, VALUESLINT_ERROR, "schema-error", pos, "", "%s", message);
            return -1;
        }
    }
    valueslint_check_rules(&state->report, values, deploy_input);
    return 0;
}

int valueslint_run(const struct valueslint_options *options, FILE *out, FILE *err)
{
    int status = VALUESLINT_EXIT_ERROR;
    bool input_error = false;
    struct lint_state state = {0};
    valueslint_report_init(&state.report);
    state.set = yamldoc_set_new();
    state.sources = calloc(options->values_file_count + 1, sizeof(*state.sources));
    /* the chart's values.yaml plus each -f file, each named once */
    if (state.set == NULL || state.sources == NULL) {
        fprintf(err, "chart values lint: out of memory\n");
        goto cleanup;
    }
    if (options->schema_path != NULL) {
        char message[512];
        state.schema = jsonschema_load_file(options->schema_path, message, sizeof(message));
        if (state.schema == NULL) {
            struct yamldoc_pos pos = {options->schema_path, 0, 0};
            valueslint_report_add(&state.report, VALUESLINT_ERROR, "schema-error", pos, "",
                                  "cannot use the schema: %s", message);
            input_error = true;
            goto output;
        }
        for (size_t i = 0; i < jsonschema_warning_count(state.schema); i++)
            fprintf(err, "%s: note: %s\n", options->schema_path, jsonschema_warning_at(state.schema, i));
    }
    size_t runs =
        options->each_file_separately && options->values_file_count > 0 ? options->values_file_count : 1;
    for (size_t run = 0; run < runs; run++) {
        const char *const *files = options->values_files;
        size_t file_count = options->values_file_count;
        if (options->each_file_separately && file_count > 0) {
            files = &options->values_files[run];
            file_count = 1;
        }
        if (lint_one(&state, options, files, file_count) != 0) {
            input_error = true;
            goto output;
        }
    }
    valueslint_report_sort(&state.report, state.sources, state.source_count);

output:
    if (valueslint_write(&state.report, options->format, out) != 0 || fflush(out) != 0) {
        fprintf(err, "chart values lint: cannot write the report\n");
        status = VALUESLINT_EXIT_ERROR;
        goto cleanup;
    }
    if (state.report.out_of_memory)
        fprintf(err, "chart values lint: too many findings; the report is truncated\n");
    print_summary(&state, err);
    if (input_error)
        status = VALUESLINT_EXIT_ERROR;
    else if (valueslint_report_count(&state.report, VALUESLINT_ERROR) > 0 || state.report.out_of_memory)
        status = VALUESLINT_EXIT_FINDINGS;
    else if (options->fail_on_warnings && valueslint_report_count(&state.report, VALUESLINT_WARNING) > 0)
        status = VALUESLINT_EXIT_FINDINGS;
    else
        status = VALUESLINT_EXIT_CLEAN;
cleanup:
    valueslint_report_free(&state.report);
    jsonschema_free(state.schema);
    yamldoc_set_free(state.set);
    free(state.sources);
    return status;
}
