/* Unit tests of pkg/valueslint: Kubernetes quantities, the chart rules on small value trees, the
 * report (order, de-duplication) and the output formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "valueslint/valueslint.h"
#include "yamldoc/yamldoc.h"

static int compare_texts(const char *a, const char *b)
{
    struct valueslint_quantity qa, qb;
    if (valueslint_parse_quantity(a, &qa) != 0 || valueslint_parse_quantity(b, &qb) != 0)
        fail_msg("cannot parse %s or %s", a, b);
    return valueslint_compare_quantities(&qa, &qb);
}

static void test_quantities_compare_exactly(void **state)
{
    (void)state;
    assert_int_equal(compare_texts("100m", "0.1"), 0);
    assert_int_equal(compare_texts("1", "1000m"), 0);
    assert_int_equal(compare_texts("1Gi", "1073741824"), 0);
    assert_int_equal(compare_texts("1Gi", "1024Mi"), 0);
    assert_int_equal(compare_texts("1G", "1e9"), 0);
    assert_int_equal(compare_texts("1.5Gi", "1536Mi"), 0);
    assert_true(compare_texts("1Gi", "1G") > 0);
    assert_true(compare_texts("999m", "1") < 0);
    assert_true(compare_texts("2", "500m") > 0);
    assert_true(compare_texts("129Mi", "128Mi") > 0);
    assert_true(compare_texts("1Ei", "1E") > 0);
    assert_true(compare_texts("1n", "1u") < 0);
    assert_true(compare_texts("-1", "0") < 0);
    assert_int_equal(compare_texts("0", "0Mi"), 0);
    assert_int_equal(compare_texts(".5", "500m"), 0);
    assert_int_equal(compare_texts("12345678901234567890", "12345678901234567890"), 0);

    struct valueslint_quantity q;
    static const char *const BAD[] = {"", "m", "1MB", "1.2.3", "1 Gi", "abc", "1e", "1e1.5", "Gi", "1ki"};
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++)
        assert_int_equal(valueslint_parse_quantity(BAD[i], &q), -1);
}

struct rules_fixture {
    struct yamldoc_set *set;
    struct valueslint_report report;
};

static int setup(void **state)
{
    struct rules_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->set = yamldoc_set_new();
    valueslint_report_init(&f->report);
    *state = f;
    return f->set == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    struct rules_fixture *f = *state;
    valueslint_report_free(&f->report);
    yamldoc_set_free(f->set);
    free(f);
    return 0;
}

/* Runs the rules on `yaml`; returns the rule ids found, space separated. */
static const char *rules_on(struct rules_fixture *f, const char *yaml, bool deploy_input)
{
    static char ids[512];
    struct yamldoc_node *root = NULL;
    struct yamldoc_error err;
    if (yamldoc_load_buffer(f->set, "v.yaml", yaml, strlen(yaml), &root, &err) != 0)
        fail_msg("yaml: %s", err.message);
    valueslint_report_free(&f->report);
    valueslint_report_init(&f->report);
    valueslint_check_rules(&f->report, root, deploy_input);
    ids[0] = '\0';
    for (size_t i = 0; i < f->report.count; i++) {
        strncat(ids, i ? " " : "", sizeof(ids) - strlen(ids) - 1);
        strncat(ids, f->report.items[i].rule, sizeof(ids) - strlen(ids) - 1);
    }
    return ids;
}

