"""kvalidate, the offline validator of rendered objects, is strict: each mistake below must fail
it (a validator that lets these through would make the chart checks meaningless)."""
import pytest

from chartlib import SECRETS, helm_template, run

GOOD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: demo
          image: example/demo:1
          ports: [{name: http, containerPort: 8000}]
          readinessProbe:
            httpGet: {path: /ready, port: http}
"""


def validate(kvalidate, tmp_path, text, external=""):
    f = tmp_path / "objects.yaml"
    f.write_text(text)
    return run([kvalidate, "manifests", str(f)], env={"KVALIDATE_EXTERNAL": external, "PATH": "/usr/bin:/bin"})


def test_a_good_object_passes(kvalidate, tmp_path):
    p = validate(kvalidate, tmp_path, GOOD_DEPLOYMENT)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("broken, why", [
    (GOOD_DEPLOYMENT.replace("  replicas: 1", "  replica: 1"), "unknown field"),
    (GOOD_DEPLOYMENT.replace("  replicas: 1", "  Replicas: 1"), "case-mismatched field"),
    (GOOD_DEPLOYMENT.replace("  replicas: 1", '  replicas: "1"'), "wrong type"),
    (GOOD_DEPLOYMENT.replace("  replicas: 1", "  replicas: 1\n  replicas: 2"), "duplicate key"),
    (GOOD_DEPLOYMENT.replace("labels: {app: demo}", "labels: {app: other}"), "selector does not match"),
    (GOOD_DEPLOYMENT.replace("port: http}", "port: metrics}"), "probe names no port"),
    (GOOD_DEPLOYMENT.replace("name: demo\n          image", "name: Demo_1\n          image"), "bad container name"),
    (GOOD_DEPLOYMENT.replace("image: example/demo:1", "image: ''"), "no image"),
    (GOOD_DEPLOYMENT.replace("apps/v1", "apps/v1beta1"), "unknown apiVersion"),
    (GOOD_DEPLOYMENT.replace("kind: Deployment", "kind: Deploymnet"), "unknown kind"),
    (GOOD_DEPLOYMENT.replace("memory", "x") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n"
     "spec:\n  selector: {app: nobody}\n  ports: [{port: 80, targetPort: http}]\n", "Service selects nothing"),
    (GOOD_DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n"
     "spec:\n  type: ClusterIP\n  selector: {app: demo}\n  ports: [{port: 80, nodePort: 30081}]\n", "nodePort on ClusterIP"),
    (GOOD_DEPLOYMENT.replace("      containers:", "      volumes: [{name: s, secret: {secretName: missing}}]\n"
                             "      containers:"), "references a Secret nobody creates"),
    ("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\n"
     "spec:\n  selector: {}\n  endpoints: [{port: http, intervall: 30s}]\n", "ServiceMonitor unknown field"),
    ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  podFailurePolicy:\n    rules:\n"
     "      - action: FailJob\n        onExitCodes: {operator: In, values: [3, 2]}\n"
     "  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: i}]\n", "exit codes not ascending"),
    ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  podFailurePolicy:\n    rules:\n"
     "      - action: FailJob\n        onExitCodes: {operator: In, values: [2]}\n"
     "  template:\n    spec:\n      restartPolicy: OnFailure\n      containers: [{name: c, image: i}]\n",
     "podFailurePolicy needs restartPolicy Never"),
    ("", "nothing rendered"),
])
def test_a_mistake_fails(kvalidate, tmp_path, broken, why):
    p = validate(kvalidate, tmp_path, broken)
    assert p.returncode != 0, f"kvalidate accepted: {why}\n{p.stdout}"


def test_every_rendered_kind_is_known(kvalidate, tmp_path):
    """The kinds the chart renders are all validated (ServiceMonitor against its own strict struct)."""
    p = run([kvalidate, "kinds"])
    known = {line.rsplit("/", 1)[1] for line in p.stdout.split()}
    r = helm_template(SECRETS, sets=["serviceMonitor.enabled=true", "networkPolicy.enabled=true",
                                     "api.autoscaling.enabled=true"])
    assert {o["kind"] for o in r} <= known
