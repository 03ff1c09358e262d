"""Each deliberately broken values file is refused by `chart values lint` with the rule and line its
header names, and Helm refuses exactly the ones the header says (see broken/README.md)."""
import os
import subprocess

import pytest

from lintlib import BROKEN, CHART, fixture_header, helm_bin, lint


def test_there_are_about_twenty_fixtures():
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=os.path.basename)
def test_chart_values_lint_refuses_with_line(path):
    want = fixture_header(path)
    p = lint("--chart", CHART, "-f", path)
    assert p.returncode == (2 if want["rule"] == "yaml-syntax" else 1), p.out + p.err
    hits = [line for line in p.out.splitlines()
            if line.startswith(f"{path}:{want['line']}:") and line.endswith(f"[{want['rule']}]")]
    assert hits, f"expected [{want['rule']}] at {os.path.basename(path)}:{want['line']}, got:\n{p.out}"


@pytest.mark.parametrize("path", BROKEN, ids=os.path.basename)
def test_helm_refuses_exactly_the_documented_ones(path):
    """Helm catches what the schema or the chart's template `fail`s express, never with a line for
    schema errors; helm lint only logs template `fail`s. The header records the split."""
    want = fixture_header(path)
    helm = helm_bin()
    lint_rc = subprocess.run([helm, "lint", CHART, "-f", path], capture_output=True, timeout=120).returncode
    template_rc = subprocess.run([helm, "template", "rel", CHART, "-f", path], capture_output=True,
                                 timeout=120).returncode
    assert (lint_rc != 0) == want["helm_lint_refuses"], f"helm lint exit {lint_rc}"
    assert (template_rc != 0) == want["helm_template_refuses"], f"helm template exit {template_rc}"


def test_split_is_schema_and_template_expressible_only():
    """Everything Helm refuses is refused by chart values lint too (it is a superset)."""
    for path in BROKEN:
        want = fixture_header(path)
        if want["helm_template_refuses"] or want["helm_lint_refuses"]:
            assert lint("--chart", CHART, "-f", path).returncode in (1, 2)
