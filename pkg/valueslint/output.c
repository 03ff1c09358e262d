/* valueslint: output formats — compiler-style text, JSON, SARIF 2.1.0, GitHub workflow commands. */
#include "valueslint/valueslint.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *severity_name(enum valueslint_severity severity)
{
    return severity == VALUESLINT_ERROR ? "error" : "warning";
}

static bool from_set_flag(const struct valueslint_finding *finding)
{
    return finding->pos.source != NULL && strncmp(finding->pos.source, "--set[", 6) == 0;
}

static int write_text(const struct valueslint_report *report, FILE *out)
{
    for (size_t i = 0; i < report->count; i++) {
        const struct valueslint_finding *f = &report->items[i];
        const char *source = f->pos.source ? f->pos.source : "<values>";
        if (f->pos.line > 0)
            fprintf(out, "%s:%u:%u: %s: %s [%s]\n", source, f->pos.line, f->pos.column,
                    severity_name(f->severity), f->message, f->rule);
        else
            fprintf(out, "%s: %s: %s [%s]\n", source, severity_name(f->severity), f->message, f->rule);
    }
    return ferror(out) ? -1 : 0;
}

/* GitHub workflow commands: data escapes %, CR, LF; property values also ':' and ','. */
static void github_escape(FILE *out, const char *text, bool property)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '%':
            fputs("%25", out);
            break;
        case '\r':
            fputs("%0D", out);
            break;
        case '\n':
            fputs("%0A", out);
            break;
        case ':':
            fputs(property ? "%3A" : ":", out);
            break;
        case ',':
            fputs(property ? "%2C" : ",", out);
            break;
        default:
            fputc(*p, out);
        }
    }
}

static int write_github(const struct valueslint_report *report, FILE *out)
{
    for (size_t i = 0; i < report->count; i++) {
        const struct valueslint_finding *f = &report->items[i];
        fprintf(out, "::%s ", severity_name(f->severity));
        if (f->pos.source != NULL && !from_set_flag(f)) {
            fputs("file=", out);
            github_escape(out, f->pos.source, true);
            if (f->pos.line > 0)
                fprintf(out, ",line=%u,col=%u", f->pos.line, f->pos.column);
            fputc(',', out);
        }
        fputs("title=", out);
        github_escape(out, f->rule, true);
        fputs("::", out);
        if (from_set_flag(f)) {
            github_escape(out, f->pos.source, false);
            fprintf(out, " (column %u): ", f->pos.column);
        }
        github_escape(out, f->message, false);
        fprintf(out, " [%s]\n", f->rule);
    }
    return ferror(out) ? -1 : 0;
}

static int set_new(json_t *object, const char *key, json_t *value)
{
    return value == NULL ? -1 : json_object_set_new(object, key, value);
}

static int write_json(const struct valueslint_report *report, FILE *out)
{
    int result = -1;
    json_t *root = json_object();
    json_t *findings = json_array();
    if (root == NULL || findings == NULL || json_object_set(root, "findings", findings) != 0)
        goto cleanup;
    for (size_t i = 0; i < report->count; i++) {
        const struct valueslint_finding *f = &report->items[i];
        json_t *item = json_object();
        if (item == NULL || json_array_append_new(findings, item) != 0)
            goto cleanup;
        if (set_new(item, "file", json_string(f->pos.source ? f->pos.source : "")) != 0 ||
            set_new(item, "line", json_integer(f->pos.line)) != 0 ||
            set_new(item, "column", json_integer(f->pos.column)) != 0 ||
            set_new(item, "severity", json_string(severity_name(f->severity))) != 0 ||
            set_new(item, "rule", json_string(f->rule)) != 0 ||
            set_new(item, "path", json_string(f->path)) != 0 ||
            set_new(item, "message", json_string(f->message)) != 0)
            goto cleanup;
    }
    json_t *summary = json_object();
    if (summary == NULL || json_object_set_new(root, "summary", summary) != 0 ||
        set_new(summary, "errors",
                json_integer((json_int_t)valueslint_report_count(report, VALUESLINT_ERROR))) != 0 ||
        set_new(summary, "warnings",
                json_integer((json_int_t)valueslint_report_count(report, VALUESLINT_WARNING))) != 0)
        goto cleanup;
    if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        goto cleanup;
    fputc('\n', out);
    result = ferror(out) ? -1 : 0;
cleanup:
    json_decref(findings);
    json_decref(root);
    return result;
}

