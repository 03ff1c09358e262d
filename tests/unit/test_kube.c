/* Unit tests of pkg/kube: the `kubectl rollout status` rule on a Deployment's JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kube/kube.h"

static bool complete(long gen, long observed, long want, long updated, long total, long available,
                     const char *reason, bool *deadline)
{
    char doc[1024], summary[256];
    snprintf(doc, sizeof(doc),
             "{\"kind\":\"Deployment\",\"metadata\":{\"generation\":%ld},\"spec\":{\"replicas\":%ld},"
             "\"status\":{\"observedGeneration\":%ld,\"updatedReplicas\":%ld,\"replicas\":%ld,"
             "\"availableReplicas\":%ld,\"conditions\":[{\"type\":\"Progressing\",\"reason\":\"%s\"}]}}",
             gen, want, observed, updated, total, available, reason);
    return kube_rollout_complete(doc, deadline, summary, sizeof(summary));
}

static void test_rollout_rule(void **state)
{
    (void)state;
    bool deadline = false;
    assert_true(complete(3, 3, 2, 2, 2, 2, "NewReplicaSetAvailable", &deadline));
    assert_false(deadline);
    assert_false(complete(3, 2, 2, 2, 2, 2, "x", &deadline)); /* the controller has not seen the new spec */
    assert_false(complete(3, 3, 2, 1, 3, 2, "x", &deadline)); /* an old pod still there */
    assert_false(complete(3, 3, 2, 2, 3, 2, "x", &deadline)); /* an old pod terminating */
    assert_false(complete(3, 3, 2, 2, 2, 1, "x", &deadline)); /* a new pod not available yet */
    assert_false(complete(3, 3, 2, 1, 2, 2, "ProgressDeadlineExceeded", &deadline));
    assert_true(deadline);
    char summary[256];
    assert_false(kube_rollout_complete("{\"kind\":\"Status\"}", &deadline, summary, sizeof(summary)));
    assert_false(kube_rollout_complete("not json", &deadline, summary, sizeof(summary)));
    /* spec.replicas omitted means 1 */
    assert_true(kube_rollout_complete("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":1},\"status\":{"
                                      "\"observedGeneration\":1,\"updatedReplicas\":1,\"replicas\":1,"
                                      "\"availableReplicas\":1}}",
                                      &deadline, summary, sizeof(summary)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rollout_rule)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
