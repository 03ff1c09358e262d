/* valueslint: rules that a JSON Schema cannot express (relations between values), for the
 * chart/bollard values layout. Every place a rule looks is in the tables just below, so a change in
 * the chart's layout is a change here only. A rule whose path is absent from the values is silent. */
#include "valueslint/valueslint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- where things are in chart/bollard/values.yaml ---- */

static const char *const RESOURCES[] = {"api.resources", "worker.resources", "migrations.resources",
                                        "tests.resources", NULL};
static const char *const RESOURCE_NAMES[] = {"cpu", "memory", "ephemeral-storage", NULL};

static const char *const PROBES[] = {"api.probes.startup",     "api.probes.liveness",
                                     "api.probes.readiness",   "worker.probes.startup",
                                     "worker.probes.liveness", NULL};
/* Kubernetes defaults when a probe leaves them out. */
#define PROBE_DEFAULT_TIMEOUT_SECONDS 1
#define PROBE_DEFAULT_PERIOD_SECONDS  10
static const struct {
    const char *field;
    int64_t default_value;
} PROBE_FIELDS[] = {
    {"initialDelaySeconds", 0},
    {"periodSeconds", PROBE_DEFAULT_PERIOD_SECONDS},
    {"timeoutSeconds", PROBE_DEFAULT_TIMEOUT_SECONDS},
    {"failureThreshold", 3},
    {"successThreshold", 1},
};

static const struct {
    const char *liveness;
    const char *readiness;
} PROBE_PAIRS[] = {{"api.probes.liveness", "api.probes.readiness"}};

/* Deployment rolling-update settings. chart/bollard fixes maxSurge 1 / maxUnavailable 0 in its
 * templates and exposes no `strategy` value, so these paths are absent and the rule is dormant;
 * they are where a chart that exposes the strategy would keep it. */
static const struct {
    const char *rolling_update;
    const char *strategy_type;
} ROLLOUTS[] = {{"api.strategy.rollingUpdate", "api.strategy.type"},
                {"worker.strategy.rollingUpdate", "worker.strategy.type"}};

static const struct {
    const char *workload;
    const char *enabled; /* NULL: always deployed */
    const char *replicas;
    const char *pdb;
    const char *autoscaling;
} WORKLOADS[] = {
    {"api", NULL, "api.replicas", "api.podDisruptionBudget", "api.autoscaling"},
    {"worker", "worker.enabled", "worker.replicas", "worker.podDisruptionBudget", "worker.autoscaling"},
};

/* KEDA autoscaling of a workload (a ScaledObject instead of the chart's HPA). */
static const struct {
    const char *workload;
    const char *enabled;     /* the workload's own switch; NULL: always deployed */
    const char *keda;        /* the ScaledObject's settings */
    const char *autoscaling; /* the HPA it excludes */
    const char *lag_metric;  /* the only metric that can wake a workload scaled to zero */
} KEDA_SCALERS[] = {
    {"worker", "worker.enabled", "worker.keda", "worker.autoscaling", "lagCount"},
};

static const struct {
    const char *drain;   /* NULL: no drain phase */
    const char *timeout; /* the process's own shutdown deadline */
    const char *pre_stop_sleep;
    const char *grace; /* terminationGracePeriodSeconds; null = derived by the chart */
} SHUTDOWNS[] = {
    {"api.shutdown.drainSeconds", "api.shutdown.timeoutSeconds", "api.shutdown.preStopSleepSeconds",
     "api.terminationGracePeriodSeconds"},
    {NULL, "worker.shutdown.timeoutSeconds", NULL, "worker.terminationGracePeriodSeconds"},
};

static const struct {
    const char *environment;
    const char *production_value;
    const char *image_tag;
    const char *image_digest;
    const char *service_type;
    const char *node_port;
    const char *container_port; /* PORT */
    const char *metrics_port;   /* METRICS_PORT: must differ from PORT */
    const char *existing_secret;
    const char *inline_secrets[4];
    const char *exit_codes;
    const char *keda_address; /* needed when the Redis URL sits in a Secret the chart does not render */
} CHART = {
    .environment = "config.environment",
    .production_value = "production",
    .image_tag = "image.tag",
    .image_digest = "image.digest",
    .service_type = "service.type",
    .node_port = "service.nodePort",
    .container_port = "config.port",
    .metrics_port = "metrics.port",
    .existing_secret = "secret.existingSecret",
    .inline_secrets = {"secret.databaseUrl", "secret.secretKey", "secret.redisUrl", NULL},
    .exit_codes = "migrations.permanentFailureExitCodes",
    .keda_address = "worker.keda.redis.address",
};

/* The alert webhook (alerts.webhook): its two secrets inline, or in a Secret of its own, or in
 * CHART.existing_secret. */
static const struct {
    const char *enabled;
    const char *existing_secret;
    const char *inline_secrets[3];
} ALERTS = {
    .enabled = "alerts.webhook.enabled",
    .existing_secret = "alerts.webhook.existingSecret",
    .inline_secrets = {"alerts.webhook.url", "alerts.webhook.signingSecret", NULL},
};

/* Per-role extras (issue 18 item 6): the chart's container, its pod's volumes and the names the
 * chart itself uses there. */
static const struct {
    const char *role;
    const char *container; /* the chart's own container of the role */
} EXTRA_ROLES[] = {{"api", "api"}, {"worker", "worker"}, {"migrations", "migrate"}};
static const char *const CHART_VOLUMES[] = {"tmp", "secrets", "alert-webhook", NULL};
static const char *const USER_CONTAINER_LISTS[] = {"initContainers", "sidecars", NULL};
#define CONFIG_EXTRA_ENV "config.extraEnv"

static const struct {
    const char *external_traffic_policy;
    const char *load_balancer_source_ranges;
    const char *ingress;
    const char *http_route;
} WAYS_IN = {"service.externalTrafficPolicy", "service.loadBalancerSourceRanges", "ingress", "httpRoute"};

/* Keys of the todo-chatbot seed chart (issue 18 item 10) and of `helm create`'s layout that Bollard
 * spells otherwise: each is reported where it is written, with the Bollard key that takes its place
 * (the chart README's migration table says the same). A key ending in ".*" matches any child key;
 * the first match wins. */
