"""What only `chart values lint` used to catch also fails `helm template`/`install` with a clear
message (issue 18 item 7), the chart's schema and the binary agree on every URL scheme, and the
TRUSTED_PROXIES value reaches the pods."""
import subprocess

import pytest

import harness
from chartlib import SECRETS, helm_template, run

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("sets, rule, message", [
    (["api.resources.requests.memory=300Mi"], "request-exceeds-limit",
     "api.resources.requests.memory (300Mi) is above api.resources.limits.memory (256Mi)"),
    (["worker.resources.limits.memory=1Gi", "worker.resources.requests.memory=1.5Gi"], "request-exceeds-limit",
     "worker.resources.requests.memory (1.5Gi) is above worker.resources.limits.memory (1Gi)"),
    (["migrations.resources.requests.cpu=2"], "request-exceeds-limit",
     "migrations.resources.requests.cpu (2) is above migrations.resources.limits.cpu (1)"),
    (["api.probes.readiness.timeoutSeconds=5"], "probe-timeout-period",
     "api.probes.readiness: timeoutSeconds (5) must be below periodSeconds (5)"),
    (["worker.probes.liveness.periodSeconds=2"], "probe-timeout-period",
     "worker.probes.liveness: timeoutSeconds (2) must be below periodSeconds (2)"),
    (["api.podDisruptionBudget.minAvailable=2"], "pdb-blocks-eviction",
     "api.podDisruptionBudget allows no eviction with 2 api replica(s)"),
    (["worker.podDisruptionBudget.minAvailable=100%"], "pdb-single-replica",
     "worker.podDisruptionBudget allows no eviction with 1 worker replica(s)"),
    (["api.autoscaling.enabled=true", "api.autoscaling.minReplicas=3", "api.podDisruptionBudget.maxUnavailable=0"],
     "pdb-blocks-eviction", "api.podDisruptionBudget allows no eviction with 3 api replica(s)"),
    (["config.environment=production", "secret.existingSecret=ext", "image.tag=latest"], "latest-tag-production",
     "image.tag 'latest' in production"),
    (["config.environment=production", "secret.databaseUrl=postgresql://u:p@db/b"], "inline-secret-production",
     "config.environment production needs secret.existingSecret"),
])
def test_helm_refuses_what_the_linter_refuses(sets, rule, message, chart_lint):
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr
    args = [chart_lint, "values", "lint", "--chart", "chart/bollard", "-f", SECRETS]
    for s in sets:
        args += ["--set", s]
    lint = run(args, cwd=harness.REPO)
    assert lint.returncode == 1 and f"[{rule}]" in lint.stdout, lint.stdout + lint.stderr


@pytest.mark.parametrize("sets", [
    ["api.resources.requests.cpu=900m"],
    ["api.resources.requests.memory=256Mi"],
    ["worker.resources.requests.memory=0.25Gi"],
    ["api.podDisruptionBudget.minAvailable=1"],
    ["api.podDisruptionBudget.maxUnavailable=50%"],
    ["worker.podDisruptionBudget.maxUnavailable=1"],
    ["worker.enabled=false", "worker.podDisruptionBudget.maxUnavailable=0"],
    ["config.environment=production", "secret.existingSecret=ext", "image.tag=latest", f"image.digest={DIGEST}"],
    ["config.environment=production", "secret.existingSecret=ext", "image.tag=1.2.3"],
])
def test_helm_accepts_the_neighbours(sets):
    helm_template(SECRETS, sets=sets)


# (setting, value, environment): the chart's verdict must be the binary's.
URLS = [
    ("databaseUrl", "postgresql://u:p@127.0.0.1:1/bollard", "staging"),
    ("databaseUrl", "postgres://u:p@127.0.0.1:1/bollard", "staging"),
    ("databaseUrl", "mysql://u:p@127.0.0.1:1/bollard", "staging"),
    ("databaseUrl", "sqlite:bollard.db", "staging"),
    ("databaseUrl", "sqlite:bollard.db", "production"),
    ("databaseUrl", "sqlite:bollard.db", "dev"),
    ("redisUrl", "redis://127.0.0.1:1/0", "staging"),
    ("redisUrl", "redis://:secret@127.0.0.1:1", "staging"),
    ("redisUrl", "rediss://127.0.0.1:1/0", "staging"),
    ("redisUrl", "http://127.0.0.1:1", "staging"),
]


@pytest.mark.parametrize("key, url, environment", URLS)
def test_schema_and_binary_agree_on_url_schemes(key, url, environment, tmp_path):
    env = {"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/bollard", "REDIS_URL": "redis://127.0.0.1:1/0",
           "SECRET_KEY": "chart-guard-secret-0123456789abcdef-XYZ", "ENVIRONMENT": environment,
           "LOG_LEVEL": "info",
           "PATH": "/usr/bin:/bin", "DB_CONNECT_TIMEOUT_MS": "200", "REDIS_TIMEOUT_MS": "200"}
    env["DATABASE_URL" if key == "databaseUrl" else "REDIS_URL"] = url
    out = subprocess.run(harness.bollard_command("check"), env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    binary_accepts = out.returncode != 78
    sets = [f"secret.{key}={url}", f"config.environment={environment}"]
    chart = helm_template(SECRETS, sets=sets, check=False)
    chart_accepts = chart.returncode == 0
    assert chart_accepts == binary_accepts, (
        f"{key}={url} ENVIRONMENT={environment}: chart {'accepts' if chart_accepts else 'refuses'} "
        f"({chart.stderr.strip()[:200]}), bollard check exits {out.returncode} ({out.stderr.strip()[:200]})")


def test_trusted_proxies_reach_the_pods():
    r = helm_template(SECRETS, sets=["config.trustedProxies=10.0.0.0/8\\,fd00::/8"])
    assert r.one("ConfigMap")["data"]["TRUSTED_PROXIES"] == "10.0.0.0/8,fd00::/8"
    assert "TRUSTED_PROXIES" not in helm_template(SECRETS).one("ConfigMap")["data"]
    for bad in ("config.trustedProxies=10.0.0.0", "config.extraEnv.TRUSTED_PROXIES=10.0.0.0/8"):
        assert helm_template(SECRETS, sets=[bad], check=False).returncode != 0, bad
