"""manifests/: the chart rendered for `kubectl apply -k manifests/`, kept in sync by this test."""
import os

import yaml

from chartlib import CHART, REPO, run, tool

MANIFESTS = os.path.join(REPO, "manifests")


def render():
    p = run([tool("BOLLARD_HELM"), "template", "bollard", CHART, "-f", os.path.join(MANIFESTS, "values.yaml"),
             "--skip-tests"])
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_manifests_are_up_to_date():
    with open(os.path.join(MANIFESTS, "bollard.yaml")) as f:
        committed = f.read()
    body = committed.split("\n", 2)[2]  # two header comment lines
    assert body == render(), "manifests/bollard.yaml is out of date: run `make manifests` and commit"


def test_kustomization_lists_the_rendered_file():
    with open(os.path.join(MANIFESTS, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    assert k["resources"] == ["bollard.yaml"]
    assert set(k) == {"apiVersion", "kind", "resources"}


def test_manifests_suit_kubectl():
    with open(os.path.join(MANIFESTS, "bollard.yaml")) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Job", "PodDisruptionBudget", "PodDisruptionBudget",
                     "Service", "Service", "ServiceAccount"]
    for o in objs:
        assert "namespace" not in o["metadata"], "kustomize (or kubectl -n) sets the namespace"
        assert "helm.sh/hook" not in o["metadata"].get("annotations", {}), "kubectl ignores hooks"
    job = [o for o in objs if o["kind"] == "Job"][0]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    # The Secret is the user's (documented in manifests/README.md), under the documented name and keys.
    secret_refs = {v["secret"]["secretName"] for o in objs if o["kind"] in ("Deployment", "Job")
                   for v in o["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert secret_refs == {"bollard"}


def test_manifests_validate_strictly(kvalidate):
    p = run([kvalidate, "manifests", os.path.join(MANIFESTS, "bollard.yaml")],
            env={"KVALIDATE_EXTERNAL": "Secret/bollard", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stdout + p.stderr