static const struct {
    const char *seed;
    const char *bollard;
} SEED_KEYS[] = {
    {"backend.replicaCount", "use api.replicas (the worker has its own: worker.replicas)"},
    {"backend.image.repository",
     "use image.repository (one image for the API, the worker and the migrations)"},
    {"backend.image.tag", "use image.tag (or image.digest)"},
    {"backend.image.pullPolicy", "use image.pullPolicy"},
    {"backend.image.*", "use image.* (repository, tag, digest, pullPolicy)"},
    {"backend.imagePullSecrets", "use imagePullSecrets"},
    {"backend.secrets.DATABASE_URL",
     "use secret.databaseUrl (in production: secret.existingSecret, a Secret with the key DATABASE_URL)"},
    {"backend.secrets.BETTER_AUTH_SECRET", "use secret.secretKey, at least 32 bytes (in production: "
                                           "secret.existingSecret with the key SECRET_KEY)"},
    {"backend.secrets.SECRET_KEY", "use secret.secretKey (in production: secret.existingSecret)"},
    {"backend.secrets.JWT_SECRET", "use secret.secretKey (in production: secret.existingSecret)"},
    {"backend.secrets.REDIS_URL", "use secret.redisUrl (in production: secret.existingSecret)"},
    {"backend.secrets.GROQ_API_KEY", "use secret.llmApiKey with config.assistant.provider GROQ"},
    {"backend.secrets.OPENROUTER_API_KEY", "use secret.llmApiKey with config.assistant.provider OPENROUTER"},
    {"backend.secrets.OPENAI_API_KEY", "use secret.llmApiKey with config.assistant.provider OPENAI"},
    {"backend.secrets.LLM_API_KEY", "use secret.llmApiKey with config.assistant.provider OPENAI"},
    {"backend.secrets.*",
     "use secret.existingSecret (a Secret you manage) and api.extraEnv with valueFrom.secretKeyRef: "
     "Bollard's "
     "own secrets are secret.databaseUrl, secretKey, redisUrl, migrateDatabaseUrl and llmApiKey"},
    {"backend.service.type", "use service.type"},
    {"backend.service.port", "use service.port"},
    {"backend.service.nodePort", "use service.nodePort"},
    {"backend.service.targetPort", "use config.port (the container's port; the Service targets it by name)"},
    {"backend.service.*", "use service.* (type, port, nodePort, externalTrafficPolicy, annotations, labels)"},
    {"backend.resources",
     "use api.resources (worker.resources and migrations.resources for the other roles)"},
    {"backend.env", "use config.extraEnv (NAME: \"value\" for every role) or api.extraEnv (an EnvVar list)"},
    {"backend.extraEnv",
     "use config.extraEnv (NAME: \"value\" for every role) or api.extraEnv (an EnvVar list)"},
    {"backend.config", "use config.* (every setting has its own key; others in config.extraEnv)"},
    {"backend.nodeSelector", "use api.nodeSelector"},
    {"backend.tolerations", "use api.tolerations"},
    {"backend.affinity", "use api.affinity"},
    {"backend.podAnnotations", "use api.podAnnotations"},
    {"backend.podLabels", "use api.podLabels"},
    {"backend.autoscaling", "use api.autoscaling"},
    {"backend.livenessProbe", "use api.probes.liveness (timings; the chart sets the handler)"},
    {"backend.readinessProbe", "use api.probes.readiness (timings; the chart sets the handler)"},
    {"backend.startupProbe", "use api.probes.startup (timings; the chart sets the handler)"},
    {"backend.podSecurityContext", "use podSecurityContext (runAsUser, runAsGroup, fsGroup; the rest of the "
                                   "hardening is fixed)"},
    {"backend.securityContext", "use podSecurityContext (runAsUser, runAsGroup, fsGroup; the rest of the "
                                "hardening is fixed)"},
    {"backend.enabled", "drop it: the API is always deployed (worker.enabled switches the worker)"},
    {"backend.ingress", "use ingress"},
    {"backend.*", "use api.* (the seed chart's backend is Bollard's API; see the migration table in "
                  "chart/bollard/README.md)"},
    {"frontend", "the frontend is not part of Bollard: the web console is served by the API at / "
                 "(config.console.enabled), so drop the block and its Ingress path"},
    {"replicaCount", "use api.replicas (the worker has its own: worker.replicas)"},
    {"resources", "use api.resources (worker.resources, migrations.resources)"},
    {"nodeSelector", "use api.nodeSelector (worker.*, migrations.* for the other roles)"},
    {"tolerations", "use api.tolerations (worker.*, migrations.* for the other roles)"},
    {"affinity", "use api.affinity (worker.*, migrations.* for the other roles)"},
    {"autoscaling", "use api.autoscaling (worker.autoscaling or worker.keda for the worker)"},
    {"livenessProbe", "use api.probes.liveness (timings; the chart sets the handler)"},
    {"readinessProbe", "use api.probes.readiness (timings; the chart sets the handler)"},
    {"securityContext",
     "use podSecurityContext (runAsUser, runAsGroup, fsGroup; the rest of the hardening is fixed)"},
    {"volumes", "use api.extraVolumes (worker.*, migrations.* for the other roles)"},
    {"volumeMounts", "use api.extraVolumeMounts (worker.*, migrations.* for the other roles)"},
    {"env", "use config.extraEnv (NAME: \"value\" for every role) or api.extraEnv (an EnvVar list)"},
    {"secrets", "use secret.* (databaseUrl, secretKey, redisUrl) or secret.existingSecret"},
    {"postgresql", "use secret.databaseUrl: Bollard deploys no database of its own"},
    {"redis", "use secret.redisUrl: Bollard deploys no Redis of its own"},
    {"serviceAccount.automount", "drop it: no pod ever gets a service-account token (fixed)"},
};
/* The seed chart's subtrees: every key under them is reported (by SEED_KEYS' wildcards). */
static const char *const SEED_ROOTS[] = {"backend", NULL};

#define NODE_PORT_MIN 30000
#define NODE_PORT_MAX 32767

/* ---- helpers ---- */

static const struct yamldoc_node *at(const struct yamldoc_node *root, const char *path)
{
    return path != NULL ? yamldoc_get_path(root, path) : NULL;
}

static bool get_int(const struct yamldoc_node *node, int64_t *out)
{
    if (node == NULL)
        return false;
    if (node->kind == YAMLDOC_INT) {
        *out = node->as.integer;
        return true;
    }
    if (node->kind == YAMLDOC_FLOAT && isfinite(node->as.number) && fabs(node->as.number) < 9e18 &&
        node->as.number == (double)(int64_t)node->as.number) {
        *out = (int64_t)node->as.number;
        return true;
    }
    return false;
}

static bool is_true(const struct yamldoc_node *node)
{
    return node != NULL && node->kind == YAMLDOC_BOOL && node->as.boolean;
}

static bool is_false(const struct yamldoc_node *node)
{
    return node != NULL && node->kind == YAMLDOC_BOOL && !node->as.boolean;
}

static bool is_set(const struct yamldoc_node *node)
{
    return node != NULL && node->kind != YAMLDOC_NULL;
}

static const char *get_string(const struct yamldoc_node *node)
{
    return node != NULL && node->kind == YAMLDOC_STRING ? node->text : NULL;
}