static void test_resource_and_probe_rules(void **state)
{
    struct rules_fixture *f = *state;
    assert_string_equal(
        rules_on(
            f, "api: {resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {cpu: 0.1, memory: 1024Mi}}}\n",
            false),
        "");
    assert_string_equal(
        rules_on(f, "api:\n  resources:\n    requests: {cpu: 2}\n    limits: {cpu: 500m}\n", false),
        "request-exceeds-limit");
    assert_int_equal(f->report.items[0].pos.line, 3);
    assert_string_equal(f->report.items[0].path, "api.resources.requests.cpu");
    assert_string_equal(rules_on(f, "worker: {resources: {limits: {memory: 12XB}}}\n", false),
                        "quantity-invalid");
    assert_string_equal(
        rules_on(f, "api: {probes: {liveness: {periodSeconds: 5, timeoutSeconds: 5}}}\n", false),
        "probe-timeout-period");
    /* Kubernetes defaults: timeout 1 and period 10, so a lone timeoutSeconds: 10 is too long. */
    assert_string_equal(rules_on(f, "api: {probes: {startup: {timeoutSeconds: 10}}}\n", false),
                        "probe-timeout-period");
    assert_string_equal(
        rules_on(f,
                 "api: {probes: {liveness: {periodSeconds: 10}, readiness: {periodSeconds: 10, "
                 "successThreshold: 1, failureThreshold: 3}}}\n",
                 false),
        "identical-probes");
    assert_string_equal(
        rules_on(f, "api: {probes: {liveness: {periodSeconds: 10}, readiness: {periodSeconds: 5}}}\n", false),
        "");
}

static void test_rollout_pdb_hpa_rules(void **state)
{
    struct rules_fixture *f = *state;
    assert_string_equal(
        rules_on(f, "api: {strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 0%}}}\n", false),
        "rollout-no-progress");
    assert_string_equal(
        rules_on(f, "api: {strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}}\n", false), "");
    assert_string_equal(
        rules_on(f, "api: {replicas: 1, podDisruptionBudget: {enabled: true, minAvailable: 1}}\n", false),
        "pdb-single-replica");
    assert_string_equal(
        rules_on(f, "api: {replicas: 1, podDisruptionBudget: {enabled: true, maxUnavailable: 1}}\n", false),
        "");
    assert_string_equal(
        rules_on(f, "api: {replicas: 3, podDisruptionBudget: {enabled: true, minAvailable: 100%}}\n", false),
        "pdb-blocks-eviction");
    assert_string_equal(
        rules_on(f, "api: {replicas: 3, podDisruptionBudget: {enabled: true, maxUnavailable: 0%}}\n", false),
        "pdb-blocks-eviction");
    assert_string_equal(
        rules_on(f, "api: {replicas: 3, podDisruptionBudget: {enabled: true, minAvailable: 50%}}\n", false),
        "");
    assert_string_equal(
        rules_on(
            f,
            "api: {replicas: 3, podDisruptionBudget: {enabled: true, minAvailable: 1, maxUnavailable: 1}}\n",
            false),
        "pdb-both-set");
    assert_string_equal(rules_on(f,
                                 "worker: {enabled: false, replicas: 1, podDisruptionBudget: {enabled: true, "
                                 "minAvailable: 1}}\n",
                                 false),
                        "");
    assert_string_equal(rules_on(f,
                                 "api: {autoscaling: {enabled: true, minReplicas: 4, maxReplicas: 2, "
                                 "targetCPUUtilizationPercentage: 70}}\n",
                                 false),
                        "hpa-min-above-max");
    assert_string_equal(
        rules_on(f, "api: {autoscaling: {enabled: true, minReplicas: 1, maxReplicas: 2}}\n", false),
        "hpa-no-target");
}

