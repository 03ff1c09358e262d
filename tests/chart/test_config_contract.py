"""The chart and the service agree: every variable the chart sets is one pkg/config knows, every
setting pkg/config has is reachable from values, and defaults and bounds are the same."""
import json
import os
import re

import yaml

from chartlib import CHART, REPO, SECRETS, helm_template

ENTRY = re.compile(
    r'\{"([A-Z_]+)",\s*(VAR_\w+),\s*([^,]+?),\s*([^,]+?),\s*FIELD\([\w.]+\),\s*(NULL|"[^"]*"),\s*(-?\d+),\s*(-?\d+),')


def config_table():
    with open(os.path.join(REPO, "pkg", "config", "config.c")) as f:
        src = f.read()
    table = src[src.index("config_vars[] = {"):]
    table = table[:table.index("\n};")]
    out = {}
    for m in ENTRY.finditer(table):
        name, typ, _req, _used, default, lo, hi = m.groups()
        out[name] = {"type": typ, "default": None if default == "NULL" else default.strip('"'),
                     "min": int(lo), "max": int(hi)}
    assert len(out) >= 25, "could not parse pkg/config/config.c's table"
    return out


def schema_env_properties():
    """(values path, env var) for every schema property documented as an environment variable."""
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    defs = schema["definitions"]
    out = []

    def walk(node, path):
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        m = re.match(r"^([A-Z][A-Z0-9_]+)(:|$)", node.get("description", ""))
        if m:
            out.append((path, m.group(1), node))
        for k, v in node.get("properties", {}).items():
            walk(v, path + [k])

    walk(schema, [])
    return out


def lookup(values, path):
    for k in path:
        values = values[k]
    return values


def rendered_env_names(r):
    names = set(r.one("ConfigMap")["data"])
    for _, _, spec in r.workloads():
        for c in spec.get("initContainers", []) + spec["containers"]:
            names |= {e["name"] for e in c.get("env", [])}
    return names


def test_every_variable_the_chart_sets_is_known_to_the_service():
    table = config_table()
    r = helm_template(SECRETS)
    for name in rendered_env_names(r):
        base = name[:-len("_FILE")] if name.endswith("_FILE") and name not in table else name
        assert base in table, f"the chart sets {name}, which pkg/config does not read"
        if base != name:
            assert table[base]["type"] == "VAR_SECRET", name


def test_every_setting_of_the_service_is_reachable_from_values():
    table = config_table()
    r = helm_template(SECRETS)
    names = {n[:-len("_FILE")] if n.endswith("_FILE") and n not in table else n for n in rendered_env_names(r)}
    # FRONTEND_URL, TRUSTED_PROXIES, the assistant's optional settings and the optional secrets
    # are rendered only when set; the key's variable follows the provider.
    variants = [["config.frontendUrl=https://app.example.com", "config.trustedProxies=10.0.0.0/8",
                 "config.assistant.agentInstructions=Be brief.", "config.assistant.openrouter.referer=https://a.example",
                 "config.assistant.openrouter.title=A", "secret.migrateDatabaseUrl=postgresql://u@db:5432/d",
                 "config.redis.tls.caFile=/etc/bollard/redis-tls/ca.crt",
                 "config.redis.tls.certFile=/etc/bollard/redis-tls/tls.crt",
                 "config.redis.tls.keyFile=/etc/bollard/redis-tls/tls.key"]]
    variants += [[f"config.assistant.provider={p}", "secret.llmApiKey=k"] for p in ("GROQ", "OPENROUTER")]
    variants += [["config.assistant.provider=OPENAI", "secret.llmApiKey=k", "config.assistant.openai.baseUrl=http://llm:8080/v1",
                  "config.assistant.openai.model=m"]]
    # The alert webhook's settings, rendered only with alerts.webhook.enabled.
    variants += [["alerts.webhook.enabled=true", "alerts.webhook.url=https://hooks.example.com/services/x",
                  "alerts.webhook.signingSecret=alert-signing-secret-0123"]]
    for sets in variants:
        names |= {n[:-len("_FILE")] if n.endswith("_FILE") and n not in table else n
                  for n in rendered_env_names(helm_template(SECRETS, sets=sets))}
    missing = sorted(set(table) - names - {"BETTER_AUTH_SECRET"})
    assert not missing, f"pkg/config settings the chart cannot set (add them to values/ConfigMap): {missing}"


def test_defaults_and_bounds_match_the_service():
    table = config_table()
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    props = schema_env_properties()
    assert len(props) >= 25
    for path, var, node in props:
        where = ".".join(path) + " (" + var + ")"
        assert var in table, f"{where}: pkg/config has no {var}"
        spec = table[var]
        default = lookup(values, path)
        if spec["default"] is not None:
            if spec["type"] == "VAR_BOOL":
                assert str(default).lower() == spec["default"], where
            elif spec["type"] == "VAR_DOUBLE":
                assert float(default) == float(spec["default"]), f"{where}: chart default {default}, service {spec['default']}"
            elif spec["type"] in ("VAR_INT", "VAR_LONG"):
                assert int(default) == int(spec["default"]), f"{where}: chart default {default}, service {spec['default']}"
            else:
                assert default == spec["default"], where
        if spec["type"] in ("VAR_INT", "VAR_LONG") and (spec["min"], spec["max"]) != (0, 0):
            assert node.get("minimum") == spec["min"], f"{where}: schema minimum {node.get('minimum')}, service {spec['min']}"
            assert node.get("maximum") == spec["max"], f"{where}: schema maximum {node.get('maximum')}, service {spec['max']}"
        if spec["type"] == "VAR_ENVIRONMENT":
            assert node["enum"] == ["dev", "staging", "production"]
        if spec["type"] == "VAR_LOG_LEVEL":
            assert node["enum"] == ["debug", "info", "warn", "error"]


def test_secret_key_minimum_matches_the_service():
    assert config_table()["SECRET_KEY"]["min"] == 32
    with open(os.path.join(CHART, "values.schema.json")) as f:
        schema = json.load(f)
    assert "{32,}" in schema["properties"]["secret"]["properties"]["secretKey"]["pattern"]
