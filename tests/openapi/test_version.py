"""One version everywhere (issue 19 item 5): VERSION, `bollard --version`, the OpenAPI document's
info.version (committed and served), /metrics' build info and the chart's appVersion agree, and the
build refuses a document that says otherwise."""
import json
import os
import re
import subprocess

import harness

REPO = harness.REPO


def repo_version():
    with open(os.path.join(REPO, "VERSION")) as f:
        return f.read().strip()


def test_every_place_says_the_same_version(tmp_path):
    version = repo_version()
    out = harness.run(["--version"], {"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.stdout.split()[1] == version, out.stdout
    with open(os.path.join(REPO, "pkg", "openapi", "openapi.json")) as f:
        assert json.load(f)["info"]["version"] == version
    with open(os.path.join(REPO, "chart", "bollard", "Chart.yaml")) as f:
        app_version = re.search(r'^appVersion:\s*"?([^"\s]+)"?\s*$', f.read(), re.M).group(1)
    assert app_version == version
    # what the binary serves
    from devlib import dev_env, start_dev, stop
    b = start_dev(dev_env(tmp_path / "v.db"))
    try:
        status, _, body = harness.get(b.url("/openapi.json"))
        assert status == 200 and json.loads(body)["info"]["version"] == version
        status, _, body = harness.get(b.metrics_url())
        assert f'bollard_build_info{{version="{version}"' in body.decode()
    finally:
        assert stop(b) == 0


def test_the_build_refuses_a_document_of_another_version(tmp_path):
    # pkg/embed's generator, as pkg/openapi/openapi.mk runs it for /docs
    embed = os.path.join(os.environ["BOLLARD_BUILD"], "tools", "embed")
    doc = "openapi.json=" + os.path.join(REPO, "pkg", "openapi", "openapi.json")
    out = subprocess.run([embed, str(tmp_path / "x.c"), "t", "--version=99.0.0", "--openapi", doc],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "info.version" in out.stderr and "99.0.0" in out.stderr, out.stderr
    ok = subprocess.run([embed, str(tmp_path / "y.c"), "t", f"--version={repo_version()}", "--openapi", doc],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "info.version" not in ok.stderr, ok.stderr


def test_the_build_refuses_a_chart_of_another_version():
    # -W VERSION: as if VERSION had just changed, so the check runs again (and fails, touching nothing)
    out = subprocess.run(["make", "-s", "SAN=1", "VERSION=99.0.0", "-W", "VERSION", "build/asan/version-check.stamp"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and "appVersion" in out.stderr and "99.0.0" in out.stderr, out.stderr