static void join(char *buf, size_t len, const char *a, const char *b)
{
    snprintf(buf, len, "%s.%s", a, b);
}

/* "file:line" of a value, for messages that relate two places. */
static const char *where(const struct yamldoc_node *node, char *buf, size_t len)
{
    if (node->pos.line > 0)
        snprintf(buf, len, "%s:%" PRIu32, node->pos.source, node->pos.line);
    else
        snprintf(buf, len, "%s", node->pos.source ? node->pos.source : "?");
    return buf;
}

/* An int-or-percent value (PDB, rolling update) scaled to `replicas`, rounding up as Kubernetes
 * does for PDBs and maxSurge. Returns false when the value is not one of the two forms. */
static bool scaled_value(const struct yamldoc_node *node, int64_t replicas, bool round_up, int64_t *out,
                         bool *is_percent)
{
    int64_t value;
    *is_percent = false;
    if (get_int(node, &value)) {
        *out = value;
        return true;
    }
    const char *text = get_string(node);
    if (text == NULL)
        return false;
    char *end = NULL;
    long long percent = strtoll(text, &end, 10);
    if (end == text || strcmp(end, "%") != 0 || percent < 0 || percent > 100000)
        return false;
    *is_percent = true;
    long long scaled = replicas * percent;
    *out = round_up ? (scaled + 99) / 100 : scaled / 100;
    return true;
}

/* ---- rules ---- */

static void check_resources(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; RESOURCES[i] != NULL; i++) {
        char requests_path[128], limits_path[128];
        join(requests_path, sizeof(requests_path), RESOURCES[i], "requests");
        join(limits_path, sizeof(limits_path), RESOURCES[i], "limits");
        const struct yamldoc_node *requests = at(root, requests_path);
        const struct yamldoc_node *limits = at(root, limits_path);
        for (size_t r = 0; RESOURCE_NAMES[r] != NULL; r++) {
            const struct yamldoc_node *request = yamldoc_map_get(requests, RESOURCE_NAMES[r]);
            const struct yamldoc_node *limit = yamldoc_map_get(limits, RESOURCE_NAMES[r]);
            char request_path[160], limit_path[160];
            join(request_path, sizeof(request_path), requests_path, RESOURCE_NAMES[r]);
            join(limit_path, sizeof(limit_path), limits_path, RESOURCE_NAMES[r]);
            struct valueslint_quantity request_q, limit_q;
            bool request_ok = false, limit_ok = false;
            const struct yamldoc_node *pair[2] = {request, limit};
            const char *pair_path[2] = {request_path, limit_path};
            bool *pair_ok[2] = {&request_ok, &limit_ok};
            struct valueslint_quantity *pair_q[2] = {&request_q, &limit_q};
            for (int k = 0; k < 2; k++) {
                const struct yamldoc_node *node = pair[k];
                if (!is_set(node) || node->text == NULL || node->kind == YAMLDOC_BOOL)
                    continue;
                if (valueslint_parse_quantity(node->text, pair_q[k]) == 0 && !pair_q[k]->negative) {
                    *pair_ok[k] = true;
                } else if (!valueslint_report_mentions(report, pair_path[k])) {
                    valueslint_report_add(report, VALUESLINT_ERROR, "quantity-invalid", node->pos,
                                          pair_path[k],
                                          "%s: '%s' is not a Kubernetes quantity (e.g. 100m, 0.5, 64Mi, 1Gi)",
                                          pair_path[k], node->text);
                }
            }
            if (request_ok && limit_ok && valueslint_compare_quantities(&request_q, &limit_q) > 0) {
                char limit_at[300];
                valueslint_report_add(
                    report, VALUESLINT_ERROR, "request-exceeds-limit", request->pos, request_path,
                    "%s: request %s is above the limit %s (%s); Kubernetes rejects the pod", request_path,
                    request->text, limit->text, where(limit, limit_at, sizeof(limit_at)));
            }
        }
    }
}

static bool is_probe_field(const char *key)
{
    for (size_t i = 0; i < sizeof(PROBE_FIELDS) / sizeof(PROBE_FIELDS[0]); i++)
        if (strcmp(PROBE_FIELDS[i].field, key) == 0)
            return true;
    return false;
}

/* Two probes behave identically when their timings agree once Kubernetes' defaults fill the gaps
 * and every other setting (handler, port, path…) is equal. */
static bool probes_equivalent(const struct yamldoc_node *a, const struct yamldoc_node *b)
{
    if (a->kind != YAMLDOC_MAP || b->kind != YAMLDOC_MAP)
        return yamldoc_equal(a, b);
    for (size_t i = 0; i < sizeof(PROBE_FIELDS) / sizeof(PROBE_FIELDS[0]); i++) {
        int64_t x = PROBE_FIELDS[i].default_value, y = PROBE_FIELDS[i].default_value;
        const struct yamldoc_node *na = yamldoc_map_get(a, PROBE_FIELDS[i].field);
        const struct yamldoc_node *nb = yamldoc_map_get(b, PROBE_FIELDS[i].field);
        if ((is_set(na) && !get_int(na, &x)) || (is_set(nb) && !get_int(nb, &y)) || x != y)
            return false;
    }
    const struct yamldoc_node *pair[2][2] = {{a, b}, {b, a}};
    for (int k = 0; k < 2; k++) {
        const struct yamldoc_node *one = pair[k][0], *other = pair[k][1];
        for (size_t i = 0; i < one->count; i++) {
            if (is_probe_field(one->entries[i].key))
                continue;
            const struct yamldoc_node *counterpart = yamldoc_map_get(other, one->entries[i].key);
            if (counterpart == NULL || !yamldoc_equal(one->entries[i].value, counterpart))
                return false;
        }
    }
    return true;
}

