"""CI item: the chart's own values.yaml and every chart/bollard/ci/*.yaml lint clean (each over the
chart defaults, as Helm would install it)."""
import glob
import os

import pytest

from lintlib import CHART, lint

CI_VALUES = sorted(glob.glob(os.path.join(CHART, "ci", "*.yaml")))


def test_chart_defaults_lint_clean():
    p = lint("--chart", CHART)
    assert p.returncode == 0, p.out + p.err


@pytest.mark.parametrize("path", CI_VALUES, ids=os.path.basename)
def test_ci_values_lint_clean(path):
    p = lint("--chart", CHART, "-f", path)
    assert p.returncode == 0, p.out + p.err
