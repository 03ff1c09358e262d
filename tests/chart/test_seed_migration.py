"""Issue 18 item 10: values written for the todo-chatbot seed chart are recognised by `chart values
lint`, which names the Bollard key for each at its file:line:col, and the chart README has the
migration table."""
import os
import re

import harness
from chartlib import CHART, SECRETS, helm_template, run, tool

SEED_VALUES = """\
backend:
  replicaCount: 2
  image:
    repository: ghcr.io/example/todo-backend
    tag: "1.4.0"
    pullPolicy: IfNotPresent
  secrets:
    DATABASE_URL: postgresql://todo:todo@postgres:5432/todo
    BETTER_AUTH_SECRET: change-me-change-me-change-me-32b
    GROQ_API_KEY: gsk_example
  service:
    type: NodePort
    port: 8000
    nodePort: 30081
  resources:
    limits: {cpu: 500m, memory: 512Mi}
frontend:
  replicaCount: 1
  image: {repository: ghcr.io/example/todo-frontend, tag: "1.4.0"}
replicaCount: 3
"""

# (line, column, seed key, the Bollard key the message must name)
EXPECTED = [
    (2, 3, "backend.replicaCount", "api.replicas"),
    (4, 5, "backend.image.repository", "image.repository"),
    (5, 5, "backend.image.tag", "image.tag"),
    (6, 5, "backend.image.pullPolicy", "image.pullPolicy"),
    (8, 5, "backend.secrets.DATABASE_URL", "secret.databaseUrl"),
    (9, 5, "backend.secrets.BETTER_AUTH_SECRET", "secret.secretKey"),
    (10, 5, "backend.secrets.GROQ_API_KEY", "secret.llmApiKey with config.assistant.provider GROQ"),
    (12, 5, "backend.service.type", "service.type"),
    (13, 5, "backend.service.port", "service.port"),
    (14, 5, "backend.service.nodePort", "service.nodePort"),
    (15, 3, "backend.resources", "api.resources"),
    (17, 1, "frontend", "not part of Bollard: the web console is served by the API at /"),
    (20, 1, "replicaCount", "api.replicas"),
]


def lint(*args):
    return run([tool("BOLLARD_CHART_LINT"), "values", "lint", "--chart", CHART, *args], cwd=harness.REPO)


def test_lint_names_the_bollard_key_of_each_seed_key(tmp_path):
    f = tmp_path / "todo-chatbot-values.yaml"
    f.write_text(SEED_VALUES)
    p = lint("-f", SECRETS, "-f", str(f))
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    for line, col, seed, bollard in EXPECTED:
        prefix = f"{f}:{line}:{col}: error: {seed} is a todo-chatbot seed chart key: "
        hits = [x for x in lines if x.startswith(prefix) and x.endswith("[seed-chart-key]") and bollard in x]
        assert hits, f"no seed-chart-key for {seed} at {line}:{col} naming {bollard!r}:\n{p.stdout}"
    # One finding per seed key, and no vaguer "unknown key 'backend'" next to them.
    assert sum(x.endswith("[seed-chart-key]") for x in lines) == len(EXPECTED), p.stdout
    assert "[unknown-key]" not in p.stdout, p.stdout


def test_seed_keys_through_set_and_other_formats():
    p = lint("-f", SECRETS, "--set", "backend.replicaCount=3", "--set", "frontend.enabled=true")
    assert p.returncode == 1
    assert "--set[1]:1:1: error: backend.replicaCount is a todo-chatbot seed chart key: use api.replicas" in p.stdout
    assert "--set[2]:1:1: error: frontend is a todo-chatbot seed chart key" in p.stdout
    p = lint("-f", SECRETS, "--set", "backend.replicaCount=3", "--format", "json")
    assert '"rule": "seed-chart-key"' in p.stdout.replace('":"', '": "'), p.stdout


def test_helm_refuses_the_seed_keys_too():
    p = helm_template(SECRETS, sets=["backend.replicaCount=2"], check=False)
    assert p.returncode != 0 and "backend" in p.stderr


def test_the_bollard_keys_accept_the_same_install():
    """The values the messages point to, written the Bollard way, render."""
    r = helm_template(SECRETS, sets=["api.replicas=2", "image.repository=ghcr.io/example/todo-backend",
                                     "image.tag=1.4.0", "image.pullPolicy=IfNotPresent",
                                     "service.type=NodePort", "service.port=8000", "service.nodePort=30081",
                                     "api.resources.limits.cpu=500m", "api.resources.limits.memory=512Mi"])
    assert r.one("Deployment", "api")["spec"]["replicas"] == 2
    assert r.one("Service", "api")["spec"]["ports"][0]["nodePort"] == 30081


def test_readme_has_the_migration_table():
    with open(os.path.join(CHART, "README.md")) as f:
        readme = f.read()
    m = re.search(r"^## Coming from the todo-chatbot seed chart\n(.*?)(?=^## )", readme, re.M | re.S)
    assert m, "chart/bollard/README.md lacks the migration section"
    table = m.group(1)
    for _, _, seed, _ in EXPECTED:
        assert f"`{seed}`" in table, seed
