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


def test_metrics_port_conflict_names_file_line_and_column(tmp_path):
    """metrics.port equal to config.port: bollard would exit 78 (METRICS_PORT must differ from PORT)."""
    f = tmp_path / "metrics.yaml"
    f.write_text("secret: {existingSecret: bollard-external}\nconfig:\n  port: 9100\nmetrics:\n    port: 9100\n")
    p = lint("--chart", CHART, "-f", str(f))
    assert p.returncode == 1, p.out + p.err
    assert (f"{f}:5:5: error: metrics.port 9100 is config.port too: /metrics has a listener of its own, and "
            "bollard exits 78 when METRICS_PORT equals PORT [metrics-port-conflict]") in p.out.splitlines(), p.out
    f.write_text("secret: {existingSecret: bollard-external}\nconfig:\n  port: 9100\nmetrics:\n  port: 9101\n")
    assert lint("--chart", CHART, "-f", str(f)).returncode == 0


def test_docs_list_the_metrics_values():
    import subprocess
    from lintlib import chart_bin
    p = subprocess.run([chart_bin(), "values", "docs", "--chart", CHART], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = {line.split("|")[1].strip(): line for line in p.stdout.splitlines() if line.startswith("| `")}
    assert "`9090`" in rows["`metrics.port`"] and "METRICS_PORT" in rows["`metrics.port`"]
    assert "kubernetes.io/metadata.name" in rows["`metrics.networkPolicy.namespaceSelector.matchLabels`"]
