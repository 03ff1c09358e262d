/* kube: the one question `bollard migrate up --phase contract --wait-rollout` asks the Kubernetes
 * API from inside a pod: has this Deployment finished rolling out? (libcurl, the pod's service
 * account credentials; read-only, one Deployment.) */
#ifndef BOLLARD_KUBE_H
#define BOLLARD_KUBE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* The in-cluster service account mount: token, ca.crt, namespace. */
#define KUBE_DEFAULT_CREDENTIALS_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

enum kube_wait {
    KUBE_WAIT_DONE = 0,    /* complete: every replica updated and available, no old one left */
    KUBE_WAIT_TIMEOUT,     /* still rolling out at the deadline (or its progress deadline passed) */
    KUBE_WAIT_FAILED,      /* credentials, API address, permission or a missing Deployment */
    KUBE_WAIT_INTERRUPTED, /* *interrupted became non-zero */
};

/* The rule of `kubectl rollout status` on a Deployment's JSON: observedGeneration >= generation,
 * updatedReplicas == spec.replicas == status.replicas == availableReplicas. Writes a one-line state
 * into summary. Pure (unit-tested); false when not complete or not a Deployment. */
bool kube_rollout_complete(const char *deployment_json, bool *progress_deadline_exceeded, char *summary,
                           size_t cap);
/* The pod template's terminationGracePeriodSeconds (Kubernetes' default 30 when absent). */
long kube_termination_grace(const char *deployment_json);

/* Polls GET /apis/apps/v1/namespaces/<ns>/deployments/<name> at KUBERNETES_SERVICE_HOST:PORT every
 * poll_ms until kube_rollout_complete, for at most timeout_s, logging progress (JSON lines) at each
 * poll. The token is read again at every poll (projected tokens rotate). A complete rollout no longer
 * counts the old pods that are still terminating (draining their last requests), so it then waits
 * the template's terminationGracePeriodSeconds too: after that, no old pod runs at all. */
enum kube_wait kube_wait_rollout(const char *credentials_dir, const char *name, int timeout_s, int poll_ms,
                                 volatile sig_atomic_t *interrupted, char *why, size_t cap);

#endif