static void check_probes(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; PROBES[i] != NULL; i++) {
        const struct yamldoc_node *probe = at(root, PROBES[i]);
        if (probe == NULL || probe->kind != YAMLDOC_MAP)
            continue;
        const struct yamldoc_node *timeout_node = yamldoc_map_get(probe, "timeoutSeconds");
        const struct yamldoc_node *period_node = yamldoc_map_get(probe, "periodSeconds");
        int64_t timeout = PROBE_DEFAULT_TIMEOUT_SECONDS, period = PROBE_DEFAULT_PERIOD_SECONDS;
        if ((timeout_node != NULL && !get_int(timeout_node, &timeout)) ||
            (period_node != NULL && !get_int(period_node, &period)))
            continue; /* a type problem the schema reports */
        if (timeout < period)
            continue;
        const struct yamldoc_node *anchor = timeout_node ? timeout_node : period_node ? period_node : probe;
        char path[160];
        join(path, sizeof(path), PROBES[i], timeout_node ? "timeoutSeconds" : "periodSeconds");
        valueslint_report_add(report, VALUESLINT_ERROR, "probe-timeout-period", anchor->pos, path,
                              "%s: timeoutSeconds %" PRId64 " is not below periodSeconds %" PRId64
                              ": a hanging probe runs back to back with the next one, or delays it so that "
                              "failures take longer than failureThreshold x periodSeconds to detect",
                              PROBES[i], timeout, period);
    }
    for (size_t i = 0; i < sizeof(PROBE_PAIRS) / sizeof(PROBE_PAIRS[0]); i++) {
        const struct yamldoc_node *liveness = at(root, PROBE_PAIRS[i].liveness);
        const struct yamldoc_node *readiness = at(root, PROBE_PAIRS[i].readiness);
        if (!is_set(liveness) || !is_set(readiness) || !probes_equivalent(liveness, readiness))
            continue;
        valueslint_report_add(
            report, VALUESLINT_WARNING, "identical-probes", readiness->pos, PROBE_PAIRS[i].readiness,
            "%s has the same settings as %s (Kubernetes defaults applied): both fail at the same "
            "moment, so a pod that should only leave rotation is restarted",
            PROBE_PAIRS[i].readiness, PROBE_PAIRS[i].liveness);
    }
}

static void check_rollouts(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; i < sizeof(ROLLOUTS) / sizeof(ROLLOUTS[0]); i++) {
        const struct yamldoc_node *rolling = at(root, ROLLOUTS[i].rolling_update);
        const char *type = get_string(at(root, ROLLOUTS[i].strategy_type));
        if (rolling == NULL || rolling->kind != YAMLDOC_MAP ||
            (type != NULL && strcmp(type, "RollingUpdate") != 0))
            continue;
        const struct yamldoc_node *unavailable = yamldoc_map_get(rolling, "maxUnavailable");
        const struct yamldoc_node *surge = yamldoc_map_get(rolling, "maxSurge");
        int64_t unavailable_value, surge_value;
        bool percent;
        /* Scaled against a large replica count: "0%" is zero, any other percentage is not. */
        if (!scaled_value(unavailable, 100, true, &unavailable_value, &percent) || unavailable_value != 0)
            continue;
        if (surge != NULL && (!scaled_value(surge, 100, true, &surge_value, &percent) || surge_value > 0))
            continue;
        if (surge == NULL)
            continue; /* Kubernetes defaults maxSurge to 25% */
        char path[160];
        join(path, sizeof(path), ROLLOUTS[i].rolling_update, "maxUnavailable");
        valueslint_report_add(
            report, VALUESLINT_ERROR, "rollout-no-progress", unavailable->pos, path,
            "%s: maxUnavailable 0 needs maxSurge of at least 1, or a rollout can never start",
            ROLLOUTS[i].rolling_update);
    }
}

static void check_workloads(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; i < sizeof(WORKLOADS) / sizeof(WORKLOADS[0]); i++) {
        const char *name = WORKLOADS[i].workload;
        if (is_false(at(root, WORKLOADS[i].enabled)))
            continue;
        const struct yamldoc_node *hpa = at(root, WORKLOADS[i].autoscaling);
        bool autoscaled = is_true(yamldoc_map_get(hpa, "enabled"));
        int64_t replicas = -1;
        if (autoscaled) {
            const struct yamldoc_node *min_node = yamldoc_map_get(hpa, "minReplicas");
            const struct yamldoc_node *max_node = yamldoc_map_get(hpa, "maxReplicas");
            int64_t min_replicas, max_replicas;
            if (get_int(min_node, &min_replicas) && get_int(max_node, &max_replicas)) {
                replicas = min_replicas;
                if (min_replicas > max_replicas) {
                    char path[160];
                    join(path, sizeof(path), WORKLOADS[i].autoscaling, "minReplicas");
                    valueslint_report_add(report, VALUESLINT_ERROR, "hpa-min-above-max", min_node->pos, path,
                                          "%s: minReplicas %" PRId64 " is above maxReplicas %" PRId64, path,
                                          min_replicas, max_replicas);
                }
            }
            if (!is_set(yamldoc_map_get(hpa, "targetCPUUtilizationPercentage")) &&
                !is_set(yamldoc_map_get(hpa, "targetMemoryUtilizationPercentage"))) {
                char path[160];
                snprintf(path, sizeof(path), "%s", WORKLOADS[i].autoscaling);
                valueslint_report_add(report, VALUESLINT_ERROR, "hpa-no-target", hpa->pos, path,
                                      "%s: enabled without targetCPUUtilizationPercentage or "
                                      "targetMemoryUtilizationPercentage",
                                      path);
            }
        } else if (!get_int(at(root, WORKLOADS[i].replicas), &replicas)) {
            replicas = -1;
        }
        for (size_t k = 0; k < sizeof(KEDA_SCALERS) / sizeof(KEDA_SCALERS[0]); k++) {
            const struct yamldoc_node *keda = at(root, KEDA_SCALERS[k].keda);
            int64_t min_replicas;
            if (strcmp(KEDA_SCALERS[k].workload, name) == 0 && is_true(yamldoc_map_get(keda, "enabled")) &&
                get_int(yamldoc_map_get(keda, "minReplicaCount"), &min_replicas))
                replicas = min_replicas;
        }

        const struct yamldoc_node *pdb = at(root, WORKLOADS[i].pdb);
        if (!is_true(yamldoc_map_get(pdb, "enabled")))
            continue;
        const struct yamldoc_node *min_available = yamldoc_map_get(pdb, "minAvailable");
        const struct yamldoc_node *max_unavailable = yamldoc_map_get(pdb, "maxUnavailable");
        if (is_set(min_available) && is_set(max_unavailable)) {
            char path[160];
            join(path, sizeof(path), WORKLOADS[i].pdb, "minAvailable");
            valueslint_report_add(report, VALUESLINT_ERROR, "pdb-both-set", min_available->pos, path,
                                  "%s: set minAvailable or maxUnavailable, not both (the other null)",
                                  WORKLOADS[i].pdb);
            continue;
        }
        if (replicas <= 0)
            continue;
        int64_t allowed_disruptions;
        int64_t scaled;
        bool percent;
        const struct yamldoc_node *culprit;
        if (is_set(max_unavailable)) {
            if (!scaled_value(max_unavailable, replicas, true, &scaled, &percent))
                continue;
            allowed_disruptions = scaled;
            culprit = max_unavailable;
        } else if (is_set(min_available)) {
            if (!scaled_value(min_available, replicas, true, &scaled, &percent))
                continue;
            allowed_disruptions = replicas - scaled;
            culprit = min_available;
        } else {
            continue;
        }
        if (allowed_disruptions > 0)
            continue;
        char path[160];
        join(path, sizeof(path), WORKLOADS[i].pdb,
             culprit == max_unavailable ? "maxUnavailable" : "minAvailable");
        if (replicas == 1)
            valueslint_report_add(
                report, VALUESLINT_ERROR, "pdb-single-replica", culprit->pos, path,
                "%s: with a single %s replica this PodDisruptionBudget allows no eviction, so "
                "every node drain hangs; use maxUnavailable: 1 or run 2+ replicas",
                path, name);
        else
            valueslint_report_add(report, VALUESLINT_ERROR, "pdb-blocks-eviction", culprit->pos, path,
                                  "%s: with %" PRId64
                                  " %s replicas this PodDisruptionBudget allows no eviction, "
                                  "so every node drain hangs",
                                  path, replicas, name);
    }
}