static void test_shutdown_service_production_rules(void **state)
{
    struct rules_fixture *f = *state;
    assert_string_equal(rules_on(f, "api: {shutdown: {drainSeconds: 25, timeoutSeconds: 25}}\n", false),
                        "shutdown-drain-timeout");
    assert_string_equal(rules_on(f,
                                 "api: {shutdown: {timeoutSeconds: 25, preStopSleepSeconds: 5}, "
                                 "terminationGracePeriodSeconds: 30}\n",
                                 false),
                        "grace-period-too-short");
    assert_string_equal(rules_on(f, "service: {type: ClusterIP, nodePort: 30080}\n", false),
                        "nodeport-needs-type");
    assert_string_equal(rules_on(f, "service: {type: NodePort, nodePort: 80}\n", false), "nodeport-range");
    assert_string_equal(rules_on(f, "config: {port: 9090}\nmetrics: {port: 9090}\n", false),
                        "metrics-port-conflict");
    assert_string_equal(rules_on(f, "config: {port: 8000}\nmetrics: {port: 9090}\n", false), "");
    assert_string_equal(
        rules_on(f, "config: {environment: production}\nimage: {tag: latest, digest: ''}\n", false),
        "latest-tag-production");
    assert_string_equal(rules_on(f, "config: {environment: staging}\nimage: {tag: latest}\n", false), "");
    const char *inline_secrets =
        "config: {environment: production}\n"
        "secret: {existingSecret: '', databaseUrl: 'postgresql://x', secretKey: '', redisUrl: ''}\n";
    assert_string_equal(rules_on(f, inline_secrets, false), "inline-secret-production");
    assert_string_equal(rules_on(f, inline_secrets, true),
                        "inline-secret-production secret-missing secret-missing");
    assert_string_equal(rules_on(f, "secret: {existingSecret: ext, databaseUrl: 'postgresql://x'}\n", true),
                        "inline-secret-ignored");
    /* the alert webhook's secrets follow the same three cases */
    assert_string_equal(rules_on(f, "alerts: {webhook: {enabled: true, url: '', signingSecret: ''}}\n", true),
                        "alert-webhook-incomplete alert-webhook-incomplete");
    assert_string_equal(
        rules_on(f, "alerts: {webhook: {enabled: true, url: '', signingSecret: ''}}\n", false), "");
    assert_string_equal(
        rules_on(f, "alerts: {webhook: {enabled: true, url: '', signingSecret: '', existingSecret: a}}\n",
                 true),
        "");
    assert_string_equal(rules_on(f,
                                 "secret: {existingSecret: ext}\n"
                                 "alerts: {webhook: {enabled: true, url: 'https://h.example/x', "
                                 "signingSecret: ''}}\n",
                                 true),
                        "inline-secret-ignored");
    assert_string_equal(rules_on(f,
                                 "config: {environment: production}\n"
                                 "secret: {existingSecret: ext}\n"
                                 "alerts: {webhook: {enabled: true, url: 'https://h.example/x', "
                                 "signingSecret: '0123456789abcdef', existingSecret: ''}}\n",
                                 false),
                        "inline-secret-ignored inline-secret-ignored");
    assert_string_equal(rules_on(f,
                                 "config: {environment: production}\n"
                                 "secret: {existingSecret: ''}\n"
                                 "alerts: {webhook: {enabled: false, url: 'https://h.example/x'}}\n",
                                 false),
                        "inline-secret-production");
    assert_string_equal(rules_on(f, "migrations: {permanentFailureExitCodes: [2, 3, 3]}\n", false),
                        "exit-codes-order");
    assert_string_equal(rules_on(f,
                                 "worker: {autoscaling: {enabled: true, targetCPUUtilizationPercentage: 70}, "
                                 "keda: {enabled: true}}\n",
                                 false),
                        "keda-with-hpa");
    assert_string_equal(
        rules_on(f, "worker: {enabled: false, autoscaling: {enabled: true}, keda: {enabled: true}}\n", false),
        "");
    assert_string_equal(rules_on(f,
                                 "worker: {keda: {enabled: true, minReplicaCount: 0, maxReplicaCount: 3, "
                                 "metric: pendingEntriesCount}}\n",
                                 false),
                        "keda-zero-never-wakes");
    assert_string_equal(
        rules_on(
            f, "worker: {keda: {enabled: true, minReplicaCount: 0, maxReplicaCount: 3, metric: lagCount}}\n",
            false),
        "");
    assert_string_equal(
        rules_on(
            f, "worker: {keda: {enabled: true, minReplicaCount: 4, maxReplicaCount: 3, metric: lagCount}}\n",
            false),
        "keda-min-above-max");
    assert_string_equal(
        rules_on(f, "secret: {existingSecret: ext}\nworker: {keda: {enabled: true, redis: {address: ''}}}\n",
                 false),
        "keda-address-missing");
    assert_string_equal(
        rules_on(
            f, "secret: {existingSecret: ext}\nworker: {keda: {enabled: true, redis: {address: 'r:6379'}}}\n",
            false),
        "");
    assert_string_equal(rules_on(f, "service: {type: ClusterIP, externalTrafficPolicy: Local}\n", false),
                        "service-option-needs-type");
    assert_string_equal(rules_on(f,
                                 "service: {type: LoadBalancer, externalTrafficPolicy: Local, "
                                 "loadBalancerSourceRanges: [10.0.0.0/8]}\n",
                                 false),
                        "");
    assert_string_equal(
        rules_on(f, "service: {type: NodePort, loadBalancerSourceRanges: [10.0.0.0/8]}\n", false),
        "service-option-needs-type");
    assert_string_equal(rules_on(f, "httpRoute: {enabled: true, parentRefs: []}\n", false),
                        "httproute-no-parent");
    assert_string_equal(rules_on(f, "httpRoute: {enabled: false, parentRefs: []}\n", false), "");
    assert_string_equal(rules_on(f, "ingress: {enabled: true, hosts: []}\n", false), "ingress-no-hosts");
    assert_string_equal(
        rules_on(f,
                 "config: {extraEnv: {A: x}}\napi: {extraEnv: [{name: A, value: y}, {name: B}, {name: "
                 "B}]}\n",
                 false),
        "extra-env-duplicate extra-env-duplicate");
    assert_string_equal(
        rules_on(f,
                 "worker: {extraVolumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}], "
                 "extraVolumeMounts: [{name: v, mountPath: /v}, {name: tmp, mountPath: /t}, {name: w, "
                 "mountPath: /w}]}\n",
                 false),
        "volume-name-duplicate volume-mount-unknown");
    assert_string_equal(
        rules_on(f,
                 "migrations: {initContainers: [{name: a, image: i}], sidecars: [{name: b, image: i}, "
                 "{name: a, image: i}]}\n",
                 false),
        "container-name-duplicate");
    assert_string_equal(rules_on(f, "unrelated: {values: 1}\n", true), ""); /* absent paths: silent */
}

