/* valueslint: `chart values lint` and `chart values docs`.
 *
 * Lint merges the chart's values.yaml, -f files and --set arguments the way Helm does, validates
 * the result against values.schema.json (pkg/jsonschema) and against rules a schema cannot express
 * (rules.c, which locates the chart's values through one path table), and prints each finding as
 * `file:line:col: error|warning: message [rule-id]` (or JSON, SARIF 2.1.0, GitHub annotations),
 * pointing at the key in the file the value came from. */
#ifndef BOLLARD_VALUESLINT_H
#define BOLLARD_VALUESLINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "yamldoc/yamldoc.h"

/* Exit statuses of `chart values lint`. */
#define VALUESLINT_EXIT_CLEAN    0
#define VALUESLINT_EXIT_FINDINGS 1
#define VALUESLINT_EXIT_ERROR    2 /* usage, I/O, YAML syntax, input limits, unusable schema */

enum valueslint_severity { VALUESLINT_ERROR, VALUESLINT_WARNING };

enum valueslint_format { VALUESLINT_TEXT, VALUESLINT_JSON, VALUESLINT_SARIF, VALUESLINT_GITHUB };

struct valueslint_finding {
    enum valueslint_severity severity;
    const char *rule; /* static string, see valueslint_rule_table */
    struct yamldoc_pos pos;
    char *path;    /* dotted path of the value ("" = top level or whole file) */
    char *message; /* complete sentence, names the value */
};

struct valueslint_report {
    struct valueslint_finding *items;
    size_t count;
    size_t capacity;
    bool out_of_memory;
};

struct valueslint_rule_info {
    const char *id;
    enum valueslint_severity severity;
    const char *description;
};

/* Every rule id this tool can emit, for SARIF rule metadata and `--list-rules`. */
extern const struct valueslint_rule_info valueslint_rule_table[];
const struct valueslint_rule_info *valueslint_rule_info(const char *id);

void valueslint_report_init(struct valueslint_report *report);
void valueslint_report_free(struct valueslint_report *report);
void valueslint_report_add(struct valueslint_report *report, enum valueslint_severity severity,
                           const char *rule, struct yamldoc_pos pos, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Removes the findings of `rule` at exactly `pos` (a more specific rule has said it better);
 * returns how many. */
size_t valueslint_report_drop(struct valueslint_report *report, const char *rule, struct yamldoc_pos pos);
/* Is there already a finding about `path`? (Rules skip what the schema already reported.) */
bool valueslint_report_mentions(const struct valueslint_report *report, const char *path);
/* Orders findings by source (the order given), then line and column, and drops exact repeats
 * (the chart's own values.yaml is read once per file when files are linted separately). */
void valueslint_report_sort(struct valueslint_report *report, const char *const *sources,
                            size_t source_count);
size_t valueslint_report_count(const struct valueslint_report *report, enum valueslint_severity severity);

/* The chart rules over a merged tree. `deploy_input`: values beyond the chart defaults were given
 * (-f/--set), so "you must set X" rules apply; the bare defaults are incomplete by design. */
void valueslint_check_rules(struct valueslint_report *report, const struct yamldoc_node *root,
                            bool deploy_input);

int valueslint_write(const struct valueslint_report *report, enum valueslint_format format, FILE *out);

/* Kubernetes resource quantities: value = (negative ? -1 : 1) * mantissa * 10^exponent, exact for
 * every suffix (binary ones folded into the mantissa). */
struct valueslint_quantity {
    bool negative;
    unsigned __int128 mantissa;
    int exponent;
};
/* Parses "100m", "0.5", "1", "64Mi", "1Gi", "1e9", "1.5G", "+2k". Returns 0, or -1 when invalid. */
int valueslint_parse_quantity(const char *text, struct valueslint_quantity *out);
/* <0, 0, >0 like strcmp. */
int valueslint_compare_quantities(const struct valueslint_quantity *a, const struct valueslint_quantity *b);

struct valueslint_set_arg {
    const char *text;
    bool force_string; /* --set-string */
};

struct valueslint_options {
    const char *schema_path;       /* NULL: no schema validation */
    const char *chart_values_path; /* the chart's values.yaml (Helm's base); NULL: none */
    const char *const *values_files;
    size_t values_file_count;
    const struct valueslint_set_arg *sets;
    size_t set_count;
    /* false: the files are -f layers of one install; true: each file is linted on its own over
     * the chart's values.yaml (`chart values lint a.yaml b.yaml`), findings reported together. */
    bool each_file_separately;
    enum valueslint_format format;
    bool fail_on_warnings;
};

/* The whole `chart values lint`: returns the exit status. Findings go to `out`, the summary and
 * schema notes to `err`. */
int valueslint_run(const struct valueslint_options *options, FILE *out, FILE *err);

/* `chart values docs`: a Markdown table (key, type, default, description) from the schema, with
 * defaults from the chart's values.yaml. Returns an exit status. */
int valueslint_docs(const char *schema_path, const char *chart_values_path, FILE *out, FILE *err);

#endif
