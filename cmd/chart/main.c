/* chart: `chart values lint` and `chart values docs` (CI/developer tool, not in the runtime image).
 * This file only parses the command line; the work is in pkg/valueslint. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "valueslint/valueslint.h"

#ifndef BOLLARD_VERSION
#define BOLLARD_VERSION "dev"
#endif

#define DEFAULT_SCHEMA "chart/bollard/values.schema.json"
#define PATH_BYTES     4096

static void print_usage(FILE *out)
{
    fputs("Usage:\n"
          "  chart values lint [options] [FILE...]   check Helm values files (file:line:col findings)\n"
          "  chart values docs [options]             print a Markdown table of the chart's values\n"
          "  chart --help | --version\n"
          "\n"
          "values lint options: -f/--values FILE, --set K=V, --set-string K=V, --chart DIR,\n"
          "  --schema FILE, --no-schema, --chart-values FILE, --no-chart-values,\n"
          "  --format text|json|sarif|github, --fail-on warning|error, --list-rules, -h/--help\n"
          "values docs options: --chart DIR, --schema FILE, --chart-values FILE, --no-chart-values,\n"
          "  -h/--help\n"
          "\n"
          "Exit status: 0 clean, 1 findings, 2 usage/IO/YAML syntax error or input over a safety limit.\n"
          "Run `chart values lint --help` for details.\n",
          out);
}

static void print_lint_help(FILE *out)
{
    fputs(
        "Usage: chart values lint [options] [FILE...]\n"
        "\n"
        "Merges values the way Helm does (the chart's values.yaml, then each -f file, then each --set)\n"
        "and checks the result against the chart's values.schema.json and against rules a schema cannot\n"
        "express. Findings read `file:line:col: error|warning: message [rule-id]` and point at the key\n"
        "in the file the value came from; a value from --set points at `--set[N]:1:COL` (N counts the\n"
        "--set/--set-string flags from 1, COL is the column of the assignment in that argument).\n"
        "\n"
        "Values:\n"
        "  -f, --values FILE      a values file layered over the chart's values.yaml; repeatable, later\n"
        "                         files win (maps merge deeply, lists are replaced, null deletes a key);\n"
        "                         '-' reads standard input\n"
        "  FILE...                files linted one by one, each over the chart's values.yaml alone (for\n"
        "                         checking many CI values files in one call); not combinable with -f\n"
        "  --set K=V              Helm --set syntax: a.b=c, a={x,y}, a[0].b=c, \\, and \\. escapes,\n"
        "                         several assignments separated by commas; true/false/null and integers\n"
        "                         are typed, the rest are strings; repeatable, applied after -f files\n"
        "  --set-string K=V       the same, every value a string\n"
        "\n"
        "Chart:\n"
        "  --chart DIR            use DIR/values.schema.json and DIR/values.yaml\n"
        "  --schema FILE          the JSON schema (default: " DEFAULT_SCHEMA ")\n"
        "  --no-schema            skip schema validation (the chart rules still run)\n"
        "  --chart-values FILE    the chart defaults Helm starts from (default: values.yaml next to\n"
        "                         the schema)\n"
        "  --no-chart-values      start from nothing instead\n"
        "\n"
        "Output:\n"
        "  --format FORMAT        text (default), json, sarif (SARIF 2.1.0 with line/column regions) or\n"
        "                         github (workflow-command annotations)\n"
        "  --fail-on LEVEL        warning (default): any finding fails; error: warnings alone pass\n"
        "  --list-rules           print every rule id with its severity and meaning, then exit\n"
        "  -h, --help             this text\n"
        "\n"
        "Exit status:\n"
        "  0  no findings (or only warnings with --fail-on error)\n"
        "  1  findings\n"
        "  2  usage error, unreadable file, YAML syntax error, input over a safety limit, --set syntax\n"
        "     error, unusable schema\n"
        "\n"
        "Safety limits (exceeding one is exit 2): 8 MiB per file, 128 levels of nesting, 500000 values\n"
        "per file counting alias expansions (billion-laughs), 768 MiB of memory in total.\n"
        "\n"
        "Schema support: type, enum, const, numeric and length bounds, pattern, properties,\n"
        "patternProperties, additionalProperties, required, propertyNames, dependencies, items/prefixItems,\n"
        "min/maxItems, uniqueItems, contains, local $ref (#/definitions, #/$defs), allOf/anyOf/oneOf/not,\n"
        "if/then/else. `format` is not checked. Patterns are ECMA-262, matched with PCRE2 by code point as\n"
        "RegExp.test does (anywhere in the string unless anchored; '.' stops at CR/LF; lookaround and\n"
        "backreferences work); one PCRE2 refuses (e.g. an unbounded lookbehind) is not enforced (noted on\n"
        "stderr). A top-level `global` key is always allowed, as Helm passes it to every chart.\n",
        out);
}

static void print_docs_help(FILE *out)
{
    fputs("Usage: chart values docs [--chart DIR | --schema FILE] [--chart-values FILE | --no-chart-values]\n"
          "\n"
          "Prints a Markdown table with one row per value declared in the schema: key, type, the chart's\n"
          "default (from values.yaml, else the schema's \"default\") and the schema's \"description\".\n"
          "\n"
          "Exit status: 0 printed, 2 usage error or unreadable schema/values.\n",
          out);
}

static int list_rules(FILE *out)
{
    for (size_t i = 0; valueslint_rule_table[i].id != NULL; i++)
        fprintf(out, "%-26s %-8s %s\n", valueslint_rule_table[i].id,
                valueslint_rule_table[i].severity == VALUESLINT_ERROR ? "error" : "warning",
                valueslint_rule_table[i].description);
    return VALUESLINT_EXIT_CLEAN;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* `--opt VALUE` or `--opt=VALUE`: the value, advancing *i, or NULL when it is missing. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) == 0 && arg[len] == '=')
        return arg + len + 1;
    if (strcmp(arg, name) != 0)
        return NULL;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool is_option(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

struct command_line {
    struct valueslint_options options;
    const char **files;      /* -f */
    const char **positional; /* FILE... */
    size_t positional_count;
    struct valueslint_set_arg *sets;
    const char *chart_dir;
    bool no_schema;
    bool no_chart_values;
    bool help;
    bool list_rules;
    char schema_buf[PATH_BYTES];
    char values_buf[PATH_BYTES];
};