/* Seed chart keys (issue 18 item 10) replace the schema's unknown-key finding at the same place, and
 * only there: without one (a chart that declares the key) they stay silent. */
static void test_seed_chart_keys(void **state)
{
    struct rules_fixture *f = *state;
    const char *yaml = "backend:\n  replicaCount: 2\n  image: {tag: x}\n  secrets: {DATABASE_URL: x}\n"
                       "frontend: {replicaCount: 1}\ntolerations: []\n";
    assert_string_equal(rules_on(f, yaml, false), ""); /* no unknown-key: not the seed's */
    struct yamldoc_node *root = NULL;
    struct yamldoc_error err;
    if (yamldoc_load_buffer(f->set, "v.yaml", yaml, strlen(yaml), &root, &err) != 0)
        fail_msg("yaml: %s", err.message);
    valueslint_report_free(&f->report);
    valueslint_report_init(&f->report);
    const char *const unknown[] = {"backend", "frontend", "tolerations"};
    for (size_t i = 0; i < 3; i++)
        valueslint_report_add(&f->report, VALUESLINT_ERROR, "unknown-key",
                              yamldoc_get_path(root, unknown[i])->pos, "", "unknown key '%s'", unknown[i]);
    valueslint_check_rules(&f->report, root, false);
    assert_int_equal(f->report.count, 5);
    for (size_t i = 0; i < f->report.count; i++)
        assert_string_equal(f->report.items[i].rule, "seed-chart-key");
    assert_string_equal(
        f->report.items[0].message,
        "backend.replicaCount is a todo-chatbot seed chart key: use api.replicas (the worker has its "
        "own: worker.replicas)");
    assert_int_equal(f->report.items[0].pos.line, 2);
    assert_int_equal(f->report.items[0].pos.column, 3);
    assert_non_null(strstr(f->report.items[2].message, "use secret.databaseUrl"));
    assert_non_null(strstr(f->report.items[3].message,
                           "frontend is a todo-chatbot seed chart key: the frontend is "
                           "not part of Bollard"));
    assert_string_equal(f->report.items[4].path, "tolerations");
}

