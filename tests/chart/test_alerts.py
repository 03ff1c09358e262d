"""alerts.webhook: the alert settings reach the roles that post alerts (the worker and the migration
Jobs) from the chart's Secret, a Secret of the user's, or secret.existingSecret; the API gets none."""
import base64

from chartlib import SECRETS, helm_template

ON = ["alerts.webhook.enabled=true", "alerts.webhook.url=https://hooks.example.com/services/T0/B0/xyz",
      "alerts.webhook.signingSecret=alert-signing-secret-0123", "alerts.webhook.minIntervalSeconds=120"]


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod(r, kind, component):
    spec = r.one(kind, component)["spec"]["template"]["spec"]
    return spec, spec["containers"][0]


def migrate_jobs(r):
    return [j for j in r.kinds("Job") if j["metadata"]["labels"].get("app.kubernetes.io/component") == "migrate"]


def test_off_by_default_release_and_pod_named_anyway():
    r = helm_template(SECRETS)
    _, worker = pod(r, "Deployment", "worker")
    env = env_of(worker)
    assert env["RELEASE_NAME"] == "rel" and env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert not [n for n in env if n.startswith("ALERT_")]
    for job in migrate_jobs(r):
        env = env_of(job["spec"]["template"]["spec"]["containers"][0])
        assert env["RELEASE_NAME"] == "rel" and env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert not [n for n in env if n.startswith("ALERT_")]


def test_inline_values_in_the_chart_secret_and_its_hook_copy():
    r = helm_template(SECRETS, sets=ON)
    secret = r.one("Secret", name="rel-bollard")
    assert base64.b64decode(secret["data"]["ALERT_WEBHOOK_URL"]).decode() == "https://hooks.example.com/services/T0/B0/xyz"
    assert base64.b64decode(secret["data"]["ALERT_WEBHOOK_SECRET"]).decode() == "alert-signing-secret-0123"
    copy = r.one("Secret", name="rel-bollard-migrate")  # hook mode: what the pre-install Job reads
    assert sorted(k for k in copy["data"] if k.startswith("ALERT_")) == ["ALERT_WEBHOOK_SECRET", "ALERT_WEBHOOK_URL"]

    spec, worker = pod(r, "Deployment", "worker")
    env = env_of(worker)
    assert env["ALERT_WEBHOOK_URL_FILE"] == "/var/run/secrets/bollard/ALERT_WEBHOOK_URL"
    assert env["ALERT_WEBHOOK_SECRET_FILE"] == "/var/run/secrets/bollard/ALERT_WEBHOOK_SECRET"
    assert env["ALERT_MIN_INTERVAL_SECONDS"] == "120"
    items = {i["path"] for v in spec["volumes"] if v["name"] == "secrets" for i in v["secret"]["items"]}
    assert {"ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET"} <= items
    for job in migrate_jobs(r):
        jspec = job["spec"]["template"]["spec"]
        env = env_of(jspec["containers"][0])
        assert env["ALERT_WEBHOOK_URL_FILE"] == "/var/run/secrets/bollard/ALERT_WEBHOOK_URL"
        assert env["WEBHOOK_ALLOW_PRIVATE"] == "false"  # the Jobs have no ConfigMap
        items = {i["path"] for v in jspec["volumes"] if v["name"] == "secrets" for i in v["secret"]["items"]}
        assert {"ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET"} <= items
    # the API posts no alerts
    spec, api = pod(r, "Deployment", "api")
    assert not [n for n in env_of(api) if n.startswith("ALERT_")]
    items = {i["path"] for v in spec["volumes"] if v["name"] == "secrets" for i in v["secret"]["items"]}
    assert not [p for p in items if p.startswith("ALERT_")]


def test_a_secret_of_its_own_or_secret_existing_secret():
    r = helm_template(SECRETS, sets=["alerts.webhook.enabled=true", "alerts.webhook.existingSecret=alerting",
                                     "alerts.webhook.keys.url=slack-url"])
    assert not [k for k in r.one("Secret", name="rel-bollard")["data"] if k.startswith("ALERT_")]
    spec, worker = pod(r, "Deployment", "worker")
    assert env_of(worker)["ALERT_WEBHOOK_URL_FILE"] == "/var/run/secrets/bollard-alert/ALERT_WEBHOOK_URL"
    (vol,) = [v for v in spec["volumes"] if v["name"] == "alert-webhook"]
    assert vol["secret"]["secretName"] == "alerting"
    assert {i["key"]: i["path"] for i in vol["secret"]["items"]} == {
        "slack-url": "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET": "ALERT_WEBHOOK_SECRET"}
    assert {"name": "alert-webhook", "mountPath": "/var/run/secrets/bollard-alert", "readOnly": True} in worker["volumeMounts"]

    r = helm_template(SECRETS, sets=["alerts.webhook.enabled=true", "alerts.webhook.existingSecret=alerting",
                                     "secret.mountAsFiles=false"])
    env = env_of(pod(r, "Deployment", "worker")[1])
    assert env["ALERT_WEBHOOK_SECRET"] == {"secretKeyRef": {"name": "alerting", "key": "ALERT_WEBHOOK_SECRET"}}

    r = helm_template(sets=["secret.existingSecret=mine", "alerts.webhook.enabled=true", "secret.mountAsFiles=false"])
    for job in migrate_jobs(r):
        env = env_of(job["spec"]["template"]["spec"]["containers"][0])
        assert env["ALERT_WEBHOOK_URL"] == {"secretKeyRef": {"name": "mine", "key": "ALERT_WEBHOOK_URL"}}


def test_incomplete_or_inline_in_production_is_refused():
    p = helm_template(SECRETS, sets=["alerts.webhook.enabled=true", "alerts.webhook.url=https://h.example/x"],
                      check=False)
    assert p.returncode != 0 and "alerts.webhook.signingSecret" in p.stderr
    p = helm_template(SECRETS, sets=["alerts.webhook.signingSecret=short"], check=False)
    assert p.returncode != 0 and "signingSecret" in p.stderr  # the schema: at least 16 bytes
    p = helm_template(sets=["secret.existingSecret=mine", "config.environment=production", *ON], check=False)
    assert p.returncode == 0, p.stderr  # secret.existingSecret holds them; the inline ones are ignored
    p = helm_template(sets=["config.environment=production", "secret.existingSecret=", *ON], check=False)
    assert p.returncode != 0