static int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *command, const char *fmt, ...)
{
    fprintf(stderr, "chart values %s: ", command);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun `chart values %s --help` for usage.\n", command);
    return VALUESLINT_EXIT_ERROR;
}

static int parse_format(const char *text, enum valueslint_format *format)
{
    static const struct {
        const char *name;
        enum valueslint_format format;
    } FORMATS[] = {{"text", VALUESLINT_TEXT},
                   {"json", VALUESLINT_JSON},
                   {"sarif", VALUESLINT_SARIF},
                   {"github", VALUESLINT_GITHUB}};
    for (size_t i = 0; i < sizeof(FORMATS) / sizeof(FORMATS[0]); i++) {
        if (strcmp(text, FORMATS[i].name) == 0) {
            *format = FORMATS[i].format;
            return 0;
        }
    }
    return -1;
}

/* Parses the arguments after `values lint|docs`. Returns -1 when it has printed a usage error. */
static int parse_arguments(const char *command, int argc, char **argv, struct command_line *cl)
{
    struct valueslint_options *o = &cl->options;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cl->help = true;
        } else if (strcmp(arg, "--list-rules") == 0) {
            cl->list_rules = true;
        } else if (strcmp(arg, "-f") == 0 || is_option(arg, "--values")) {
            value = strcmp(arg, "-f") == 0 ? (i + 1 < argc ? argv[++i] : NULL)
                                           : option_value(argc, argv, &i, "--values");
            if (value == NULL)
                return usage_error(command, "%s needs a file", arg), -1;
            cl->files[o->values_file_count++] = value;
        } else if (is_option(arg, "--set") || is_option(arg, "--set-string")) {
            bool force_string = is_option(arg, "--set-string");
            value = option_value(argc, argv, &i, force_string ? "--set-string" : "--set");
            if (value == NULL)
                return usage_error(command, "%s needs KEY=VALUE", arg), -1;
            cl->sets[o->set_count].text = value;
            cl->sets[o->set_count].force_string = force_string;
            o->set_count++;
        } else if (is_option(arg, "--schema")) {
            if ((value = option_value(argc, argv, &i, "--schema")) == NULL)
                return usage_error(command, "%s needs a file", arg), -1;
            o->schema_path = value;
        } else if (strcmp(arg, "--no-schema") == 0) {
            cl->no_schema = true;
        } else if (is_option(arg, "--chart-values")) {
            if ((value = option_value(argc, argv, &i, "--chart-values")) == NULL)
                return usage_error(command, "%s needs a file", arg), -1;
            o->chart_values_path = value;
        } else if (strcmp(arg, "--no-chart-values") == 0) {
            cl->no_chart_values = true;
        } else if (is_option(arg, "--chart")) {
            if ((value = option_value(argc, argv, &i, "--chart")) == NULL)
                return usage_error(command, "%s needs a directory", arg), -1;
            cl->chart_dir = value;
        } else if (is_option(arg, "--format")) {
            if ((value = option_value(argc, argv, &i, "--format")) == NULL ||
                parse_format(value, &o->format) != 0)
                return usage_error(command, "%s needs one of text, json, sarif, github", arg), -1;
        } else if (is_option(arg, "--fail-on")) {
            value = option_value(argc, argv, &i, "--fail-on");
            if (value == NULL || (strcmp(value, "warning") != 0 && strcmp(value, "error") != 0))
                return usage_error(command, "%s needs 'warning' or 'error'", arg), -1;
            o->fail_on_warnings = strcmp(value, "warning") == 0;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return usage_error(command, "unknown option '%s'", arg), -1;
        } else {
            cl->positional[cl->positional_count++] = arg;
        }
    }
    return 0;
}