static void check_keda(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; i < sizeof(KEDA_SCALERS) / sizeof(KEDA_SCALERS[0]); i++) {
        const struct yamldoc_node *keda = at(root, KEDA_SCALERS[i].keda);
        const struct yamldoc_node *enabled = yamldoc_map_get(keda, "enabled");
        if (!is_true(enabled) || is_false(at(root, KEDA_SCALERS[i].enabled)))
            continue;
        char path[160];
        join(path, sizeof(path), KEDA_SCALERS[i].keda, "enabled");
        const struct yamldoc_node *hpa_enabled =
            yamldoc_map_get(at(root, KEDA_SCALERS[i].autoscaling), "enabled");
        if (is_true(hpa_enabled)) {
            char hpa_at[300];
            valueslint_report_add(report, VALUESLINT_ERROR, "keda-with-hpa", enabled->pos, path,
                                  "%s and %s.enabled (%s) are both true: KEDA creates its own "
                                  "HorizontalPodAutoscaler for the %s, and two autoscalers fight over its "
                                  "replicas; turn one off",
                                  path, KEDA_SCALERS[i].autoscaling,
                                  where(hpa_enabled, hpa_at, sizeof(hpa_at)), KEDA_SCALERS[i].workload);
        }
        const struct yamldoc_node *min_node = yamldoc_map_get(keda, "minReplicaCount");
        const struct yamldoc_node *max_node = yamldoc_map_get(keda, "maxReplicaCount");
        int64_t min_replicas, max_replicas;
        if (get_int(min_node, &min_replicas) && get_int(max_node, &max_replicas)) {
            join(path, sizeof(path), KEDA_SCALERS[i].keda, "minReplicaCount");
            if (min_replicas > max_replicas)
                valueslint_report_add(report, VALUESLINT_ERROR, "keda-min-above-max", min_node->pos, path,
                                      "%s %" PRId64 " is above maxReplicaCount %" PRId64, path, min_replicas,
                                      max_replicas);
            const char *metric = get_string(yamldoc_map_get(keda, "metric"));
            if (min_replicas == 0 && metric != NULL && strcmp(metric, KEDA_SCALERS[i].lag_metric) != 0)
                valueslint_report_add(
                    report, VALUESLINT_ERROR, "keda-zero-never-wakes", min_node->pos, path,
                    "%s 0 with metric %s: with no %s running no job is ever pending, so the "
                    "%s is never started again; use metric %s to scale to zero",
                    path, metric, KEDA_SCALERS[i].workload, KEDA_SCALERS[i].workload,
                    KEDA_SCALERS[i].lag_metric);
        }
    }
    /* The chart cannot take the Redis host out of a Secret it does not render. */
    const char *existing = get_string(at(root, CHART.existing_secret));
    const struct yamldoc_node *address = at(root, CHART.keda_address);
    const char *address_text = get_string(address);
    if (existing != NULL && *existing != '\0' && address != NULL && address_text != NULL &&
        *address_text == '\0' && is_true(yamldoc_map_get(at(root, KEDA_SCALERS[0].keda), "enabled")) &&
        !is_false(at(root, KEDA_SCALERS[0].enabled)))
        valueslint_report_add(report, VALUESLINT_ERROR, "keda-address-missing", address->pos,
                              CHART.keda_address,
                              "%s is empty and %s is set: KEDA needs Redis' host:port, and the chart cannot "
                              "read it out of a Secret it does not render",
                              CHART.keda_address, CHART.existing_secret);
}

static void check_shutdown(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; i < sizeof(SHUTDOWNS) / sizeof(SHUTDOWNS[0]); i++) {
        int64_t timeout, drain, pre_stop = 0, grace;
        const struct yamldoc_node *timeout_node = at(root, SHUTDOWNS[i].timeout);
        if (!get_int(timeout_node, &timeout))
            continue;
        const struct yamldoc_node *drain_node = at(root, SHUTDOWNS[i].drain);
        if (SHUTDOWNS[i].drain != NULL && get_int(drain_node, &drain) && drain >= timeout)
            valueslint_report_add(report, VALUESLINT_ERROR, "shutdown-drain-timeout", drain_node->pos,
                                  SHUTDOWNS[i].drain, "%s (%" PRId64 ") must be below %s (%" PRId64 ")",
                                  SHUTDOWNS[i].drain, drain, SHUTDOWNS[i].timeout, timeout);
        (void)get_int(at(root, SHUTDOWNS[i].pre_stop_sleep), &pre_stop);
        const struct yamldoc_node *grace_node = at(root, SHUTDOWNS[i].grace);
        if (get_int(grace_node, &grace) && grace <= pre_stop + timeout)
            valueslint_report_add(report, VALUESLINT_ERROR, "grace-period-too-short", grace_node->pos,
                                  SHUTDOWNS[i].grace,
                                  "%s (%" PRId64 ") must be above the preStop sleep plus %s (%" PRId64
                                  "), or the kubelet kills the process mid-shutdown",
                                  SHUTDOWNS[i].grace, grace, SHUTDOWNS[i].timeout, pre_stop + timeout);
    }
}

/* bollard refuses METRICS_PORT equal to PORT (exit 78): the pods would crash-loop. */
static void check_metrics_port(struct valueslint_report *report, const struct yamldoc_node *root)
{
    const struct yamldoc_node *metrics = at(root, CHART.metrics_port);
    int64_t metrics_port, port;
    if (!get_int(metrics, &metrics_port) || !get_int(at(root, CHART.container_port), &port) ||
        metrics_port != port)
        return;
    valueslint_report_add(report, VALUESLINT_ERROR, "metrics-port-conflict", metrics->pos, CHART.metrics_port,
                          "%s %" PRId64 " is %s too: /metrics has a listener of its own, and bollard exits "
                          "78 when METRICS_PORT equals PORT",
                          CHART.metrics_port, metrics_port, CHART.container_port);
}

