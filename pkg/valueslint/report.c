/* valueslint: the finding list and the catalogue of rule ids. */
#include "valueslint/valueslint.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Beyond this a report is noise; the summary still counts what was dropped as errors. */
#define MAX_FINDINGS 10000

const struct valueslint_rule_info valueslint_rule_table[] = {
    /* input problems: exit status 2 */
    {"io-error", VALUESLINT_ERROR, "A file cannot be read."},
    {"yaml-syntax", VALUESLINT_ERROR, "The file is not valid YAML."},
    {"yaml-limit", VALUESLINT_ERROR,
     "The input exceeds a safety limit (size, nesting, alias expansion, memory)."},
    {"values-structure", VALUESLINT_ERROR,
     "The file is YAML but cannot be Helm values (top level not a mapping, "
     "non-scalar keys)."},
    {"set-syntax", VALUESLINT_ERROR, "A --set argument does not follow Helm's --set syntax."},
    {"schema-error", VALUESLINT_ERROR, "values.schema.json cannot be loaded or evaluated."},
    /* YAML-level findings */
    {"duplicate-key", VALUESLINT_ERROR,
     "A key appears twice in one mapping; Helm silently keeps the last one."},
    {"multiple-documents", VALUESLINT_WARNING,
     "A values file holds several YAML documents; Helm reads the first."},
    /* schema findings */
    {"unknown-key", VALUESLINT_ERROR, "A key the schema does not declare (additionalProperties: false)."},
    {"schema-type", VALUESLINT_ERROR, "A value has the wrong JSON type."},
    {"schema-enum", VALUESLINT_ERROR, "A value is not one of the allowed values."},
    {"schema-const", VALUESLINT_ERROR, "A value differs from the only allowed value."},
    {"schema-required", VALUESLINT_ERROR, "A required key is missing."},
    {"schema-range", VALUESLINT_ERROR, "A number is out of range (minimum, maximum, multipleOf)."},
    {"schema-length", VALUESLINT_ERROR, "A string is too short or too long."},
    {"schema-pattern", VALUESLINT_ERROR, "A string does not match the schema's pattern."},
    {"schema-items", VALUESLINT_ERROR, "An array or object has too few or too many entries."},
    {"schema-unique", VALUESLINT_ERROR, "An array that must hold unique items has duplicates."},
    {"schema-anyof", VALUESLINT_ERROR, "A value matches none of the anyOf alternatives."},
    {"schema-oneof", VALUESLINT_ERROR, "A value matches none, or several, of the oneOf alternatives."},
    {"schema-not", VALUESLINT_ERROR, "A value matches a schema it must not match."},
    {"schema-false", VALUESLINT_ERROR, "The schema allows no value here."},
    /* chart rules (rules.c) */
    {"quantity-invalid", VALUESLINT_ERROR, "A resource quantity cannot be parsed."},
    {"request-exceeds-limit", VALUESLINT_ERROR, "A resource request is above its limit."},
    {"probe-timeout-period", VALUESLINT_ERROR, "A probe's timeoutSeconds is not below its periodSeconds."},
    {"identical-probes", VALUESLINT_WARNING, "Liveness and readiness probes are identical."},
    {"rollout-no-progress", VALUESLINT_ERROR, "Rolling update with maxUnavailable 0 and maxSurge 0."},
    {"pdb-single-replica", VALUESLINT_ERROR,
     "A PodDisruptionBudget over a single replica that allows no eviction."},
    {"pdb-blocks-eviction", VALUESLINT_ERROR, "A PodDisruptionBudget that allows no eviction at all."},
    {"pdb-both-set", VALUESLINT_ERROR, "A PodDisruptionBudget with both minAvailable and maxUnavailable."},
    {"hpa-min-above-max", VALUESLINT_ERROR, "Autoscaling minReplicas above maxReplicas."},
    {"hpa-no-target", VALUESLINT_ERROR, "Autoscaling enabled without a utilisation target."},
    {"keda-with-hpa", VALUESLINT_ERROR,
     "KEDA autoscaling and the chart's HPA enabled for the same workload."},
    {"keda-min-above-max", VALUESLINT_ERROR, "KEDA minReplicaCount above maxReplicaCount."},
    {"keda-zero-never-wakes", VALUESLINT_ERROR,
     "KEDA scale to zero on a metric that stays 0 while no replica runs (pendingEntriesCount)."},
    {"keda-address-missing", VALUESLINT_ERROR,
     "KEDA without a Redis address while the Redis URL is in existingSecret."},
    {"shutdown-drain-timeout", VALUESLINT_ERROR, "The drain delay is not below the shutdown timeout."},
    {"grace-period-too-short", VALUESLINT_ERROR,
     "terminationGracePeriodSeconds does not cover the shutdown."},
    {"nodeport-needs-type", VALUESLINT_ERROR, "A nodePort with a ClusterIP Service."},
    {"nodeport-range", VALUESLINT_ERROR, "A nodePort outside 30000-32767."},
    {"metrics-port-conflict", VALUESLINT_ERROR,
     "metrics.port equal to config.port (bollard exits 78: METRICS_PORT must differ from PORT)."},
    {"service-option-needs-type", VALUESLINT_ERROR,
     "externalTrafficPolicy or loadBalancerSourceRanges on a Service type that does not use it."},
    {"httproute-no-parent", VALUESLINT_ERROR, "An HTTPRoute enabled without parentRefs."},
    {"ingress-no-hosts", VALUESLINT_ERROR, "An Ingress enabled without hosts."},
    {"extra-env-duplicate", VALUESLINT_ERROR,
     "An extraEnv variable listed twice, or also set by config.extraEnv."},
    {"volume-name-duplicate", VALUESLINT_ERROR, "Two extraVolumes with the same name."},
    {"volume-mount-unknown", VALUESLINT_ERROR, "An extraVolumeMount naming no volume of the pod."},
    {"container-name-duplicate", VALUESLINT_ERROR,
     "Two initContainers/sidecars of a role with the same name."},
    {"latest-tag-production", VALUESLINT_ERROR, "image.tag 'latest' with environment production."},
    {"inline-secret-production", VALUESLINT_ERROR,
     "Secret values inline in values with environment production."},
    {"inline-secret-ignored", VALUESLINT_WARNING, "Inline secret values next to existingSecret (ignored)."},
    {"secret-missing", VALUESLINT_ERROR, "Neither an inline secret value nor existingSecret."},
    {"alert-webhook-incomplete", VALUESLINT_ERROR,
     "alerts.webhook enabled without its URL or signing secret, inline or in a Secret."},
    {"exit-codes-order", VALUESLINT_ERROR, "migrations.permanentFailureExitCodes not strictly ascending."},
    {"seed-chart-key", VALUESLINT_ERROR,
     "A key of the todo-chatbot seed chart (backend.*, frontend.*, helm create's top-level keys), with "
     "its Bollard key."},
    {NULL, VALUESLINT_ERROR, NULL},
};

