"""What the chart renders: roles, hardening, probes, shutdown, migration Job, Service, options."""
import os
import shutil

import pytest
import yaml

from chartlib import CI_DIR, CI_VALUES, SECRETS, helm_template, run, tool

EXISTING = ["--set", "secret.existingSecret=mine"]


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def configmap_env(r):
    return r.one("ConfigMap")["data"]


# The containers the chart itself renders; any other is a user's initContainer or sidecar (issue 18
# item 6), which keeps the hardening (below) but runs an image of its own.
CHART_CONTAINERS = {"api", "worker", "migrate", "check", "service"}


def chart_containers(spec):
    return [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] in CHART_CONTAINERS]


@pytest.mark.parametrize("values", CI_VALUES, ids=os.path.basename)
def test_every_pod_is_hardened(values):
    r = helm_template(values)
    workloads = r.workloads()
    assert workloads
    for obj, meta, spec in workloads:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["runAsUser"] == 65532 and psc["runAsGroup"] == 65532 and psc["fsGroup"] == 65532, where
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], where
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["privileged"] is False, where
            if c["name"] in CHART_CONTAINERS:
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
            else:  # a user's container may add NET_BIND_SERVICE, never keep the rest
                assert sc["capabilities"]["drop"] == ["ALL"] and set(sc["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}, where
            assert sc["runAsNonRoot"] is True, where
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
        annotations = meta.get("annotations", {})
        assert len(annotations.get("checksum/config", "")) == 64, where
        assert len(annotations.get("checksum/secret", "")) == 64, where


@pytest.mark.parametrize("values", CI_VALUES, ids=os.path.basename)
def test_one_image_and_standard_labels(values):
    r = helm_template(values)
    images = {c["image"] for _, _, spec in r.workloads() for c in chart_containers(spec)}
    assert len(images) == 1, images
    for o in r:
        labels = o["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "helm.sh/chart"):
            assert key in labels, f"{o['kind']}/{o['metadata']['name']} lacks {key}"
    for obj, meta, _ in r.workloads():
        component = meta["labels"]["app.kubernetes.io/component"]
        assert component in ("api", "worker", "migrate", "migrate-contract", "test")
        assert obj["metadata"]["labels"]["app.kubernetes.io/component"] == component


def test_roles_by_arguments_only(default_render):
    r = default_render
    assert r.one("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]["args"] == ["api"]
    assert r.one("Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]
    # Issue 14: the pre-upgrade hook runs the expand phase only; the contract phase is a post-upgrade Job.
    assert r.one("Job", "migrate")["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "migrate", "up", "--phase", "expand"]
    for _, _, spec in r.workloads():
        for c in chart_containers(spec):
            assert c.get("command") in (None, ["/probe"]), "the image's ENTRYPOINT is /bollard"


def test_api_rollout_probes_and_drain(default_render):
    api = default_render.one("Deployment", "api")
    spec = api["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/health/live"
    # Startup gets a minute before liveness takes over.
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 60
    env = env_of(c)
    drain, timeout = int(env["SHUTDOWN_DRAIN_SECONDS"]), int(env["SHUTDOWN_TIMEOUT_SECONDS"])
    assert (drain, timeout) == (5, 25)
    assert "lifecycle" not in c, "default drain is the server's own (no preStop)"
    assert pod["terminationGracePeriodSeconds"] == 30 > timeout > drain


def test_prestop_sleep_counts_in_the_grace_period():
    r = helm_template(SECRETS, sets=["api.shutdown.preStopSleepSeconds=10", "api.shutdown.drainSeconds=0"])
    pod = r.one("Deployment", "api")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
    assert env_of(c)["SHUTDOWN_DRAIN_SECONDS"] == "0"
    assert pod["terminationGracePeriodSeconds"] == 10 + 25 + 5


@pytest.mark.parametrize("sets, message", [
    (["api.terminationGracePeriodSeconds=25"], "must be above"),
    (["api.shutdown.preStopSleepSeconds=10", "api.terminationGracePeriodSeconds=30"], "must be above"),
    (["api.shutdown.drainSeconds=30"], "must be below"),
    (["worker.terminationGracePeriodSeconds=20"], "must be above"),
    (["migrations.ttlSecondsAfterFinished=60"], "at least 300 in hook mode"),
])
def test_inconsistent_shutdown_values_are_refused(sets, message):
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_prestop_sleep_needs_kubernetes_130():
    p = helm_template(SECRETS, sets=["api.shutdown.preStopSleepSeconds=5"], extra=["--kube-version", "1.29.0"], check=False)
    assert p.returncode != 0 and "1.30" in p.stderr
    helm_template(SECRETS, sets=["api.shutdown.preStopSleepSeconds=5"], extra=["--kube-version", "1.30.0"])


def test_exec_probes_use_the_probe_binary():
    r = helm_template(os.path.join(CI_DIR, "nodeport-values.yaml"))
    c = r.one("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["exec"]["command"] == ["/probe", "live"]
    assert c["readinessProbe"]["exec"]["command"] == ["/probe", "ready"]
    assert c["startupProbe"]["exec"]["command"] == ["/probe", "live"]


def test_worker_has_no_port_and_a_heartbeat_liveness(default_render):
    r = default_render
    pod = r.one("Deployment", "worker")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert "ports" not in c
    heartbeat = configmap_env(r)["WORKER_HEARTBEAT_FILE"]
    assert heartbeat == "/tmp/bollard-worker.heartbeat"
    assert c["livenessProbe"]["exec"]["command"] == ["/probe", "file", heartbeat, "--max-age", "30"]
    # Ready only while its build is compatible with the schema (a rollback below the floor stops).
    assert c["readinessProbe"]["exec"]["command"] == ["/probe", "file", heartbeat, "--max-age", "30",
                                                      "--json-field", "schema=compatible"]
    assert c["startupProbe"]["exec"]["command"] == c["livenessProbe"]["exec"]["command"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert pod["terminationGracePeriodSeconds"] > int(env_of(c)["SHUTDOWN_TIMEOUT_SECONDS"])
    assert env_of(c)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # No Service selects the worker.
    for svc in r.kinds("Service"):
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_migration_hook_job(default_render):
    r = default_render
    job = r.one("Job", "migrate")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = job["spec"]
    # Issue 14: the deadline fits inside Helm's default --timeout (5m).
    assert spec["backoffLimit"] == 1 and spec["activeDeadlineSeconds"] == 270
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "FailJob", "onExitCodes": {"containerName": "migrate", "operator": "In",
                                                              "values": [2, 3, 7, 8, 64, 78]}}
    # What the hook needs exists at hook time: hook copies with a lower weight.
    weight = int(ann["helm.sh/hook-weight"])
    needed = {("ServiceAccount", pod["serviceAccountName"])}
    needed |= {("Secret", v["secret"]["secretName"]) for v in pod["volumes"] if "secret" in v}
    for kind, name in needed:
        dep = r.one(kind, name=name)
        dann = dep["metadata"].get("annotations", {})
        assert "pre-install" in dann.get("helm.sh/hook", ""), f"{kind}/{name} is not a pre-install hook"
        assert int(dann["helm.sh/hook-weight"]) < weight
    # The hook Secret carries only what migrate needs.
    hook_secret = r.one("Secret", name=[n for k, n in needed if k == "Secret"][0])
    assert list(hook_secret["data"]) == ["DATABASE_URL"]
    # No ConfigMap needed at hook time.
    assert "envFrom" not in pod["containers"][0]


def test_migration_values_flow_into_the_job():
    r = helm_template(SECRETS, sets=["migrations.backoffLimit=4", "migrations.activeDeadlineSeconds=1234",
                                     "migrations.permanentFailureExitCodes={3,42}"])
    spec = r.one("Job", "migrate")["spec"]
    assert spec["backoffLimit"] == 4 and spec["activeDeadlineSeconds"] == 1234
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [3, 42]
    p = helm_template(SECRETS, sets=["migrations.permanentFailureExitCodes={3,2}"], check=False)
    assert p.returncode != 0 and "ascending" in p.stderr


def test_migration_job_name_is_unique_per_image():
    a = helm_template(SECRETS).one("Job", "migrate")["metadata"]["name"]
    b = helm_template(SECRETS, sets=["image.tag=0.2.0"]).one("Job", "migrate")["metadata"]["name"]
    assert a != b and a.startswith("rel-bollard-migrate-1-") and len(a) <= 63


def test_migration_with_existing_secret_uses_it_directly():
    r = helm_template(SECRETS, extra=EXISTING)
    assert not r.kinds("Secret")
    pod = r.one("Job", "migrate")["spec"]["template"]["spec"]
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == ["mine"]


def test_migrations_as_plain_job_or_not_at_all():
    r = helm_template(os.path.join(CI_DIR, "migrations-job-values.yaml"))
    job = r.one("Job", "migrate")
    assert "annotations" not in job["metadata"]
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "rel-bollard"
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == ["rel-bollard"]
    assert not [o for o in r if "helm.sh/hook" in o["metadata"].get("annotations", {})
                and o["metadata"]["annotations"]["helm.sh/hook"] != "test"]
    r = helm_template(SECRETS, sets=["migrations.enabled=false"])
    assert not r.kinds("Job")
    assert not [o for o in r if o["metadata"]["labels"].get("app.kubernetes.io/component") == "migrate"]


def test_service_clusterip_by_default_and_nodeport_30081(default_render):
    svc = default_render.one("Service", "api")
    assert svc["spec"]["type"] == "ClusterIP"
    assert "nodePort" not in svc["spec"]["ports"][0]
    r = helm_template(SECRETS, sets=["service.type=NodePort", "service.nodePort=30081"])
    port = r.one("Service", "api")["spec"]["ports"][0]
    assert r.one("Service", "api")["spec"]["type"] == "NodePort" and port["nodePort"] == 30081
    assert port["targetPort"] == "http"
    p = helm_template(SECRETS, sets=["service.nodePort=30081"], check=False)
    assert p.returncode != 0 and "service.nodePort needs" in p.stderr


def test_service_account_without_token(default_render):
    sa = default_render.one("ServiceAccount", name="rel-bollard")
    assert sa["automountServiceAccountToken"] is False


def test_secret_created_or_existing(default_render):
    secret = default_render.one("Secret", name="rel-bollard")
    assert sorted(secret["data"]) == ["DATABASE_URL", "REDIS_URL", "SECRET_KEY"]
    c = default_render.one("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    env = env_of(c)
    assert env["DATABASE_URL_FILE"] == "/var/run/secrets/bollard/DATABASE_URL"
    assert "DATABASE_URL" not in env
    r = helm_template(SECRETS, sets=["secret.mountAsFiles=false"])
    env = env_of(r.one("Deployment", "api")["spec"]["template"]["spec"]["containers"][0])
    assert env["SECRET_KEY"] == {"secretKeyRef": {"name": "rel-bollard", "key": "SECRET_KEY"}}


def test_missing_secrets_fail_at_render_time():
    p = helm_template(check=False)
    assert p.returncode != 0 and "secret.databaseUrl is required" in p.stderr
    helm_template(extra=EXISTING)


def test_config_change_rolls_the_pods(default_render):
    before = default_render.one("Deployment", "api")["spec"]["template"]["metadata"]["annotations"]
    after = helm_template(SECRETS, sets=["config.logLevel=debug"]).one("Deployment", "api")
    after = after["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]
    assert before["checksum/secret"] == after["checksum/secret"]
    rotated = helm_template(SECRETS, sets=["secret.redisUrl=redis://other:6379"]).one("Deployment", "worker")
    assert rotated["spec"]["template"]["metadata"]["annotations"]["checksum/secret"] != before["checksum/secret"]


def test_pdb_hpa_networkpolicy_servicemonitor_defaults(default_render):
    r = default_render
    assert {p["metadata"]["name"]: p["spec"].get("maxUnavailable") for p in r.kinds("PodDisruptionBudget")} == {
        "rel-bollard-api": 1, "rel-bollard-worker": 1}
    assert not r.kinds("HorizontalPodAutoscaler")
    assert not r.kinds("NetworkPolicy")
    assert not r.kinds("ServiceMonitor")


def test_production_options():
    r = helm_template(os.path.join(CI_DIR, "production-values.yaml"))
    assert {h["spec"]["scaleTargetRef"]["name"] for h in r.kinds("HorizontalPodAutoscaler")} == {
        "bollard-api", "bollard-worker"}
    for d in r.kinds("Deployment"):
        assert "replicas" not in d["spec"], "an HPA owns the replica count"
    hpa = r.one("HorizontalPodAutoscaler", "api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert r.one("PodDisruptionBudget", "api")["spec"] == {
        "minAvailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": {"matchLabels": {"app.kubernetes.io/name": "bollard", "app.kubernetes.io/instance": "rel",
                                     "app.kubernetes.io/component": "api"}}}
    sm = r.one("ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    nps = {n["metadata"]["name"]: n for n in r.kinds("NetworkPolicy")}
    assert set(nps) == {"bollard-api", "bollard-internal"}
    assert nps["bollard-internal"]["spec"]["ingress"] == []
    assert nps["bollard-api"]["spec"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    pod = r.one("Deployment", "api")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert [t["topologyKey"] for t in pod["topologySpreadConstraints"]] == [
        "topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert all(t["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
               for t in pod["topologySpreadConstraints"])
    # Secrets from the existing Secret under its own key names.
    volume = [v for v in pod["volumes"] if "secret" in v][0]["secret"]
    assert volume["secretName"] == "bollard-external"
    assert {i["key"] for i in volume["items"]} == {"database-url", "secret-key", "redis-url"}


def test_helm_test_pod(default_render):
    pod = default_render.one("Pod", "test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["initContainers"][0]["args"] == ["check"]
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["/probe"] and c["args"][:2] == ["http", "http://rel-bollard.default.svc.cluster.local:8000/health/ready"]
    assert not helm_template(SECRETS, sets=["tests.enabled=false"]).kinds("Pod")


@pytest.fixture(scope="module")
def notes_chart(tmp_path_factory):
    """A copy of the chart whose NOTES.txt is rendered into a ConfigMap, so that `helm template`
    (which never prints NOTES and, unlike install --dry-run, needs no cluster) shows it."""
    root = tmp_path_factory.mktemp("notes") / "bollard"
    shutil.copytree(os.path.dirname(CI_DIR), root)
    notes = (root / "templates" / "NOTES.txt").read_text()
    (root / "templates" / "NOTES.txt").unlink()
    (root / "templates" / "_notes.tpl").write_text('{{- define "notes" }}' + notes + "{{- end }}")
    (root / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        "data:\n  notes: {{ include \"notes\" . | quote }}\n")
    return str(root)


@pytest.mark.parametrize("values", CI_VALUES, ids=os.path.basename)
def test_notes_render(values, notes_chart):
    p = run([tool("BOLLARD_HELM"), "template", "rel", notes_chart, "-f", values, "--namespace", "ns",
             "--show-only", "templates/zz-notes.yaml"])
    assert p.returncode == 0, p.stderr
    notes = yaml.safe_load(p.stdout)["data"]["notes"]
    assert "helm test -n ns rel" in notes
    assert "<no value>" not in notes and "%!" not in notes, notes


COMBINATIONS = [
    [],
    ["networkPolicy.enabled=true", "worker.enabled=false", "migrations.enabled=false"],
    ["networkPolicy.enabled=true", "networkPolicy.egress.restrict=true", "worker.enabled=false"],
    ["serviceMonitor.enabled=true", "api.autoscaling.enabled=true", "worker.autoscaling.enabled=true"],
    ["api.podDisruptionBudget.enabled=false", "worker.podDisruptionBudget.enabled=false", "tests.enabled=false"],
    # (maxUnavailable 0 with one worker blocked every drain: refused since issue 18 item 7)
    ["api.podDisruptionBudget.minAvailable=50%", "worker.replicas=3", "worker.podDisruptionBudget.minAvailable=2"],
    ["service.type=LoadBalancer", "service.nodePort=30081", "api.probes.handler=exec"],
    ["serviceAccount.create=false", "secret.mountAsFiles=false", "migrations.mode=job"],
    ["serviceAccount.create=false", "serviceAccount.name=default", "migrations.mode=hook"],
    ["fullnameOverride=a-very-long-release-name-that-is-close-to-the-sixty-three-limit"],
    ["nameOverride=tasks", "image.digest=sha256:" + "ab" * 32, "api.shutdown.preStopSleepSeconds=3"],
    ["json:api.topologySpreadConstraints=[]", "json:worker.topologySpreadConstraints=[]"],
]


@pytest.mark.parametrize("sets", COMBINATIONS, ids=lambda s: ",".join(x.split("=")[0].replace("json:", "") for x in s) or "defaults")
def test_option_combinations_render_valid_objects(sets, kvalidate, tmp_path):
    extra = [a for s in sets if s.startswith("json:") for a in ("--set-json", s[5:])]
    p = helm_template(SECRETS, sets=[s for s in sets if not s.startswith("json:")], extra=extra, check=False)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "rendered.yaml"
    out.write_text(p.stdout)
    k = run([kvalidate, "manifests", str(out)], env={"PATH": "/usr/bin:/bin"})
    assert k.returncode == 0, k.stdout + k.stderr


def test_contract_phase_runs_after_the_rollout(default_render):
    """Issue 14: contract migrations run in a post-install/post-upgrade hook Job that first waits for
    the API Deployment's rollout, with a ServiceAccount allowed to `get` that Deployment only."""
    r = default_render
    job = r.one("Job", "migrate-contract")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "post-install,post-upgrade"
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"  # a failed one stays
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    pod = job["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[:4] == ["migrate", "up", "--phase", "contract"]
    # The API's rollout, then the worker's: no pod of the previous version runs when the floor rises.
    assert [args[i + 1] for i, a in enumerate(args) if a == "--wait-rollout"] == ["rel-bollard-api",
                                                                                 "rel-bollard-worker"]
    wait = int(args[args.index("--wait-rollout-timeout") + 1])
    # Both Jobs end inside Helm's default --timeout (5m), which bounds each hook.
    assert wait < job["spec"]["activeDeadlineSeconds"] < 300
    assert r.one("Job", "migrate")["spec"]["activeDeadlineSeconds"] < 300
    role = r.one("Role", name=pod["serviceAccountName"])
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments"],
                              "resourceNames": ["rel-bollard-api", "rel-bollard-worker"], "verbs": ["get"]}]
    binding = r.one("RoleBinding", name=pod["serviceAccountName"])
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    assert pod["automountServiceAccountToken"] is False  # the token is projected for this Job only
    # Hook hygiene: every hook copy and the RBAC go after success, after a failure, and at uninstall.
    for o in r:
        a = o["metadata"].get("annotations", {})
        if o["kind"] in ("Secret", "ServiceAccount", "Role", "RoleBinding") and "helm.sh/hook" in a:
            assert "pre-delete" in a["helm.sh/hook"], o["metadata"]["name"]
            assert set(a["helm.sh/hook-delete-policy"].split(",")) == {
                "before-hook-creation", "hook-succeeded", "hook-failed"}, o["metadata"]["name"]
            assert int(a["helm.sh/hook-weight"]) < 0


def test_contract_phase_values():
    r = helm_template(SECRETS, sets=["migrations.contract.enabled=false"])
    assert not [o for o in r if o["metadata"]["labels"].get("app.kubernetes.io/component") == "migrate-contract"]
    p = helm_template(SECRETS, sets=["migrations.contract.waitRolloutSeconds=300"], check=False)
    assert p.returncode != 0 and "above migrations.contract.waitRolloutSeconds" in p.stderr
    r = helm_template(os.path.join(CI_DIR, "migrations-job-values.yaml"))
    assert not r.kinds("Role")  # plain Job mode: the contract phase is run by hand (manifests/README.md)


def test_notes_say_which_timeout_and_the_rollback_floor(notes_chart):
    def notes(*sets):
        cmd = [tool("BOLLARD_HELM"), "template", "rel", notes_chart, "-f", os.path.join(CI_DIR, "default-values.yaml"),
               "--show-only", "templates/zz-notes.yaml"]
        for s in sets:
            cmd += ["--set", s]
        p = run(cmd)
        assert p.returncode == 0, p.stderr
        return yaml.safe_load(p.stdout)["data"]["notes"]
    n = notes()
    assert "inside Helm's default --timeout" in n and "leaves its pods" in n and "ROLLBACK FLOOR" in n
    assert "pass --timeout 1230s" in notes("migrations.activeDeadlineSeconds=1200")
