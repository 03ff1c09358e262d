"""Helpers for the `chart values lint` black-box tests (tests/chart-lint)."""
import glob
import os
import re
import subprocess

import harness

REPO = harness.REPO
CHART = os.path.join(REPO, "chart", "bollard")
BROKEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "broken")
BROKEN = sorted(glob.glob(os.path.join(BROKEN_DIR, "*.yaml")))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def chart_bin():
    return harness.binary("chart")


def lint(*args, stdin=None, timeout=30, cwd=REPO):
    """Runs `chart values lint ARGS`; fails the test on any sanitizer report."""
    p = subprocess.run([chart_bin(), "values", "lint", *args], input=stdin, capture_output=True,
                       timeout=timeout, cwd=cwd)
    stderr = p.stderr.decode(errors="replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in stderr, stderr[-4000:]
    p.out = p.stdout.decode(errors="replace")
    p.err = stderr
    return p


def fixture_header(path):
    """The expectations written at the top of a broken values file."""
    text = open(path, encoding="utf-8").read()
    expect = re.search(r"^# expect: (\S+) line (\d+)", text, re.M)
    helm = re.search(r"^# helm: lint=(\w+) template=(\w+)", text, re.M)
    assert expect and helm, f"{path}: missing '# expect:' or '# helm:' header"
    return {
        "rule": expect.group(1),
        "line": int(expect.group(2)),
        "helm_lint_refuses": helm.group(1) == "refuses",
        "helm_template_refuses": helm.group(2) == "refuses",
    }


def helm_bin():
    """Helm as pinned by chart/chart.mk; built with its make target when missing (never skipped)."""
    path = os.environ.get("BOLLARD_HELM") or os.path.join(REPO, "build", "tools", "bin", "helm")
    if not os.access(path, os.X_OK):
        subprocess.run(["make", "--no-print-directory", "-C", REPO, path], check=True, timeout=1800)
    assert os.access(path, os.X_OK), f"no helm at {path}"
    return path