size_t valueslint_report_drop(struct valueslint_report *report, const char *rule, struct yamldoc_pos pos)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < report->count; i++) {
        struct valueslint_finding *f = &report->items[i];
        bool same_source =
            (f->pos.source == NULL && pos.source == NULL) ||
            (f->pos.source != NULL && pos.source != NULL && strcmp(f->pos.source, pos.source) == 0);
        if (strcmp(f->rule, rule) == 0 && same_source && f->pos.line == pos.line &&
            f->pos.column == pos.column) {
            free(f->path);
            free(f->message);
            dropped++;
            continue;
        }
        report->items[kept++] = *f;
    }
    report->count = kept;
    return dropped;
}

const struct valueslint_rule_info *valueslint_rule_info(const char *id)
{
    for (size_t i = 0; valueslint_rule_table[i].id != NULL; i++)
        if (strcmp(valueslint_rule_table[i].id, id) == 0)
            return &valueslint_rule_table[i];
    return NULL;
}

void valueslint_report_init(struct valueslint_report *report)
{
    memset(report, 0, sizeof(*report));
}

void valueslint_report_free(struct valueslint_report *report)
{
    for (size_t i = 0; i < report->count; i++) {
        free(report->items[i].path);
        free(report->items[i].message);
    }
    free(report->items);
    memset(report, 0, sizeof(*report));
}

