"""Broken values files (tests/chart-lint/broken, owned by `chart values lint`) are refused by
`chart values lint`, and by Helm wherever Helm can refuse them; valid files pass both.

Each fixture may say in its first lines what Helm does with it (on top of valid secrets):
`# helm: lint=accepts|refuses template=accepts|refuses (why)`. Without that line both must refuse.
The note is checked, so it stays true: a file that Helm starts to refuse (or to miss) fails here.
When Helm renders a fixture whose note says the API server would refuse the result, the strict
offline validator (kvalidate) must refuse it.
"""
import glob
import os
import re

import pytest

from chartlib import CHART, CI_VALUES, REPO, SECRETS, run, tool

BROKEN_GLOBS = ["tests/chart-lint/broken/*.yaml", "tests/chart-lint/**/broken/*.yaml", "tests/chart-lint/**/broken-*.yaml"]


def broken_fixtures():
    found = set()
    for g in BROKEN_GLOBS:
        found |= set(glob.glob(os.path.join(REPO, g), recursive=True))
    return sorted(found)


BROKEN = broken_fixtures()


def helm_expectations(path):
    """{'lint': bool accepted, 'template': bool accepted}, and the note's text."""
    with open(path, errors="replace") as f:
        head = [f.readline() for _ in range(6)]
    for line in head:
        m = re.match(r"#\s*helm:\s*(.*)$", line.strip())
        if m:
            note = m.group(1)
            found = dict(re.findall(r"\b(lint|template)=(accepts|refuses)\b", note))
            assert set(found) == {"lint", "template"}, f"{path}: unreadable helm note {note!r}"
            return {k: v == "accepts" for k, v in found.items()}, note
    return {"lint": False, "template": False}, ""


def lint(path):
    return run([tool("BOLLARD_CHART_LINT"), "values", "lint", "--chart", CHART, "-f", path])


def test_there_are_broken_fixtures():
    assert len(BROKEN) >= 10, f"expected the broken values files of tests/chart-lint ({BROKEN_GLOBS}), found {len(BROKEN)}"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: os.path.relpath(p, REPO))
def test_chart_values_lint_refuses_and_helm_does_what_the_fixture_says(path, tmp_path):
    p = lint(path)
    assert p.returncode != 0, f"chart values lint accepted {path}:\n{p.stdout}{p.stderr}"
    expect, note = helm_expectations(path)
    helm = tool("BOLLARD_HELM")
    t = run([helm, "template", "rel", CHART, "-f", SECRETS, "-f", path])
    assert (t.returncode == 0) == expect["template"], (
        f"helm template {'refused' if t.returncode else 'accepted'} {path}, the fixture says "
        f"template={'accepts' if expect['template'] else 'refuses'}:\n{t.stderr[-2000:]}")
    lt = run([helm, "lint", "--strict", CHART, "-f", SECRETS, "-f", path])
    assert (lt.returncode == 0) == expect["lint"], (
        f"helm lint --strict {'refused' if lt.returncode else 'accepted'} {path}, the fixture says "
        f"lint={'accepts' if expect['lint'] else 'refuses'}:\n{lt.stdout[-2000:]}")
    if t.returncode == 0 and "API server" in note:
        out = tmp_path / "rendered.yaml"
        out.write_text(t.stdout)
        k = run([tool("BOLLARD_KVALIDATE"), "manifests", str(out)],
                env={"KVALIDATE_EXTERNAL": "Secret/bollard-external", "PATH": "/usr/bin:/bin"})
        assert k.returncode != 0, f"kvalidate accepted what {path} says the API server refuses"


@pytest.mark.parametrize("path", [os.path.join(CHART, "values.yaml")] + CI_VALUES
                         + [os.path.join(REPO, "manifests", "values.yaml")], ids=lambda p: os.path.relpath(p, REPO))
def test_chart_values_lint_accepts_the_valid_files(path):
    p = lint(path)
    assert p.returncode == 0, f"chart values lint refused {path}:\n{p.stdout}{p.stderr}"
