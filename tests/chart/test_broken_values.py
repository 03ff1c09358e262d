"""Broken values files (tests/chart-lint, owned by `chart values lint`) are refused by Helm itself
(schema or template checks, on top of valid secrets) and by `chart values lint`; valid ones pass both.

A fixture whose first lines contain `# helm: accepts` documents a mistake Helm is known to miss
(e.g. a duplicate key, which Helm's YAML decoding silently merges): then only `chart values lint`
must refuse it, and the test checks that Helm still accepts it, so the note stays true.
"""
import glob
import os

import pytest

from chartlib import CHART, CI_VALUES, REPO, SECRETS, run, tool

BROKEN_GLOBS = ["tests/chart-lint/broken/*.yaml", "tests/chart-lint/**/broken/*.yaml", "tests/chart-lint/**/broken-*.yaml"]


def broken_fixtures():
    found = set()
    for g in BROKEN_GLOBS:
        found |= set(glob.glob(os.path.join(REPO, g), recursive=True))
    return sorted(found)


BROKEN = broken_fixtures()


def helm_accepts_note(path):
    with open(path, errors="replace") as f:
        head = "".join(f.readline() for _ in range(5))
    return "# helm: accepts" in head


def lint(path):
    return run([tool("BOLLARD_CHART_LINT"), "values", "lint", "--chart", CHART, "-f", path])


def test_there_are_broken_fixtures():
    assert len(BROKEN) >= 10, f"expected the broken values files of tests/chart-lint ({BROKEN_GLOBS}), found {len(BROKEN)}"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: os.path.relpath(p, REPO))
def test_helm_and_chart_values_lint_refuse(path):
    p = lint(path)
    assert p.returncode != 0, f"chart values lint accepted {path}:\n{p.stdout}{p.stderr}"
    h = run([tool("BOLLARD_HELM"), "template", "rel", CHART, "-f", SECRETS, "-f", path])
    if helm_accepts_note(path):
        assert h.returncode == 0, f"{path} says Helm accepts it, but Helm refused it:\n{h.stderr}"
    else:
        assert h.returncode != 0, f"helm accepted {path}"


@pytest.mark.parametrize("path", [os.path.join(CHART, "values.yaml")] + CI_VALUES
                         + [os.path.join(REPO, "manifests", "values.yaml")], ids=lambda p: os.path.relpath(p, REPO))
def test_chart_values_lint_accepts_the_valid_files(path):
    p = lint(path)
    assert p.returncode == 0, f"chart values lint refused {path}:\n{p.stdout}{p.stderr}"
