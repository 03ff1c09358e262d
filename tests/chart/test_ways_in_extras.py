"""Issue 18 item 6: ways in (Ingress, Gateway API HTTPRoute, Service traffic policy and source
ranges) and per-role extras (extraEnv with valueFrom, extraEnvFrom, extraVolumes/Mounts,
initContainers, sidecars, podLabels, commonLabels/commonAnnotations), with the contract's
invariants kept: the chart's containers keep their hardening and their one image, the API keeps
maxUnavailable 0, selector labels and the chart's environment cannot be overridden."""
import os
import re

import pytest
import yaml

import harness
from chartlib import CHART, CI_DIR, SECRETS, helm_template, run, tool

EXTRAS = os.path.join(CI_DIR, "extras-values.yaml")
IMAGE = "ghcr.io/bollard/bollard"


def lint(*args):
    return run([tool("BOLLARD_CHART_LINT"), "values", "lint", "--chart", CHART, *args], cwd=harness.REPO)


def containers(spec):
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


@pytest.fixture(scope="module")
def extras():
    return helm_template(EXTRAS)


@pytest.fixture(scope="module")
def plain():
    return helm_template(SECRETS)


def test_ingress_and_http_route_reach_the_service(extras):
    svc = extras.one("Service", "api")
    ing = extras.one("Ingress")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"secretName": "bollard-tls", "hosts": ["bollard.example.com"]}]
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == "bollard.example.com"
    assert rule["http"]["paths"] == [{"path": "/", "pathType": "Prefix",
                                      "backend": {"service": {"name": svc["metadata"]["name"], "port": {"name": "http"}}}}]
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "120"
    route = extras.one("HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateway-system", "sectionName": "https"}]
    assert route["spec"]["hostnames"] == ["bollard.example.com"]
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": svc["metadata"]["name"], "port": 8000}],
                                       "matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["externalTrafficPolicy"] == "Local"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8", "192.168.0.0/16"]


def test_defaults_render_no_way_in(plain):
    assert not plain.kinds("Ingress") and not plain.kinds("HTTPRoute")
    spec = plain.one("Service", "api")["spec"]
    assert "externalTrafficPolicy" not in spec and "loadBalancerSourceRanges" not in spec


