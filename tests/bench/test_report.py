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


def report(tmp_path, name, rows):
    env = dict(os.environ, BENCH_RESULTS_DIR=str(tmp_path / "results"))
    subprocess.run([sys.executable, os.path.join(REPO, "bench", "results.py"), name, json.dumps(rows)], env=env,
                   check=True)
    subprocess.run([sys.executable, os.path.join(REPO, "bench", "report.py"), "--no-chart", "--results",
                    str(tmp_path / "results"), "--out", str(tmp_path)], capture_output=True, text=True, env=env)
    return (tmp_path / "report.md").read_text()


def test_rows_are_grouped_by_question_in_a_fixed_order(tmp_path):
    rows = [results.row("image size", 38.0, "MB", "make bench-image", "peer image", 379.0,
                        results.lower_is_better(38.0, 379.0)),
            results.row("cold start", 800, "ms", "make bench-image", "peer image", 5000,
                        results.lower_is_better(800, 5000)),
            results.row("peak RSS", 13.0, "MB", "make bench-image", "RQ", 42.0, results.lower_is_better(13.0, 42.0)),
            results.row("p99", 5.0, "ms", "make bench-image", "FastAPI", 166.0, results.lower_is_better(5.0, 166.0)),
            results.row("rate", 9000, "req/s", "make bench-image", "FastAPI", 450, results.higher_is_better(9000, 450)),
            results.row("Redis time", 15.0, "ms", "make bench-image", "RQ", 1249.0,
                        results.lower_is_better(15.0, 1249.0), question="memory")]
    table = report(tmp_path, "image", rows)
    headings = [line for line in table.splitlines() if line.startswith("**") and not line.startswith("**image")]
    order = [h.split(":")[0].split(" (")[0].strip("*").lower() for h in headings]
    assert order[:5] == ["throughput", "latency and run time", "memory and cpu", "size", "start-up"], order
    sections = {h: table.split(h, 1)[1].split("\n**", 1)[0] for h in headings}
    where = {row["benchmark"]: next(h for h, body in sections.items() if f"| {row['benchmark']} |" in body)
             for row in rows}
    assert where["rate"].startswith("**Throughput") and where["p99"].startswith("**Latency")
    assert where["peak RSS"].startswith("**Memory") and where["Redis time"].startswith("**Memory"), \
        "a recorded question wins over the unit"
    assert where["image size"].startswith("**Size") and where["cold start"].startswith("**Start-up")


def test_a_cost_row_is_absolute_figures_not_times_better(tmp_path):
    rows = [results.row("cold start: cost of the container", 801, "ms", "make bench-image",
                        "the same binary on the host", 23, results.lower_is_better(801, 23), same_binary=True),
            results.row("2 processes (scaling vs 1)", 26327, "jobs/s", "make bench-image", "bollard worker, 1 process",
                        14695, results.higher_is_better(26327, 14695)),
            results.row("RSS after load", 9.3, "MB", "make bench-image")]
    table = report(tmp_path, "image", rows)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    cost = lines["cold start: cost of the container"]
    assert "0.03×" not in cost and "×" not in cost.split(" | ")[3], "a cost is never a 'times better' ratio"
    assert "cost: +778 ms" in cost and "801 ms" in cost and "the same binary on the host: 23 ms" in cost
    scaling = lines["2 processes (scaling vs 1)"]
    assert "scaling: 1.79×" in scaling and "bollard worker, 1 process: 14,695 jobs/s" in scaling, \
        "a peer that is this binary is recognised by its name too"
    assert "none (absolute figure only)" in lines["RSS after load"], "a row without a peer says so"