/* Fills in the schema and chart-values defaults. Returns -1 after a usage error. */
static int resolve_chart_paths(const char *command, struct command_line *cl)
{
    struct valueslint_options *o = &cl->options;
    if (cl->chart_dir != NULL && o->schema_path == NULL) {
        snprintf(cl->schema_buf, sizeof(cl->schema_buf), "%s/values.schema.json", cl->chart_dir);
        o->schema_path = cl->schema_buf;
    }
    if (o->schema_path == NULL && !cl->no_schema)
        o->schema_path = DEFAULT_SCHEMA;
    if (o->chart_values_path == NULL && !cl->no_chart_values) {
        if (cl->chart_dir != NULL) {
            snprintf(cl->values_buf, sizeof(cl->values_buf), "%s/values.yaml", cl->chart_dir);
        } else if (o->schema_path != NULL) {
            const char *slash = strrchr(o->schema_path, '/');
            int dir_len = slash ? (int)(slash - o->schema_path) : 0;
            snprintf(cl->values_buf, sizeof(cl->values_buf), "%.*s%svalues.yaml", dir_len, o->schema_path,
                     slash ? "/" : "");
        }
        /* A schema without a values.yaml beside it is fine: Helm would then start from nothing. */
        if (cl->values_buf[0] != '\0' && (cl->chart_dir != NULL || file_exists(cl->values_buf)))
            o->chart_values_path = cl->values_buf;
    }
    if (cl->no_schema)
        o->schema_path = NULL;
    if (cl->no_chart_values)
        o->chart_values_path = NULL;
    if (o->schema_path != NULL && !file_exists(o->schema_path))
        return usage_error(command, "no schema at '%s' (pass --chart DIR, --schema FILE or --no-schema)",
                           o->schema_path),
               -1;
    return 0;
}

static int run_values_command(const char *command, int argc, char **argv)
{
    int status = VALUESLINT_EXIT_ERROR;
    struct command_line *cl = calloc(1, sizeof(*cl));
    size_t slots = (size_t)argc + 1;
    if (cl == NULL)
        goto cleanup;
    cl->files = calloc(slots, sizeof(*cl->files));
    cl->positional = calloc(slots, sizeof(*cl->positional));
    cl->sets = calloc(slots, sizeof(*cl->sets));
    if (cl->files == NULL || cl->positional == NULL || cl->sets == NULL) {
        fputs("chart: out of memory\n", stderr);
        goto cleanup;
    }
    cl->options.fail_on_warnings = true;
    cl->options.format = VALUESLINT_TEXT;
    bool docs = strcmp(command, "docs") == 0;
    if (parse_arguments(command, argc, argv, cl) != 0)
        goto cleanup;
    if (cl->help) {
        docs ? print_docs_help(stdout) : print_lint_help(stdout);
        status = VALUESLINT_EXIT_CLEAN;
        goto cleanup;
    }
    if (cl->list_rules && !docs) {
        status = list_rules(stdout);
        goto cleanup;
    }
    if (docs &&
        (cl->options.values_file_count > 0 || cl->options.set_count > 0 || cl->positional_count > 0)) {
        status = usage_error(command, "%s", "takes no values files or --set");
        goto cleanup;
    }
    if (cl->positional_count > 0 && cl->options.values_file_count > 0) {
        status = usage_error(command, "%s",
                             "give values files either with -f (layers of one install) or as arguments (each "
                             "linted on its own), not both");
        goto cleanup;
    }
    if (resolve_chart_paths(command, cl) != 0)
        goto cleanup;
    if (docs) {
        if (cl->options.schema_path == NULL) {
            status = usage_error(command, "%s", "needs a schema");
            goto cleanup;
        }
        status = valueslint_docs(cl->options.schema_path, cl->options.chart_values_path, stdout, stderr);
        goto cleanup;
    }
    if (cl->positional_count > 0) {
        cl->options.values_files = cl->positional;
        cl->options.values_file_count = cl->positional_count;
        cl->options.each_file_separately = true;
    } else {
        cl->options.values_files = cl->files;
    }
    cl->options.sets = cl->sets;
    status = valueslint_run(&cl->options, stdout, stderr);
cleanup:
    if (cl != NULL) {
        free(cl->files);
        free(cl->positional);
        free(cl->sets);
    }
    free(cl);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_usage(stdout);
        return VALUESLINT_EXIT_CLEAN;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("chart %s\n", BOLLARD_VERSION);
        return VALUESLINT_EXIT_CLEAN;
    }
    if (argc >= 3 && strcmp(argv[1], "values") == 0 &&
        (strcmp(argv[2], "lint") == 0 || strcmp(argv[2], "docs") == 0))
        return run_values_command(argv[2], argc - 3, argv + 3);
    print_usage(stderr);
    return VALUESLINT_EXIT_ERROR;
}