/* SARIF artifact URIs are URI references: relative paths stay relative, odd bytes are escaped. */
static json_t *artifact_uri(const char *path)
{
    size_t len = strlen(path);
    char *uri = malloc(len * 3 + sizeof("file://"));
    if (uri == NULL)
        return NULL;
    size_t n = 0;
    if (path[0] == '/') {
        memcpy(uri, "file://", 7);
        n = 7;
    }
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p) != NULL) {
            uri[n++] = (char)*p;
        } else {
            static const char HEX[] = "0123456789ABCDEF";
            uri[n++] = '%';
            uri[n++] = HEX[*p >> 4];
            uri[n++] = HEX[*p & 15];
        }
    }
    uri[n] = '\0';
    json_t *value = json_string(uri);
    free(uri);
    return value;
}

static json_t *sarif_rules(void)
{
    json_t *rules = json_array();
    for (size_t i = 0; rules != NULL && valueslint_rule_table[i].id != NULL; i++) {
        const struct valueslint_rule_info *info = &valueslint_rule_table[i];
        json_t *rule =
            json_pack("{s:s, s:{s:s}, s:{s:s}}", "id", info->id, "shortDescription", "text",
                      info->description, "defaultConfiguration", "level", severity_name(info->severity));
        if (rule == NULL || json_array_append_new(rules, rule) != 0) {
            json_decref(rules);
            return NULL;
        }
    }
    return rules;
}

static long rule_index(const char *id)
{
    for (size_t i = 0; valueslint_rule_table[i].id != NULL; i++)
        if (strcmp(valueslint_rule_table[i].id, id) == 0)
            return (long)i;
    return -1;
}

static json_t *sarif_result(const struct valueslint_finding *f)
{
    json_t *result = json_pack("{s:s, s:s, s:{s:s}}", "ruleId", f->rule, "level", severity_name(f->severity),
                               "message", "text", f->message);
    if (result == NULL)
        return NULL;
    long index = rule_index(f->rule);
    if (index >= 0 && json_object_set_new(result, "ruleIndex", json_integer(index)) != 0)
        goto fail;
    json_t *location = json_object();
    json_t *locations = json_array();
    if (location == NULL || locations == NULL || json_array_append_new(locations, location) != 0 ||
        json_object_set_new(result, "locations", locations) != 0) {
        json_decref(location);
        json_decref(locations);
        goto fail;
    }
    if (f->pos.source != NULL && !from_set_flag(f)) {
        json_t *physical = json_object();
        json_t *artifact = json_object();
        if (physical == NULL || artifact == NULL ||
            json_object_set_new(location, "physicalLocation", physical) != 0 ||
            json_object_set_new(physical, "artifactLocation", artifact) != 0 ||
            set_new(artifact, "uri", artifact_uri(f->pos.source)) != 0) {
            json_decref(artifact);
            goto fail;
        }
        if (f->pos.line > 0 && set_new(physical, "region",
                                       json_pack("{s:i, s:i}", "startLine", (int)f->pos.line, "startColumn",
                                                 (int)f->pos.column)) != 0)
            goto fail;
    }
    /* The dotted values path, which is also how a --set finding is located. */
    char name[1200];
    snprintf(name, sizeof(name), "%s%s%s", from_set_flag(f) ? f->pos.source : "",
             from_set_flag(f) && f->path[0] ? " " : "", f->path);
    if (name[0] != '\0' &&
        set_new(location, "logicalLocations",
                json_pack("[{s:s, s:s}]", "fullyQualifiedName", name, "kind", "member")) != 0)
        goto fail;
    return result;
fail:
    json_decref(result);
    return NULL;
}

static int write_sarif(const struct valueslint_report *report, FILE *out)
{
    int status = -1;
    json_t *results = json_array();
    json_t *rules = sarif_rules();
    json_t *root = NULL;
    if (results == NULL || rules == NULL)
        goto cleanup;
    for (size_t i = 0; i < report->count; i++) {
        json_t *result = sarif_result(&report->items[i]);
        if (result == NULL || json_array_append_new(results, result) != 0)
            goto cleanup;
    }
    root = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:O}}, s:O}]}", "$schema",
                     "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs", "tool",
                     "driver", "name", "chart values lint", "rules", rules, "results", results);
    if (root == NULL || json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        goto cleanup;
    fputc('\n', out);
    status = ferror(out) ? -1 : 0;
cleanup:
    json_decref(root);
    json_decref(results);
    json_decref(rules);
    return status;
}

int valueslint_write(const struct valueslint_report *report, enum valueslint_format format, FILE *out)
{
    switch (format) {
    case VALUESLINT_TEXT:
        return write_text(report, out);
    case VALUESLINT_JSON:
        return write_json(report, out);
    case VALUESLINT_SARIF:
        return write_sarif(report, out);
    case VALUESLINT_GITHUB:
        return write_github(report, out);
    }
    return -1;
}