static void test_report_sorts_and_drops_repeats(void **state)
{
    (void)state;
    struct valueslint_report report;
    valueslint_report_init(&report);
    struct yamldoc_pos set_pos = {"--set[1]", 1, 1}, b = {"b.yaml", 2, 1}, a5 = {"a.yaml", 5, 3},
                       a1 = {"a.yaml", 1, 1};
    valueslint_report_add(&report, VALUESLINT_ERROR, "r", set_pos, "x", "from set");
    valueslint_report_add(&report, VALUESLINT_ERROR, "r", b, "x", "in b");
    valueslint_report_add(&report, VALUESLINT_WARNING, "r", a5, "x", "in a later");
    valueslint_report_add(&report, VALUESLINT_ERROR, "r", a1, "x", "in a first");
    valueslint_report_add(&report, VALUESLINT_ERROR, "r", a1, "x", "in a first");
    const char *const sources[] = {"a.yaml", "b.yaml"};
    valueslint_report_sort(&report, sources, 2);
    assert_int_equal(report.count, 4);
    assert_string_equal(report.items[0].message, "in a first");
    assert_string_equal(report.items[1].message, "in a later");
    assert_string_equal(report.items[2].message, "in b");
    assert_string_equal(report.items[3].message, "from set");
    assert_int_equal(valueslint_report_count(&report, VALUESLINT_WARNING), 1);
    assert_true(valueslint_report_mentions(&report, "x"));
    assert_false(valueslint_report_mentions(&report, "y"));

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(valueslint_write(&report, VALUESLINT_TEXT, out), 0);
    fclose(out);
    assert_non_null(strstr(text, "a.yaml:1:1: error: in a first [r]\na.yaml:5:3: warning: in a later [r]\n"));
    free(text);

    out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(valueslint_write(&report, VALUESLINT_GITHUB, out), 0);
    fclose(out);
    assert_non_null(strstr(text, "::warning file=a.yaml,line=5,col=3,title=r::in a later [r]\n"));
    assert_non_null(strstr(text, "::error title=r::--set[1] (column 1): from set [r]\n"));
    free(text);
    valueslint_report_free(&report);
}

static void test_every_emitted_rule_is_catalogued(void **state)
{
    (void)state;
    static const char *const EMITTED[] = {
        "request-exceeds-limit",
        "quantity-invalid",
        "probe-timeout-period",
        "identical-probes",
        "rollout-no-progress",
        "pdb-single-replica",
        "pdb-blocks-eviction",
        "pdb-both-set",
        "hpa-min-above-max",
        "hpa-no-target",
        "shutdown-drain-timeout",
        "grace-period-too-short",
        "nodeport-needs-type",
        "nodeport-range",
        "metrics-port-conflict",
        "latest-tag-production",
        "inline-secret-production",
        "inline-secret-ignored",
        "secret-missing",
        "alert-webhook-incomplete",
        "exit-codes-order",
        "keda-with-hpa",
        "keda-min-above-max",
        "keda-zero-never-wakes",
        "keda-address-missing",
        "service-option-needs-type",
        "httproute-no-parent",
        "ingress-no-hosts",
        "extra-env-duplicate",
        "volume-name-duplicate",
        "volume-mount-unknown",
        "container-name-duplicate",
        "seed-chart-key",
        "schema-not",
        "duplicate-key",
        "unknown-key",
        "schema-type",
        "yaml-syntax",
        "yaml-limit",
        "set-syntax",
        "io-error",
        "values-structure",
        "schema-error",
        "multiple-documents",
    };
    for (size_t i = 0; i < sizeof(EMITTED) / sizeof(EMITTED[0]); i++)
        assert_non_null(valueslint_rule_info(EMITTED[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantities_compare_exactly),
        cmocka_unit_test_setup_teardown(test_resource_and_probe_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_pdb_hpa_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_service_production_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_chart_keys, setup, teardown),
        cmocka_unit_test(test_report_sorts_and_drops_repeats),
        cmocka_unit_test(test_every_emitted_rule_is_catalogued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
