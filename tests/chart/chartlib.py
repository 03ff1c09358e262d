"""Helpers shared by the chart tests (helm template/lint against chart/bollard, offline)."""
import os
import subprocess

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(REPO, "chart", "bollard")
CI_DIR = os.path.join(CHART, "ci")
CI_VALUES = sorted(os.path.join(CI_DIR, f) for f in os.listdir(CI_DIR) if f.endswith(".yaml"))
SECRETS = os.path.join(CI_DIR, "default-values.yaml")


def tool(env_name):
    path = os.environ.get(env_name)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"{env_name} is not set to an executable; run `make chart-test`")
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


class Rendered(list):
    """The objects of one render, with lookups by kind/name/component."""

    def kinds(self, kind):
        return [o for o in self if o["kind"] == kind]

    def one(self, kind, component=None, name=None):
        hits = [o for o in self.kinds(kind)
                if (component is None or o["metadata"]["labels"].get("app.kubernetes.io/component") == component)
                and (name is None or o["metadata"]["name"] == name)]
        assert len(hits) == 1, f"expected one {kind} {component or name or ''}, found {len(hits)}"
        return hits[0]

    def workloads(self):
        """(object, pod template metadata, pod spec) of every pod-creating object."""
        out = []
        for o in self:
            if o["kind"] in ("Deployment", "Job"):
                out.append((o, o["spec"]["template"]["metadata"], o["spec"]["template"]["spec"]))
            elif o["kind"] == "Pod":
                out.append((o, o["metadata"], o["spec"]))
        return out


def helm_template(*values_files, sets=(), release="rel", extra=(), check=True):
    cmd = [tool("BOLLARD_HELM"), "template", release, CHART]
    for f in values_files:
        cmd += ["-f", f]
    for s in sets:
        cmd += ["--set", s]
    cmd += list(extra)
    p = run(cmd)
    if check:
        assert p.returncode == 0, f"helm template failed: {p.stderr}"
        return Rendered(d for d in yaml.safe_load_all(p.stdout) if d)
    return p
