"""Issue 18 item 5: the worker scaled by KEDA on the webhook job stream (ScaledObject on the
redis-streams scaler, TriggerAuthentication from the chart's Secret or existingSecret), refused
together with the worker HPA, and HPA `behavior` for both HPAs."""
import base64
import os
import re

import pytest

import harness
from chartlib import CHART, CI_DIR, SECRETS, helm_template, run, tool

KEDA = ["worker.keda.enabled=true"]


def lint(*args):
    return run([tool("BOLLARD_CHART_LINT"), "values", "lint", "--chart", CHART, *args], cwd=harness.REPO)


def kvalidate(rendered_text, tmp_path, external="Secret/bollard-external"):
    out = tmp_path / "rendered.yaml"
    out.write_text(rendered_text)
    return run([tool("BOLLARD_KVALIDATE"), "manifests", str(out)],
               env={"KVALIDATE_EXTERNAL": external, "PATH": "/usr/bin:/bin"})


def test_scaled_object_on_the_job_stream_with_credentials_from_the_inline_url():
    r = helm_template(SECRETS, sets=KEDA + ["secret.redisUrl=redis://bob:s3cret@redis.example:6380/2"])
    so = r.one("ScaledObject")
    worker = r.one("Deployment", "worker")
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": worker["metadata"]["name"]}
    assert "replicas" not in worker["spec"], "KEDA's HPA owns the worker's replica count"
    assert not r.kinds("HorizontalPodAutoscaler")
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (1, 5)
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    assert trigger["metadata"] == {
        "address": "redis.example:6380", "databaseIndex": "2", "stream": "bollard:{webhooks}:jobs",
        "consumerGroup": "deliverers", "pendingEntriesCount": "8", "enableTLS": "false"}
    ta = r.one("TriggerAuthentication")
    assert trigger["authenticationRef"] == {"name": ta["metadata"]["name"]}
    secret = r.one("Secret", name="rel-bollard")
    refs = {x["parameter"]: x for x in ta["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password"}
    for param, value in (("username", "bob"), ("password", "s3cret")):
        assert refs[param]["name"] == "rel-bollard"
        assert base64.b64decode(secret["data"][refs[param]["key"]]).decode() == value
    # The stream and group are the ones the worker uses.
    with open(os.path.join(harness.REPO, "pkg", "queue", "queue.h")) as f:
        queue_h = f.read()
    assert '#define QUEUE_STREAM_JOBS "bollard:{webhooks}:jobs"' in queue_h
    assert '#define QUEUE_GROUP "deliverers"' in queue_h


def test_no_password_no_trigger_authentication_and_default_port():
    r = helm_template(SECRETS, sets=KEDA + ["secret.redisUrl=redis://redis"])
    (trigger,) = r.one("ScaledObject")["spec"]["triggers"]
    assert trigger["metadata"]["address"] == "redis:6379" and trigger["metadata"]["databaseIndex"] == "0"
    assert "authenticationRef" not in trigger and not r.kinds("TriggerAuthentication")
    assert set(r.one("Secret", name="rel-bollard")["data"]) == {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"}
    # KEDA off: the chart's Secret holds no split-out credentials.
    r = helm_template(SECRETS, sets=["secret.redisUrl=redis://:pw@redis:6379"])
    assert set(r.one("Secret", name="rel-bollard")["data"]) == {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"}
    assert not r.kinds("ScaledObject")


def test_lag_metric_scales_to_zero_with_tls_and_behavior(tmp_path):
    path = os.path.join(CI_DIR, "keda-values.yaml")
    r = helm_template(path, sets=["worker.keda.redis.enableTLS=true", "worker.keda.redis.address=redis-tls:6380"])
    so = r.one("ScaledObject")
    md = so["spec"]["triggers"][0]["metadata"]
    assert md["lagCount"] == "20" and md["activationLagCount"] == "1" and "pendingEntriesCount" not in md
    assert md["enableTLS"] == "true" and md["unsafeSsl"] == "false" and md["address"] == "redis-tls:6380"
    assert md["databaseIndex"] == "1"
    assert so["spec"]["minReplicaCount"] == 0
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0}}
    assert [x["parameter"] for x in r.one("TriggerAuthentication")["spec"]["secretTargetRef"]] == ["password"]
    p = helm_template(path, check=False)
    k = kvalidate(p.stdout, tmp_path)
    assert k.returncode == 0, k.stdout + k.stderr


def test_existing_secret_needs_an_address_and_names_its_keys(tmp_path):
    base = KEDA + ["secret.existingSecret=bollard-external"]
    p = helm_template(sets=base, check=False)
    assert p.returncode != 0 and "worker.keda.redis.address (host:port) is required with secret.existingSecret" in p.stderr
    l = lint("--set", "secret.existingSecret=bollard-external", "--set", "worker.keda.enabled=true")
    assert l.returncode == 1 and "[keda-address-missing]" in l.stdout
    assert re.search(r"values\.yaml:\d+:\d+: error: worker\.keda\.redis\.address is empty", l.stdout), l.stdout
    sets = base + ["worker.keda.redis.address=redis.prod:6379", "worker.keda.redis.databaseIndex=3",
                   "secret.keys.redisPassword=redis-password"]
    p = helm_template(sets=sets, check=False)
    assert p.returncode == 0, p.stderr
    import yaml
    r = [d for d in yaml.safe_load_all(p.stdout) if d]
    (ta,) = [d for d in r if d["kind"] == "TriggerAuthentication"]
    assert ta["spec"]["secretTargetRef"] == [{"parameter": "password", "name": "bollard-external", "key": "redis-password"}]
    (so,) = [d for d in r if d["kind"] == "ScaledObject"]
    assert so["spec"]["triggers"][0]["metadata"]["databaseIndex"] == "3"
    assert kvalidate(p.stdout, tmp_path).returncode == 0
    # The Secret it names must exist: kvalidate catches a TriggerAuthentication pointing nowhere.
    k = kvalidate(p.stdout, tmp_path, external="")
    assert k.returncode != 0 and "TriggerAuthentication" in k.stdout + k.stderr


def test_keda_and_the_worker_hpa_are_refused_together():
    sets = KEDA + ["worker.autoscaling.enabled=true"]
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and "worker.keda.enabled" in p.stderr, p.stderr
    # Without the schema (--skip-schema-validation) the template says it in words.
    p = helm_template(SECRETS, sets=sets, extra=["--skip-schema-validation"], check=False)
    assert p.returncode != 0
    assert "worker.keda.enabled and worker.autoscaling.enabled are both true" in p.stderr, p.stderr
    l = lint("-f", SECRETS, "--set", sets[0], "--set", sets[1])
    assert l.returncode == 1 and "[keda-with-hpa]" in l.stdout and "[schema-anyof]" in l.stdout, l.stdout
    # Each alone is fine; the API HPA next to KEDA is fine too.
    helm_template(SECRETS, sets=KEDA + ["api.autoscaling.enabled=true"])
    helm_template(SECRETS, sets=["worker.autoscaling.enabled=true"])


def test_keda_refusals_in_a_values_file_point_at_the_line(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("worker:\n  autoscaling:\n    enabled: true\n  keda:\n    enabled: true\n    minReplicaCount: 0\n")
    l = lint("-f", SECRETS, "-f", str(f))
    assert l.returncode == 1
    assert f"{f}:5:5: error: worker.keda.enabled and worker.autoscaling.enabled ({f}:3) are both true" in l.stdout, l.stdout
    assert f"{f}:6:5: error: worker.keda.minReplicaCount 0 with metric pendingEntriesCount" in l.stdout, l.stdout


@pytest.mark.parametrize("sets, message", [
    (KEDA + ["worker.keda.minReplicaCount=0"], "worker.keda.minReplicaCount 0 needs worker.keda.metric lagCount"),
    (KEDA + ["worker.keda.minReplicaCount=6"], "worker.keda.minReplicaCount must not be above worker.keda.maxReplicaCount"),
    (KEDA + ["secret.redisUrl=redis://:p%40ss@redis:6379"], "percent-encoded"),
])
def test_inconsistent_keda_values_are_refused(sets, message):
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr


@pytest.mark.parametrize("sets", [
    ["worker.keda.metric=xlen"],
    ["worker.keda.redis.address=redis"],
    ["worker.keda.target=0"],
    ["api.autoscaling.behavior.scaleDown.selectPolicy=Sometimes"],
    ["worker.autoscaling.behavior.scaleUp.policies[0].type=Pods"],
    ["api.autoscaling.behavior.scaleUp.stabilizationWindowSeconds=7200"],
])
def test_schema_refuses_bad_autoscaling_values(sets):
    assert helm_template(SECRETS, sets=sets, check=False).returncode != 0


def test_hpa_behavior_for_api_and_worker():
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 120,
                              "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}
    sets = []
    for role in ("api", "worker"):
        sets += [f"{role}.autoscaling.enabled=true",
                 f"{role}.autoscaling.behavior.scaleDown.stabilizationWindowSeconds=120",
                 f"{role}.autoscaling.behavior.scaleDown.policies[0].type=Percent",
                 f"{role}.autoscaling.behavior.scaleDown.policies[0].value=50",
                 f"{role}.autoscaling.behavior.scaleDown.policies[0].periodSeconds=60"]
    r = helm_template(SECRETS, sets=sets)
    for role in ("api", "worker"):
        assert r.one("HorizontalPodAutoscaler", role)["spec"]["behavior"] == behavior
    r = helm_template(SECRETS, sets=["api.autoscaling.enabled=true"])
    assert "behavior" not in r.one("HorizontalPodAutoscaler", "api")["spec"]
