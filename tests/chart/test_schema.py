"""values.schema.json: Helm refuses typos and wrong types at every level, accepts `global`, and
the schema means the same under draft-07 and 2020-12."""
import json
import os

import pytest

from chartlib import CHART, CI_VALUES, SECRETS, helm_template, run


def declared_paths():
    """Every leaf/object path the schema declares, to make sure each level refuses unknown keys."""
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    defs = schema["definitions"]
    out = []

    def walk(node, path):
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{'.'.join(path) or '(root)'} allows unknown keys"
            out.append(path)
            for k, v in node["properties"].items():
                if k != "global":
                    walk(v, path + [k])

    walk(schema, [])
    return out


def test_every_object_level_is_closed():
    paths = declared_paths()
    assert len(paths) > 30


@pytest.mark.parametrize("path", ["", "image", "config", "config.database", "secret.keys", "api", "api.shutdown",
                                  "api.probes.readiness", "api.resources.limits", "worker.heartbeat",
                                  "migrations", "service", "networkPolicy.egress", "serviceMonitor", "tests"])
def test_helm_refuses_an_unknown_key(path):
    key = (path + "." if path else "") + "typoKey"
    p = helm_template(SECRETS, sets=[f"{key}=1"], check=False)
    assert p.returncode != 0, f"helm accepted {key}"
    assert "typoKey" in p.stderr and "schema" in p.stderr


@pytest.mark.parametrize("setting", [
    "api.replicas=two", "config.logLevel=verbose", "config.environment=prod", "config.port=70000",
    "service.type=Ingress", "service.nodePort=8080", "migrations.mode=manual", "api.probes.handler=tcp",
    "image.pullPolicy=always", "image.digest=sha256:xyz", "api.resources.limits.memory=lots",
    "worker.heartbeat.file=/var/hb", "config.database.poolSize=0", "secret.redisUrl=http://x",
    "config.extraEnv.LOG_LEVEL=debug",
])
def test_helm_refuses_a_wrong_value(setting):
    p = helm_template(SECRETS, sets=[setting], check=False)
    assert p.returncode != 0, f"helm accepted {setting}"


@pytest.mark.parametrize("setting", [
    "global.anything=1", "global.imageRegistry=example.com", "api.resources.limits.cpu=1",
    "api.resources.limits.memory=1Gi", "api.resources.requests.cpu=0.5", "service.type=NodePort",
    "config.extraEnv.TZ=UTC",
])
def test_helm_accepts(setting):
    helm_template(SECRETS, sets=[setting])


def test_schema_under_both_drafts(kvalidate):
    p = run([kvalidate, "schema", os.path.join(CHART, "values.schema.json"), os.path.join(CHART, "values.yaml"),
             *CI_VALUES])
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("(draft-07 and 2020-12)") == len(CI_VALUES)


def test_schema_refusals_agree_between_drafts(kvalidate, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("api:\n  replicas: many\n  typo: 1\nconfig:\n  logLevel: loud\n")
    p = run([kvalidate, "schema", "-expect-fail", os.path.join(CHART, "values.schema.json"),
             os.path.join(CHART, "values.yaml"), str(bad)])
    assert p.returncode == 0 and "refused" in p.stdout, p.stdout + p.stderr


def test_helm_lint_strict_passes_for_every_ci_values_file(helm):
    for f in [None] + CI_VALUES:
        p = run([helm, "lint", "--strict", CHART] + (["-f", f] if f else []))
        assert p.returncode == 0, p.stdout + p.stderr


def test_committed_schema_is_the_generated_one():
    p = run(["python3", os.path.join(os.path.dirname(CHART), "schema", "gen_values_schema.py")])
    assert p.returncode == 0, p.stderr
    with open(os.path.join(CHART, "values.schema.json")) as f:
        assert f.read() == p.stdout, "values.schema.json is stale: run `make chart-schema`"


def test_values_yaml_documents_every_declared_value():
    """values.yaml and the schema declare the same keys: no undocumented value, no dead schema entry."""
    import yaml

    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    defs = schema["definitions"]

    def walk(node, value, path):
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        props = node.get("properties")
        if not props or not isinstance(value, dict) or path == ["global"]:
            return
        where = ".".join(path) or "(root)"
        assert set(value) <= set(props), f"{where}: values.yaml has undeclared {sorted(set(value) - set(props))}"
        for k in set(props) - set(value):
            t = props[k].get("type")
            assert k not in node.get("required", []), f"{where}.{k}: required but not in values.yaml"
            assert not (isinstance(t, list) and "null" in t), f"{where}.{k}: nullable, document it as null in values.yaml"
        for k in value:
            walk(props[k], value[k], path + [k])

    walk(schema, values, [])