void valueslint_report_add(struct valueslint_report *report, enum valueslint_severity severity,
                           const char *rule, struct yamldoc_pos pos, const char *path, const char *fmt, ...)
{
    if (report->count >= MAX_FINDINGS) {
        report->out_of_memory = true;
        return;
    }
    if (report->count == report->capacity) {
        size_t capacity = report->capacity ? report->capacity * 2 : 16;
        struct valueslint_finding *grown = realloc(report->items, capacity * sizeof(*grown));
        if (grown == NULL) {
            report->out_of_memory = true;
            return;
        }
        report->items = grown;
        report->capacity = capacity;
    }
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    struct valueslint_finding *finding = &report->items[report->count];
    finding->severity = severity;
    finding->rule = rule;
    finding->pos = pos;
    finding->path = strdup(path ? path : "");
    finding->message = strdup(message);
    if (finding->path == NULL || finding->message == NULL) {
        free(finding->path);
        free(finding->message);
        report->out_of_memory = true;
        return;
    }
    report->count++;
}

bool valueslint_report_mentions(const struct valueslint_report *report, const char *path)
{
    for (size_t i = 0; i < report->count; i++)
        if (strcmp(report->items[i].path, path) == 0)
            return true;
    return false;
}

size_t valueslint_report_count(const struct valueslint_report *report, enum valueslint_severity severity)
{
    size_t count = 0;
    for (size_t i = 0; i < report->count; i++)
        if (report->items[i].severity == severity)
            count++;
    return count;
}

struct sort_key {
    size_t source_rank;
    size_t original;
    struct valueslint_finding finding;
};

static int compare_sort_keys(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    if (x->source_rank != y->source_rank)
        return x->source_rank < y->source_rank ? -1 : 1;
    if (x->finding.pos.line != y->finding.pos.line)
        return x->finding.pos.line < y->finding.pos.line ? -1 : 1;
    if (x->finding.pos.column != y->finding.pos.column)
        return x->finding.pos.column < y->finding.pos.column ? -1 : 1;
    return x->original < y->original ? -1 : x->original > y->original;
}

void valueslint_report_sort(struct valueslint_report *report, const char *const *sources, size_t source_count)
{
    if (report->count < 2)
        return;
    struct sort_key *keys = calloc(report->count, sizeof(*keys));
    if (keys == NULL)
        return; /* unsorted output is still correct output */
    for (size_t i = 0; i < report->count; i++) {
        const char *source = report->items[i].pos.source;
        size_t rank = source_count;
        for (size_t s = 0; s < source_count && source != NULL; s++) {
            if (strcmp(sources[s], source) == 0) {
                rank = s;
                break;
            }
        }
        /* --set[N] sorts after every file, in flag order. */
        if (rank == source_count && source != NULL && strncmp(source, "--set[", 6) == 0)
            rank = source_count + (size_t)strtoul(source + 6, NULL, 10);
        keys[i].source_rank = rank;
        keys[i].original = i;
        keys[i].finding = report->items[i];
    }
    qsort(keys, report->count, sizeof(*keys), compare_sort_keys);
    size_t kept = 0;
    for (size_t i = 0; i < report->count; i++) {
        const struct valueslint_finding *f = &keys[i].finding;
        bool repeat = false;
        for (size_t j = kept; j-- > 0;) {
            const struct valueslint_finding *k = &report->items[j];
            if (k->pos.line != f->pos.line || keys[i].source_rank != keys[j].source_rank)
                break;
            if (k->pos.column == f->pos.column && strcmp(k->rule, f->rule) == 0 &&
                strcmp(k->message, f->message) == 0 && k->severity == f->severity) {
                repeat = true;
                break;
            }
        }
        if (repeat) {
            free(f->path);
            free(f->message);
            continue;
        }
        keys[kept].source_rank = keys[i].source_rank;
        report->items[kept++] = *f;
    }
    report->count = kept;
    free(keys);
}