static void check_service(struct valueslint_report *report, const struct yamldoc_node *root)
{
    const struct yamldoc_node *node_port = at(root, CHART.node_port);
    if (!is_set(node_port))
        return;
    const char *type = get_string(at(root, CHART.service_type));
    if (type != NULL && strcmp(type, "ClusterIP") == 0)
        valueslint_report_add(
            report, VALUESLINT_ERROR, "nodeport-needs-type", node_port->pos, CHART.node_port,
            "%s is set but service.type is ClusterIP; use NodePort or LoadBalancer", CHART.node_port);
    int64_t port;
    if (get_int(node_port, &port) && (port < NODE_PORT_MIN || port > NODE_PORT_MAX) &&
        !valueslint_report_mentions(report, CHART.node_port))
        valueslint_report_add(report, VALUESLINT_ERROR, "nodeport-range", node_port->pos, CHART.node_port,
                              "%s %" PRId64 " is outside the NodePort range %d-%d", CHART.node_port, port,
                              NODE_PORT_MIN, NODE_PORT_MAX);
}

static bool in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* The name of the i-th item of a sequence of maps, or NULL. */
static const struct yamldoc_node *item_name(const struct yamldoc_node *seq, size_t i)
{
    const struct yamldoc_node *name = yamldoc_map_get(seq->items[i], "name");
    return get_string(name) != NULL ? name : NULL;
}

/* An earlier item of `seq` (before `limit`) with the same name, or NULL. */
static const struct yamldoc_node *earlier_name(const struct yamldoc_node *seq, size_t limit, const char *name)
{
    for (size_t j = 0; j < limit; j++) {
        const struct yamldoc_node *other = item_name(seq, j);
        if (other != NULL && strcmp(other->text, name) == 0)
            return other;
    }
    return NULL;
}

static bool is_seq(const struct yamldoc_node *node)
{
    return node != NULL && node->kind == YAMLDOC_SEQ;
}

static void check_extra_env(struct valueslint_report *report, const struct yamldoc_node *root,
                            const char *role)
{
    char path[160];
    join(path, sizeof(path), role, "extraEnv");
    const struct yamldoc_node *env = at(root, path);
    if (!is_seq(env))
        return;
    const struct yamldoc_node *config_env = at(root, CONFIG_EXTRA_ENV);
    for (size_t i = 0; i < env->count; i++) {
        const struct yamldoc_node *name = item_name(env, i);
        if (name == NULL)
            continue;
        char item_path[400];
        snprintf(item_path, sizeof(item_path), "%s[%zu].name", path, i);
        char first_at[300];
        const struct yamldoc_node *first = earlier_name(env, i, name->text);
        const struct yamldoc_node *in_config = config_env != NULL && config_env->kind == YAMLDOC_MAP
                                                   ? yamldoc_map_get(config_env, name->text)
                                                   : NULL;
        if (first != NULL)
            valueslint_report_add(report, VALUESLINT_ERROR, "extra-env-duplicate", name->pos, item_path,
                                  "%s: %s is already set at %s; Kubernetes keeps only the last one",
                                  item_path, name->text, where(first, first_at, sizeof(first_at)));
        else if (in_config != NULL)
            valueslint_report_add(
                report, VALUESLINT_ERROR, "extra-env-duplicate", name->pos, item_path,
                "%s: %s is also set by %s (%s), which this one would silently override; set "
                "it in one place",
                item_path, name->text, CONFIG_EXTRA_ENV, where(in_config, first_at, sizeof(first_at)));
    }
}

static void check_extra_volumes(struct valueslint_report *report, const struct yamldoc_node *root,
                                const char *role)
{
    char volumes_path[160], mounts_path[160];
    join(volumes_path, sizeof(volumes_path), role, "extraVolumes");
    join(mounts_path, sizeof(mounts_path), role, "extraVolumeMounts");
    const struct yamldoc_node *volumes = at(root, volumes_path);
    const struct yamldoc_node *mounts = at(root, mounts_path);
    if (is_seq(volumes)) {
        for (size_t i = 0; i < volumes->count; i++) {
            const struct yamldoc_node *name = item_name(volumes, i);
            char first_at[300], item_path[400];
            const struct yamldoc_node *first = name != NULL ? earlier_name(volumes, i, name->text) : NULL;
            snprintf(item_path, sizeof(item_path), "%s[%zu].name", volumes_path, i);
            if (first != NULL)
                valueslint_report_add(report, VALUESLINT_ERROR, "volume-name-duplicate", name->pos, item_path,
                                      "%s: the volume %s is already defined at %s", item_path, name->text,
                                      where(first, first_at, sizeof(first_at)));
        }
    }
    if (!is_seq(mounts))
        return;
    for (size_t i = 0; i < mounts->count; i++) {
        const struct yamldoc_node *name = item_name(mounts, i);
        if (name == NULL || in_list(CHART_VOLUMES, name->text) ||
            (is_seq(volumes) && earlier_name(volumes, volumes->count, name->text) != NULL))
            continue;
        char item_path[400];
        snprintf(item_path, sizeof(item_path), "%s[%zu].name", mounts_path, i);
        valueslint_report_add(report, VALUESLINT_ERROR, "volume-mount-unknown", name->pos, item_path,
                              "%s: no volume named %s in the pod; add it to %s (the chart's own are tmp, "
                              "secrets and alert-webhook)",
                              item_path, name->text, volumes_path);
    }
}

static void check_user_containers(struct valueslint_report *report, const struct yamldoc_node *root,
                                  const char *role, const char *chart_container)
{
    const struct yamldoc_node *lists[2] = {NULL, NULL};
    char paths[2][160];
    for (size_t l = 0; USER_CONTAINER_LISTS[l] != NULL; l++) {
        join(paths[l], sizeof(paths[l]), role, USER_CONTAINER_LISTS[l]);
        lists[l] = at(root, paths[l]);
    }
    for (size_t l = 0; l < 2; l++) {
        if (!is_seq(lists[l]))
            continue;
        for (size_t i = 0; i < lists[l]->count; i++) {
            const struct yamldoc_node *name = item_name(lists[l], i);
            if (name == NULL || strcmp(name->text, chart_container) == 0) /* the schema says so */
                continue;
            const struct yamldoc_node *first = earlier_name(lists[l], i, name->text);
            if (first == NULL && l == 1 && is_seq(lists[0]))
                first = earlier_name(lists[0], lists[0]->count, name->text);
            if (first == NULL)
                continue;
            char first_at[300], item_path[400];
            snprintf(item_path, sizeof(item_path), "%s[%zu].name", paths[l], i);
            valueslint_report_add(report, VALUESLINT_ERROR, "container-name-duplicate", name->pos, item_path,
                                  "%s: the container name %s is already used at %s (a pod's init containers "
                                  "and containers share one namespace)",
                                  item_path, name->text, where(first, first_at, sizeof(first_at)));
        }
    }
}

