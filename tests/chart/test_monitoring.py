"""The chart's alerts (PrometheusRule) and Grafana dashboard: promtool accepts the rules and their
unit tests (tests/chart/promtool/alerts_test.yaml) pass, each alert links a section of
docs/runbooks.md, the dashboard is valid dashboard JSON, and every metric name an alert or a panel
uses is one a running `bollard api` exposes (a real scrape against PostgreSQL and Redis), or one of
the few kube-state-metrics/Prometheus series named below."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

import harness
import workerlib
from chartlib import CHART, REPO, SECRETS, helm_template

PROMTOOL_TESTS = os.path.join(REPO, "tests", "chart", "promtool", "alerts_test.yaml")
RUNBOOKS = os.path.join(REPO, "docs", "runbooks.md")
DASHBOARD = os.path.join(CHART, "files", "grafana-dashboard.json")
# Series the alerts read from elsewhere than Bollard: Prometheus' own scrape health and
# kube-state-metrics (rollout and migration Job state).
EXTERNAL_METRICS = {"up", "kube_deployment_status_replicas_unavailable", "kube_deployment_spec_replicas",
                    "kube_job_status_failed"}
# A metric name directly followed by a label selector: every query here selects its series by label.
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: .ci/install-deps test (Debian package prometheus)"
    return path


@pytest.fixture(scope="module")
def rule():
    r = helm_template(SECRETS, sets=["prometheusRule.enabled=true"])
    return r.one("PrometheusRule")


@pytest.fixture(scope="module")
def dashboard():
    r = helm_template(SECRETS, sets=["grafanaDashboard.enabled=true"])
    cm = r.one("ConfigMap", name="rel-bollard-dashboard")
    return cm, json.loads(cm["data"]["bollard.json"])


def alerts(rule):
    return [r for g in rule["spec"]["groups"] for r in g["rules"]]


def dashboard_exprs(board):
    out = []
    for panel in board["panels"]:
        out += [t["expr"] for t in panel.get("targets", [])]
    return out


def metric_names(expr):
    names = set(SELECTOR.findall(expr))
    assert names, f"no metric selector found in {expr!r}"
    return names


def test_monitoring_objects_are_off_by_default(default_render):
    assert not default_render.kinds("PrometheusRule")
    assert not any(o["metadata"]["name"].endswith("-dashboard") for o in default_render.kinds("ConfigMap"))


def test_promtool_accepts_the_rules_and_their_unit_tests_pass(rule, tmp_path):
    rules_file = tmp_path / "bollard-rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    shutil.copy(PROMTOOL_TESTS, tmp_path / "alerts_test.yaml")
    check = subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run([promtool(), "test", "rules", "alerts_test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert unit.returncode == 0, unit.stdout + unit.stderr
    # Every alert of the rule has a unit test.
    with open(PROMTOOL_TESTS) as f:
        tested = {t["alertname"] for case in yaml.safe_load(f)["tests"] for t in case["alert_rule_test"]}
    assert {a["alert"] for a in alerts(rule)} == tested


def test_alerts_the_issue_lists_and_their_runbooks(rule):
    names = {a["alert"] for a in alerts(rule)}
    assert names >= {"BollardAPIDown", "BollardAPINotReady", "BollardHighErrorRatio", "BollardHighLatency",
                     "BollardDBPoolSaturated", "BollardDBPoolQueueing", "BollardRedisDown", "BollardQueueLagging",
                     "BollardDeadLettersIncreasing", "BollardOutboxRelayStalled", "BollardMigrationJobFailed"}
    with open(RUNBOOKS) as f:
        sections = {line[3:].strip().lower() for line in f if line.startswith("## ")}
    for a in alerts(rule):
        assert a["labels"]["severity"] in ("warning", "critical"), a["alert"]
        url = a["annotations"]["runbook_url"]
        base, anchor = url.split("#", 1)
        assert base == "https://github.com/bollard/bollard/blob/main/docs/runbooks.md"
        assert anchor == a["alert"].lower() and anchor in sections, f"{a['alert']}: no runbook section {anchor}"
        assert a["annotations"]["summary"] and a["annotations"]["description"]


def test_rule_values_are_applied():
    r = helm_template(SECRETS, release="prod", extra=["--namespace", "tasks"], sets=[
        "prometheusRule.enabled=true", "prometheusRule.labels.release=kps", "prometheusRule.alertLabels.team=platform",
        "prometheusRule.runbookBaseUrl=https://wiki.example.com/bollard",
        "prometheusRule.thresholds.queueOldestPendingSeconds=900"]).one("PrometheusRule")
    assert r["metadata"]["labels"]["release"] == "kps"
    for a in alerts(r):
        assert a["labels"]["team"] == "platform"
        assert a["annotations"]["runbook_url"].startswith("https://wiki.example.com/bollard#")
        assert 'namespace="tasks"' in a["expr"]
    lag = next(a for a in alerts(r) if a["alert"] == "BollardQueueLagging")
    assert lag["expr"].endswith("> 900") and 'job="prod-bollard-metrics"' in lag["expr"]
    custom = helm_template(SECRETS, sets=["prometheusRule.enabled=true",
                                          'prometheusRule.selector=service="api"\\,env!="dev"']).one("PrometheusRule")
    assert 'up{service="api",env!="dev"}' in alerts(custom)[0]["expr"]


@pytest.mark.parametrize("setting", ["prometheusRule.thresholds.errorRatio=2", "prometheusRule.selector=job=x",
                                     "prometheusRule.runbookBaseUrl=docs/runbooks.md",
                                     "prometheusRule.thresholds.latencyP99Seconds=5"])
def test_bad_rule_values_are_refused(setting):
    p = helm_template(SECRETS, sets=["prometheusRule.enabled=true", setting], check=False)
    assert p.returncode != 0, setting


def test_dashboard_is_valid_for_the_grafana_sidecar(dashboard):
    cm, board = dashboard
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board["uid"] and len(board["uid"]) <= 40 and board["title"]
    assert isinstance(board["schemaVersion"], int)
    variables = {v["name"] for v in board["templating"]["list"]}
    assert variables == {"datasource", "namespace", "job"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for topic in ("requests", "errors", "latency", "pool", "redis", "queue", "dead letters", "outbox"):
        assert topic in titles, topic
    for p in board["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["type"] == "timeseries" and p["datasource"]["uid"] == "${datasource}"
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            # Every selector is scoped to the chosen release.
            for m in re.finditer(r"\{([^}]*)\}", t["expr"]):
                assert 'namespace="$namespace",job="$job"' in m.group(1), t["expr"]
            for var in re.findall(r"\$(\w+)", t["expr"]):
                assert var in variables or var == "__rate_interval", var


def test_dashboard_values_are_applied():
    r = helm_template(SECRETS, sets=["grafanaDashboard.enabled=true", "grafanaDashboard.namespace=monitoring",
                                     "grafanaDashboard.annotations.grafana_folder=Bollard"])
    cm = r.one("ConfigMap", name="rel-bollard-dashboard")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "Bollard"
    with open(DASHBOARD) as f:
        assert json.loads(cm["data"]["bollard.json"]) == json.load(f)


def scrape_names(text):
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def test_every_metric_an_alert_or_panel_uses_exists_in_a_real_scrape(rule, dashboard, pg, redis, tmp_path):
    env = harness.base_env(pg, redis)
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    b = harness.Bollard.api(env)
    # A worker too: its figures reach Prometheus through the API's scrape (it has no port).
    w = workerlib.start_worker(env, str(tmp_path), "scrape-worker")
    try:
        # Traffic so that the per-route request and latency series exist.
        harness.get(b.url("/health/live"))
        harness.get(b.url("/no/such/path"))

        def scraped_with_worker():
            status, _, body = harness.get(b.metrics_url())
            assert status == 200
            text = body.decode()
            return text if "\nbollard_workers 1\n" in text else None

        text = harness.wait_until(scraped_with_worker, timeout=15, interval=0.2, what="the worker's figures")
        assert "\nbollard_queue_up 1\n" in text and "\nbollard_outbox_up 1\n" in text, text
        scraped = scrape_names(text)
    finally:
        workerlib.stop_worker(w)
        b.stop()
    used = {}
    for a in alerts(rule):
        for name in metric_names(a["expr"]):
            used.setdefault(name, []).append("alert " + a["alert"])
    for expr in dashboard_exprs(dashboard[1]):
        for name in metric_names(expr):
            used.setdefault(name, []).append("panel query " + expr[:60])
    missing = {n: w for n, w in used.items() if n not in scraped and n not in EXTERNAL_METRICS}
    assert not missing, f"metrics used but not exposed by `bollard api`: {missing}"
    # The external names are really external (a Bollard name must not hide in that list).
    assert not (EXTERNAL_METRICS & scraped)
    assert EXTERNAL_METRICS <= set(used)
