"""bench/report.py renders every recorded benchmark, marks goals met or missed, and lists a benchmark that
did not run as missing instead of failing the whole report (issue 9.4). No benchmark runs here."""
import importlib.util
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_bench_results():
    """bench/results.py, the module under test, loaded from its file (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_results", os.path.join(REPO, "bench", "results.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


results = _load_bench_results()


def test_report_table_from_recorded_rows(tmp_path):
    env = dict(os.environ, BENCH_RESULTS_DIR=str(tmp_path / "results"))
    rows = [results.row("list", 9000, "req/s", "make bench-tasks", "FastAPI", 500, results.higher_is_better(9000, 500),
                        20.0),
            results.row("migrate", 10.0, "ms", "make bench-migrate", "alembic", 380.0,
                        results.lower_is_better(10.0, 380.0), 20.0),
            results.row("idle RSS", 9.5, "MB", "make bench-api", goal=10, goal_kind="max"),
            results.row("peer down", 1.0, "ms", "make bench-probe", "curl", None, None)]
    notes = ["pgbench reached 20.3× the peer in this run"]
    subprocess.run([sys.executable, os.path.join(REPO, "bench", "results.py"), "api", json.dumps(rows),
                    json.dumps(notes)], env=env, check=True)
    out = subprocess.run([sys.executable, os.path.join(REPO, "bench", "report.py"), "--no-chart", "--results",
                          str(tmp_path / "results"), "--out", str(tmp_path)], capture_output=True, text=True, env=env)
    assert out.returncode == 1, "benchmarks that did not run make the report fail"
    table = (tmp_path / "report.md").read_text()
    assert table in out.stdout
    lines = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    assert "18.00×" in lines["list"] and "missed" in lines["list"] and "FastAPI: 500 req/s" in lines["list"]
    assert "38.00×" in lines["migrate"] and "| met |" in lines["migrate"]
    assert "≤ 10 MB" in lines["idle RSS"] and "| met |" in lines["idle RSS"]
    assert "curl: not measured" in lines["peer down"]
    assert "**tasks**: not measured" in table and "`make bench-tasks`" in table
    assert "**worker**: not measured" in table
    assert "- pgbench reached 20.3× the peer in this run" in table, "a benchmark's notes follow the table"