static void check_extras(struct valueslint_report *report, const struct yamldoc_node *root)
{
    for (size_t i = 0; i < sizeof(EXTRA_ROLES) / sizeof(EXTRA_ROLES[0]); i++) {
        check_extra_env(report, root, EXTRA_ROLES[i].role);
        check_extra_volumes(report, root, EXTRA_ROLES[i].role);
        check_user_containers(report, root, EXTRA_ROLES[i].role, EXTRA_ROLES[i].container);
    }
}

/* Where to report a missing list next to its switch: the list when the user wrote it there, else
 * the switch that asked for it (an empty default in the chart's values.yaml is not the mistake). */
static struct yamldoc_pos list_or_switch(const struct yamldoc_node *list, const struct yamldoc_node *on)
{
    if (list != NULL && list->pos.source != NULL && on->pos.source != NULL &&
        strcmp(list->pos.source, on->pos.source) == 0)
        return list->pos;
    return on->pos;
}

static void check_ways_in(struct valueslint_report *report, const struct yamldoc_node *root)
{
    const char *type = get_string(at(root, CHART.service_type));
    const struct yamldoc_node *policy = at(root, WAYS_IN.external_traffic_policy);
    const char *policy_text = get_string(policy);
    if (type != NULL && strcmp(type, "ClusterIP") == 0 && policy_text != NULL && *policy_text != '\0')
        valueslint_report_add(report, VALUESLINT_ERROR, "service-option-needs-type", policy->pos,
                              WAYS_IN.external_traffic_policy,
                              "%s is set but service.type is ClusterIP: Kubernetes refuses it there; use "
                              "NodePort or LoadBalancer",
                              WAYS_IN.external_traffic_policy);
    const struct yamldoc_node *ranges = at(root, WAYS_IN.load_balancer_source_ranges);
    if (type != NULL && strcmp(type, "LoadBalancer") != 0 && is_seq(ranges) && ranges->count > 0)
        valueslint_report_add(
            report, VALUESLINT_ERROR, "service-option-needs-type", ranges->pos,
            WAYS_IN.load_balancer_source_ranges,
            "%s is set but service.type is %s, which ignores it and admits every client; use "
            "LoadBalancer",
            WAYS_IN.load_balancer_source_ranges, type);
    const struct yamldoc_node *route = at(root, WAYS_IN.http_route);
    const struct yamldoc_node *route_enabled = yamldoc_map_get(route, "enabled");
    const struct yamldoc_node *parents = yamldoc_map_get(route, "parentRefs");
    if (is_true(route_enabled) && (!is_seq(parents) || parents->count == 0))
        valueslint_report_add(
            report, VALUESLINT_ERROR, "httproute-no-parent", list_or_switch(parents, route_enabled),
            "httpRoute.parentRefs",
            "httpRoute.parentRefs is empty: an HTTPRoute attached to no Gateway routes nothing");
    const struct yamldoc_node *ingress = at(root, WAYS_IN.ingress);
    const struct yamldoc_node *ingress_enabled = yamldoc_map_get(ingress, "enabled");
    const struct yamldoc_node *hosts = yamldoc_map_get(ingress, "hosts");
    if (is_true(ingress_enabled) && (!is_seq(hosts) || hosts->count == 0))
        valueslint_report_add(
            report, VALUESLINT_ERROR, "ingress-no-hosts", list_or_switch(hosts, ingress_enabled),
            "ingress.hosts",
            "ingress.hosts is empty: an Ingress without rules routes nothing (a rule with host "
            "\"\" matches every host)");
}

/* The Bollard key of a seed key ("backend.image.tag"), or NULL. */
static const char *seed_replacement(const char *path)
{
    for (size_t i = 0; i < sizeof(SEED_KEYS) / sizeof(SEED_KEYS[0]); i++) {
        const char *seed = SEED_KEYS[i].seed;
        size_t n = strlen(seed);
        if (n >= 2 && strcmp(seed + n - 2, ".*") == 0) {
            if (strncmp(path, seed, n - 1) == 0 && strchr(path + n - 1, '.') == NULL)
                return SEED_KEYS[i].bollard;
        } else if (strcmp(seed, path) == 0) {
            return SEED_KEYS[i].bollard;
        }
    }
    return NULL;
}

static bool has_seed_children(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof(SEED_KEYS) / sizeof(SEED_KEYS[0]); i++)
        if (strncmp(SEED_KEYS[i].seed, path, n) == 0 && SEED_KEYS[i].seed[n] == '.')
            return true;
    return false;
}

static void report_seed(struct valueslint_report *report, const struct yamldoc_node *node, const char *path,
                        const char *bollard)
{
    valueslint_report_add(report, VALUESLINT_ERROR, "seed-chart-key", node->pos, path,
                          "%s is a todo-chatbot seed chart key: %s", path, bollard);
}

/* Reports the keys under a seed subtree, one level into maps that SEED_KEYS details. */
static bool check_seed_subtree(struct valueslint_report *report, const struct yamldoc_node *node,
                               const char *path, unsigned depth)
{
    bool found = false;
    for (size_t i = 0; i < node->count; i++) {
        char child[256];
        join(child, sizeof(child), path, node->entries[i].key);
        const struct yamldoc_node *value = node->entries[i].value;
        if (depth < 2 && value->kind == YAMLDOC_MAP && value->count > 0 && has_seed_children(child)) {
            found |= check_seed_subtree(report, value, child, depth + 1);
            continue;
        }
        const char *bollard = seed_replacement(child);
        if (bollard != NULL) {
            report_seed(report, value, child, bollard);
            found = true;
        }
    }
    return found;
}

/* Only where the schema found an unknown key: a chart that declares such a key (another chart's
 * `tolerations`, say) is not the seed's. The seed findings replace that vaguer one. */
static void check_seed_keys(struct valueslint_report *report, const struct yamldoc_node *root)
{
    if (root == NULL || root->kind != YAMLDOC_MAP)
        return;
    for (size_t i = 0; i < root->count; i++) {
        const char *key = root->entries[i].key;
        const struct yamldoc_node *value = root->entries[i].value;
        bool subtree = in_list(SEED_ROOTS, key) && value->kind == YAMLDOC_MAP && value->count > 0;
        const char *bollard = subtree || has_seed_children(key) ? NULL : seed_replacement(key);
        if ((!subtree && bollard == NULL) || valueslint_report_drop(report, "unknown-key", value->pos) == 0)
            continue;
        if (subtree && !check_seed_subtree(report, value, key, 1))
            valueslint_report_add(
                report, VALUESLINT_ERROR, "seed-chart-key", value->pos, key,
                "%s is a todo-chatbot seed chart key: see the migration table in chart/bollard/README.md",
                key);
        else if (!subtree)
            report_seed(report, value, key, bollard);
    }
    /* Seed keys nested in a Bollard key (serviceAccount.automount). */
    for (size_t i = 0; i < sizeof(SEED_KEYS) / sizeof(SEED_KEYS[0]); i++) {
        const char *seed = SEED_KEYS[i].seed;
        const char *dot = strchr(seed, '.');
        if (dot == NULL || strchr(seed, '*') != NULL)
            continue;
        size_t n = (size_t)(dot - seed);
        bool under_root = false;
        for (size_t r = 0; SEED_ROOTS[r] != NULL; r++)
            under_root |= strlen(SEED_ROOTS[r]) == n && strncmp(SEED_ROOTS[r], seed, n) == 0;
        const struct yamldoc_node *node = under_root ? NULL : at(root, seed);
        if (node != NULL && valueslint_report_drop(report, "unknown-key", node->pos) > 0)
            report_seed(report, node, seed, SEED_KEYS[i].bollard);
    }
}