def test_common_labels_and_annotations_on_every_object(extras):
    for o in extras:
        where = f"{o['kind']}/{o['metadata']['name']}"
        assert o["metadata"]["labels"]["team"] == "platform", where
        assert o["metadata"]["annotations"]["example.com/owner"] == "platform-team", where
    # Hooks keep their hook annotations next to the common ones.
    job = extras.one("Job", "migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["metadata"]["annotations"]["helm.sh/hook-weight"] == "0"


def test_pod_labels_add_to_and_never_replace_the_selector_labels(extras):
    for component in ("api", "worker"):
        dep = extras.one("Deployment", component)
        labels = dep["spec"]["template"]["metadata"]["labels"]
        for k, v in dep["spec"]["selector"]["matchLabels"].items():
            assert labels[k] == v
        assert labels["sidecar.istio.io/inject"] == "false"
    assert extras.one("Deployment", "api")["spec"]["template"]["metadata"]["labels"]["tier"] == "frontend-api"
    assert "tier" not in extras.one("Deployment", "worker")["spec"]["template"]["metadata"]["labels"]


def test_chart_containers_are_unchanged_and_user_containers_hardened(extras, plain):
    for kind, component, name in (("Deployment", "api", "api"), ("Deployment", "worker", "worker"),
                                  ("Job", "migrate", "migrate"), ("Job", "migrate-contract", "migrate")):
        mine = containers(extras.one(kind, component)["spec"]["template"]["spec"])[name]
        base = containers(plain.one(kind, component)["spec"]["template"]["spec"])[name]
        assert mine["securityContext"] == base["securityContext"], component
        assert mine["image"] == base["image"] and mine["image"].startswith(IMAGE)
        assert mine["args"] == base["args"] and mine.get("command") is None
    api = extras.one("Deployment", "api")
    assert api["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    spec = api["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["wait"]
    assert [c["name"] for c in spec["containers"]] == ["api", "proxy"]
    proxy = containers(spec)["proxy"]
    assert proxy["image"] == "envoyproxy/envoy:v1.31.0"
    assert proxy["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False, "privileged": False, "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    assert containers(spec)["wait"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_migration_sidecars_are_native_so_the_job_completes(extras):
    for component in ("migrate", "migrate-contract"):
        spec = extras.one("Job", component)["spec"]["template"]["spec"]
        (proxy,) = spec["initContainers"]
        assert proxy["name"] == "db-proxy" and proxy["restartPolicy"] == "Always"
        assert [c["name"] for c in spec["containers"]] == ["migrate"]
        assert {"name": "proxy-socket", "mountPath": "/cloudsql"} in containers(spec)["migrate"]["volumeMounts"]
        assert {"name": "proxy-socket", "emptyDir": {}} in spec["volumes"]
    p = helm_template(EXTRAS, extra=["--kube-version", "1.28.0"], check=False)
    assert p.returncode != 0 and "Kubernetes >= 1.29" in p.stderr


def test_extra_env_env_from_and_volumes(extras):
    api = containers(extras.one("Deployment", "api")["spec"]["template"]["spec"])["api"]
    env = {e["name"]: e for e in api["env"]}
    assert env["OTEL_SERVICE_NAME"]["value"] == "bollard-api"
    assert env["NODE_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert len(api["env"]) == len(env), "no variable twice"
    # The user's envFrom comes first: for a key in both, the chart's ConfigMap (last) wins.
    assert api["envFrom"][0] == {"configMapRef": {"name": "bollard-external", "optional": True}}
    assert api["envFrom"][-1] == {"configMapRef": {"name": "rel-bollard"}}
    assert {"name": "ca-bundle", "mountPath": "/etc/ssl/extra", "readOnly": True} in api["volumeMounts"]
    worker = containers(extras.one("Deployment", "worker")["spec"]["template"]["spec"])["worker"]
    assert {e["name"]: e for e in worker["env"]}["HTTPS_PROXY"]["valueFrom"]["secretKeyRef"]["key"] == "https-proxy"


def test_the_extras_render_validates_strictly(tmp_path):
    p = helm_template(EXTRAS, check=False)
    out = tmp_path / "r.yaml"
    out.write_text(p.stdout)
    k = run([tool("BOLLARD_KVALIDATE"), "manifests", str(out)],
            env={"KVALIDATE_EXTERNAL": "Secret/bollard-external", "PATH": "/usr/bin:/bin"})
    assert k.returncode == 0, k.stdout + k.stderr
    assert "HTTPRoute=1" in k.stdout + k.stderr and "Ingress=1" in k.stdout + k.stderr


@pytest.mark.parametrize("sets", [
    # extraEnv cannot override what the chart sets (MANAGED_ENV in chart/schema/gen_values_schema.py)
    ["api.extraEnv[0].name=DATABASE_URL", "api.extraEnv[0].value=postgresql://evil"],
    ["api.extraEnv[0].name=DATABASE_URL_FILE", "api.extraEnv[0].value=/dev/null"],
    ["worker.extraEnv[0].name=POD_NAME", "worker.extraEnv[0].value=x"],
    ["migrations.extraEnv[0].name=ENVIRONMENT", "migrations.extraEnv[0].value=dev"],
    ["api.extraEnv[0].name=API_THREADS", "api.extraEnv[0].value=64"],
    ["api.extraEnv[0].name=bad-name", "api.extraEnv[0].value=x"],
    ["api.extraEnv[0].name=X", "api.extraEnv[0].valueFrom.secretKeyRef.name=s"],
    # podLabels / commonLabels cannot touch the selector or standard labels
    ["podLabels.app\\.kubernetes\\.io/component=worker"],
    ["api.podLabels.app\\.kubernetes\\.io/instance=other"],
    ["commonLabels.app\\.kubernetes\\.io/name=other"],
    ["commonAnnotations.helm\\.sh/hook=pre-install"],
    # volumes: no hostPath, no chart names or mount points
    ["api.extraVolumes[0].name=host", "api.extraVolumes[0].hostPath.path=/"],
    ["api.extraVolumes[0].name=tmp", "api.extraVolumes[0].emptyDir.medium=Memory"],
    ["api.extraVolumeMounts[0].name=tmp", "api.extraVolumeMounts[0].mountPath=/tmp"],
    ["api.extraVolumeMounts[0].name=tmp", "api.extraVolumeMounts[0].mountPath=/var/run/secrets/bollard/x"],
    # user containers: not named like the chart's, and no loosening of the hardening
    ["api.sidecars[0].name=api", "api.sidecars[0].image=busybox"],
    ["worker.sidecars[0].name=s", "worker.sidecars[0].image=busybox", "worker.sidecars[0].securityContext.privileged=true"],
    ["worker.sidecars[0].name=s", "worker.sidecars[0].image=busybox", "worker.sidecars[0].securityContext.runAsUser=0"],
    ["api.initContainers[0].name=s", "api.initContainers[0].image=busybox", "api.initContainers[0].securityContext.readOnlyRootFilesystem=false"],
    ["api.sidecars[0].name=s", "api.sidecars[0].image=busybox", "api.sidecars[0].securityContext.allowPrivilegeEscalation=true"],
    ["api.sidecars[0].name=s", "api.sidecars[0].image=busybox", "api.sidecars[0].securityContext.capabilities.add[0]=SYS_ADMIN"],
    ["api.sidecars[0].name=s"],
    # ways in
    ["service.externalTrafficPolicy=Sometimes", "service.type=LoadBalancer"],
    ["service.type=LoadBalancer", "service.loadBalancerSourceRanges[0]=everyone"],
    ["ingress.enabled=true", "ingress.hosts[0].host=Bad_Host", "ingress.hosts[0].paths[0].path=/", "ingress.hosts[0].paths[0].pathType=Prefix"],
    ["httpRoute.enabled=true", "httpRoute.parentRefs[0].namespace=gw"],
])
def test_schema_refuses(sets):
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and "schema" in p.stderr, p.stderr
    l = lint("-f", SECRETS, *[a for s in sets for a in ("--set", s)])
    assert l.returncode == 1, l.stdout + l.stderr


@pytest.mark.parametrize("sets, message", [
    (["api.extraEnv[0].name=SECRET_KEY_FILE", "api.extraEnv[0].value=/x"], "api.extraEnv: SECRET_KEY_FILE is set by the chart"),
    (["worker.extraEnv[0].name=WORKER_CONCURRENCY", "worker.extraEnv[0].value=1"], "worker.extraEnv: WORKER_CONCURRENCY is set by the chart"),
    (["api.extraEnv[0].name=LOG_LEVEL", "api.extraEnv[0].value=debug"], "api.extraEnv: LOG_LEVEL is set by the chart"),
    (["podLabels.app\\.kubernetes\\.io/component=worker"], "podLabels: app.kubernetes.io/component is set by the chart"),
    (["api.podLabels.app\\.kubernetes\\.io/name=x"], "podLabels: app.kubernetes.io/name is set by the chart"),
    (["commonLabels.app\\.kubernetes\\.io/instance=x"], "commonLabels: app.kubernetes.io/instance is set by the chart"),
])
def test_templates_keep_the_invariants_without_the_schema(sets, message):
    p = helm_template(SECRETS, sets=sets, extra=["--skip-schema-validation"], check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr


@pytest.mark.parametrize("sets, message", [
    (["service.externalTrafficPolicy=Local"], "service.externalTrafficPolicy needs service.type NodePort or LoadBalancer"),
    (["service.type=NodePort", "service.loadBalancerSourceRanges[0]=10.0.0.0/8"], "service.loadBalancerSourceRanges needs service.type LoadBalancer"),
    (["httpRoute.enabled=true"], "httpRoute.enabled needs httpRoute.parentRefs"),
    (["config.extraEnv.FOO=one", "api.extraEnv[0].name=FOO", "api.extraEnv[0].value=two"], "api.extraEnv: FOO is set by the chart"),
    (["api.extraEnv[0].name=A", "api.extraEnv[0].value=one", "api.extraEnv[1].name=A", "api.extraEnv[1].value=two"], "api.extraEnv: A is listed twice"),
    (["api.extraVolumeMounts[0].name=nope", "api.extraVolumeMounts[0].mountPath=/x"], "api.extraVolumeMounts: no volume named nope"),
    (["api.initContainers[0].name=a", "api.initContainers[0].image=b", "api.sidecars[0].name=a", "api.sidecars[0].image=b"], "the container name a is used twice"),
])
def test_templates_refuse_what_the_schema_cannot_say(sets, message):
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_an_ingress_without_hosts_is_refused(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("ingress:\n  enabled: true\n  hosts: []\n")
    p = helm_template(SECRETS, str(f), check=False)
    assert p.returncode != 0 and "ingress.enabled needs ingress.hosts" in p.stderr, p.stderr
    l = lint("-f", SECRETS, "-f", str(f))
    assert l.returncode == 1 and f"{f}:3:3: error: ingress.hosts is empty" in l.stdout, l.stdout


def test_lint_names_the_line_of_each_mistake(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("""config:
  extraEnv:
    FOO: "1"
podLabels:
  app.kubernetes.io/component: worker
api:
  extraEnv:
    - name: DATABASE_URL
      value: postgresql://x
    - name: FOO
      value: "2"
  extraVolumeMounts:
    - name: missing
      mountPath: /data
service:
  externalTrafficPolicy: Local
httpRoute:
  enabled: true
""")
    l = lint("-f", SECRETS, "-f", str(f))
    assert l.returncode == 1
    out = l.stdout
    expected = [
        (5, 3, "unknown-key", "a label the chart sets"),
        (8, 7, "schema-not", "api.extraEnv[0].name: is not allowed: a variable the chart sets"),
        (10, 7, "extra-env-duplicate", f"api.extraEnv[1].name: FOO is also set by config.extraEnv ({f}:3)"),
        (13, 7, "volume-mount-unknown", "no volume named missing"),
        (16, 3, "service-option-needs-type", "service.externalTrafficPolicy is set but service.type is ClusterIP"),
        (18, 3, "httproute-no-parent", "httpRoute.parentRefs is empty"),
    ]
    for line, col, rule, text in expected:
        hits = [x for x in out.splitlines() if x.startswith(f"{f}:{line}:{col}: error: ") and x.endswith(f"[{rule}]") and text in x]
        assert hits, f"no [{rule}] at {line}:{col} with {text!r} in:\n{out}"


def test_values_docs_list_the_extras():
    p = run([tool("BOLLARD_CHART_LINT"), "values", "docs", "--chart", CHART], cwd=harness.REPO)
    assert p.returncode == 0, p.stderr
    for key in ("api.extraEnv", "api.extraEnvFrom", "api.extraVolumes", "api.extraVolumeMounts", "api.initContainers",
                "api.sidecars", "api.podLabels", "worker.sidecars", "migrations.sidecars", "commonLabels",
                "commonAnnotations", "ingress.hosts", "ingress.className", "httpRoute.parentRefs",
                "service.externalTrafficPolicy", "service.loadBalancerSourceRanges", "worker.keda.metric",
                "api.autoscaling.behavior.scaleDown.policies"):
        assert re.search(r"^\| `" + re.escape(key) + r"` \|", p.stdout, re.M), key