static void check_production(struct valueslint_report *report, const struct yamldoc_node *root,
                             bool deploy_input)
{
    const char *environment = get_string(at(root, CHART.environment));
    bool production = environment != NULL && strcmp(environment, CHART.production_value) == 0;
    const struct yamldoc_node *tag = at(root, CHART.image_tag);
    const char *digest = get_string(at(root, CHART.image_digest));
    if (production && get_string(tag) != NULL && strcmp(tag->text, "latest") == 0 &&
        (digest == NULL || !*digest))
        valueslint_report_add(
            report, VALUESLINT_ERROR, "latest-tag-production", tag->pos, CHART.image_tag,
            "%s: 'latest' in production: rollouts and rollbacks become unpredictable; pin a "
            "version or set image.digest",
            CHART.image_tag);

    /* A chart without the existingSecret switch has another secret layout: stay silent. */
    const struct yamldoc_node *existing_node = at(root, CHART.existing_secret);
    if (existing_node == NULL)
        return;
    const char *existing = get_string(existing_node);
    bool have_existing = existing != NULL && *existing != '\0';
    for (size_t i = 0; CHART.inline_secrets[i] != NULL; i++) {
        const struct yamldoc_node *secret = at(root, CHART.inline_secrets[i]);
        const char *value = get_string(secret);
        bool filled = value != NULL && *value != '\0';
        if (filled && have_existing)
            valueslint_report_add(report, VALUESLINT_WARNING, "inline-secret-ignored", secret->pos,
                                  CHART.inline_secrets[i], "%s is ignored because %s is set",
                                  CHART.inline_secrets[i], CHART.existing_secret);
        else if (filled && production)
            valueslint_report_add(
                report, VALUESLINT_ERROR, "inline-secret-production", secret->pos, CHART.inline_secrets[i],
                "%s: an inline secret in production ends up in plain text in the Helm release "
                "history; use %s",
                CHART.inline_secrets[i], CHART.existing_secret);
        else if (!filled && !have_existing && deploy_input) {
            struct yamldoc_pos pos = secret != NULL ? secret->pos : root->pos;
            valueslint_report_add(report, VALUESLINT_ERROR, "secret-missing", pos, CHART.inline_secrets[i],
                                  "%s is empty and %s is not set: the release has no %s",
                                  CHART.inline_secrets[i], CHART.existing_secret,
                                  CHART.inline_secrets[i] + strlen("secret."));
        }
    }
}

static bool filled(const struct yamldoc_node *node)
{
    const char *text = get_string(node);
    return text != NULL && *text != '\0';
}

/* The alert webhook's secrets: the same three cases as the chart's own (ignored next to a Secret,
 * refused inline in production, missing), where "a Secret" is its own or the chart's existingSecret. */
static void check_alerts(struct valueslint_report *report, const struct yamldoc_node *root, bool deploy_input)
{
    const struct yamldoc_node *enabled = at(root, ALERTS.enabled);
    if (enabled == NULL)
        return;
    const char *environment = get_string(at(root, CHART.environment));
    bool production = environment != NULL && strcmp(environment, CHART.production_value) == 0;
    bool own = filled(at(root, ALERTS.existing_secret));
    bool chart_existing = filled(at(root, CHART.existing_secret));
    const char *elsewhere = own ? ALERTS.existing_secret : CHART.existing_secret;
    for (size_t i = 0; ALERTS.inline_secrets[i] != NULL; i++) {
        const char *path = ALERTS.inline_secrets[i];
        const struct yamldoc_node *secret = at(root, path);
        if (filled(secret) && (own || chart_existing))
            valueslint_report_add(report, VALUESLINT_WARNING, "inline-secret-ignored", secret->pos, path,
                                  "%s is ignored because %s is set", path, elsewhere);
        else if (filled(secret) && production)
            valueslint_report_add(report, VALUESLINT_ERROR, "inline-secret-production", secret->pos, path,
                                  "%s: an inline secret in production ends up in plain text in the Helm "
                                  "release history; use %s",
                                  path, ALERTS.existing_secret);
        else if (!filled(secret) && is_true(enabled) && !own && !chart_existing && deploy_input)
            valueslint_report_add(report, VALUESLINT_ERROR, "alert-webhook-incomplete",
                                  secret != NULL ? secret->pos : enabled->pos, path,
                                  "%s is empty while %s is true and no Secret holds it (%s): bollard "
                                  "would exit 78",
                                  path, ALERTS.enabled, ALERTS.existing_secret);
    }
}

static void check_exit_codes(struct valueslint_report *report, const struct yamldoc_node *root)
{
    const struct yamldoc_node *codes = at(root, CHART.exit_codes);
    if (codes == NULL || codes->kind != YAMLDOC_SEQ)
        return;
    int64_t previous = 0;
    for (size_t i = 0; i < codes->count; i++) {
        int64_t code;
        if (!get_int(codes->items[i], &code))
            return;
        if (i > 0 && code <= previous) {
            char path[160];
            snprintf(path, sizeof(path), "%s[%zu]", CHART.exit_codes, i);
            if (!valueslint_report_mentions(report, path))
                valueslint_report_add(
                    report, VALUESLINT_ERROR, "exit-codes-order", codes->items[i]->pos, path,
                    "%s: %" PRId64 " after %" PRId64 "; the list must be strictly ascending", path, code,
                    previous);
            return;
        }
        previous = code;
    }
}

void valueslint_check_rules(struct valueslint_report *report, const struct yamldoc_node *root,
                            bool deploy_input)
{
    check_resources(report, root);
    check_probes(report, root);
    check_rollouts(report, root);
    check_workloads(report, root);
    check_keda(report, root);
    check_shutdown(report, root);
    check_service(report, root);
    check_metrics_port(report, root);
    check_ways_in(report, root);
    check_extras(report, root);
    check_seed_keys(report, root);
    check_production(report, root, deploy_input);
    check_alerts(report, root, deploy_input);
    check_exit_codes(report, root);
}
