#!/usr/bin/env python3
"""`make bench`'s single report: every figure the bench scripts recorded in build/bench/results/
(bench/results.py), as one Markdown table and one PNG chart of the ratios against their goals.

    python3 bench/report.py [--update-readme] [--results DIR] [--out DIR]

Writes OUT/report.md and OUT/report.png (OUT defaults to build/bench) and prints the Markdown. With
--update-readme it also replaces README.md's text between the bench-report markers with the report
(table, the notes the benchmarks recorded with figures from the same run, the chart) and copies the
chart to docs/bench.png. A benchmark that did not run (or failed) is listed as missing, a peer that
could not be measured as "not measured", instead of stopping the report; so is a chart that could
not be drawn. Exit status 1 when anything is missing.

The chart needs matplotlib: when it is not importable here, the script installs a pinned copy into
build/bench/report-venv with pip and draws the chart with that Python (`--chart-only`).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
import results

VENV = os.path.join(REPO, "build", "bench", "report-venv")
PINS = ["matplotlib==3.11.2"]
# The benchmarks `make bench` runs (BENCH_TARGETS), by the name each records under.
EXPECTED = {"api": "bench-api", "tasks": "bench-tasks", "migrate": "bench-migrate", "probe": "bench-probe",
            "chart-lint": "bench-chart-lint", "worker": "bench-worker", "image": "bench-image"}
BEGIN, END = "<!-- bench-report:begin -->", "<!-- bench-report:end -->"


def chart_python():
    """A Python that can import matplotlib: this one, or the pinned venv (created on first use)."""
    try:
        import matplotlib  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python3")
    stamp = os.path.join(VENV, "pins.txt")
    if not (os.path.exists(python) and os.path.exists(stamp) and open(stamp).read() == "\n".join(PINS)):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + PINS, check=True)
        with open(stamp, "w") as f:
            f.write("\n".join(PINS))
    return python


def draw(results_dir, png):
    """Draws the chart (in the venv's Python if need be); returns None or why it could not."""
    try:
        python = chart_python()
        r = subprocess.run([python, os.path.abspath(__file__), "--chart-only", "--results", results_dir,
                            "--out", os.path.dirname(png)], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            return (r.stderr.strip().splitlines() or ["exit status %d" % r.returncode])[-1]
    except Exception as e:  # pip unreachable, no venv module, ...
        return str(e)
    return None


def load(results_dir):
    found = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        with open(path) as f:
            data = json.load(f)
        found[data["name"]] = data
    return found


def number(v):
    if v is None:
        return ""
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:,.1f}"
    return f"{int(v):,}"


def verdict(r):
    """'met', 'missed' or '' (no goal)."""
    kind, goal = r.get("goal_kind"), r.get("goal")
    if kind is None or goal is None:
        return ""
    if kind == "ratio":
        return "" if r.get("ratio") is None else ("met" if r["ratio"] >= goal else "missed")
    value = r.get("bollard")
    if value is None:
        return ""
    return "met" if (value <= goal if kind == "max" else value >= goal) else "missed"


def goal_text(r):
    kind, goal = r.get("goal_kind"), r.get("goal")
    if kind is None or goal is None:
        return ""
    unit = r.get("unit", "")
    return {"ratio": f"≥ {number(goal)}×", "max": f"≤ {number(goal)} {unit}", "min": f"≥ {number(goal)} {unit}"}[kind]


def run_info(found):
    stamps = sorted(d.get("recorded_at", "") for d in found.values() if d.get("recorded_at"))
    revs = sorted({d.get("git_rev") or "unknown" for d in found.values()})
    when = f"{stamps[0]} – {stamps[-1]}" if stamps else "no run recorded"
    return (f"Measured {when} at commit {', '.join(f'`{r}`' for r in revs) or 'unknown'} on {os.cpu_count()} CPUs; "
            "ratio = times better than the peer.")


def notes(found):
    out = []
    for name in EXPECTED:
        out += [f"- {n}" for n in found.get(name, {}).get("notes", [])]
    return "\n".join(out) + ("\n" if out else "")


def markdown(found):
    lines = ["| benchmark | Bollard | peer, same run | ratio | goal | met? | reproduce |",
             "|---|---|---|---|---|---|---|"]
    for name, target in EXPECTED.items():
        data = found.get(name)
        if data is None:
            lines.append(f"| **{name}**: not measured (did `make {target}` fail?) | | | | | | `make {target}` |")
            continue
        for r in data["rows"]:
            unit = r.get("unit", "")
            peer = f"{r['peer']}: {number(r.get('peer_value'))} {unit}" if r.get("peer") else ""
            if r.get("peer") and r.get("peer_value") is None:
                peer = f"{r['peer']}: not measured"
            ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else ""
            figure = f"{number(r.get('bollard'))} {unit}" + (f" ({r['note']})" if r.get("note") else "")
            lines.append(f"| {r['benchmark']} | {figure} | {peer} | {ratio} | {goal_text(r)} | {verdict(r)} | "
                         f"`{r['command']}` |")
    for name in sorted(set(found) - set(EXPECTED)):
        lines.append(f"| ({name}: recorded but not part of `make bench`) | | | | | | |")
    return "\n".join(lines) + "\n"


def chart(found, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for name in EXPECTED if name in found for r in found[name]["rows"] if r.get("ratio")]
    labels = [r["benchmark"] if len(r["benchmark"]) <= 60 else r["benchmark"][:57] + "…" for r in rows]
    ratios = [r["ratio"] for r in rows]
    colours = ["#2e7d32" if verdict(r) == "met" else "#c62828" if verdict(r) == "missed" else "#1565c0"
               for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(rows) + 1.6))
    spread = max(ratios) / min(ratios) if ratios else 1
    log = spread > 20  # orders of magnitude apart: a linear axis would flatten the small ratios
    y = range(len(rows))
    # Bars grow from 1 (as good as the peer): right is better, left is worse than the peer.
    ax.barh(list(y), [r - 1 for r in ratios], left=1, color=colours)
    for i, r in enumerate(rows):
        if r.get("goal_kind") == "ratio" and r.get("goal"):
            ax.plot([r["goal"], r["goal"]], [i - 0.4, i + 0.4], color="black", linewidth=2)
        right = max(r["ratio"], 1)
        ax.text(right * 1.05 if log else right + 0.02 * max(ratios), i, f"{r['ratio']:.2f}×", va="center", fontsize=8)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("times better than the peer measured in the same run ("
                  + ("log scale; " if log else "") + "black tick: goal)")
    ax.set_title("Bollard vs peers — green: goal met, red: missed, blue: no goal")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(report, png):
    readme = os.path.join(REPO, "README.md")
    text = open(readme).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"bench/report.py: README.md has no {BEGIN} … {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n<!-- generated by `make bench` (bench/report.py); edit the benchmarks, not this text -->\n\n" + report
    if png:
        body += "\n![ratios against peers](docs/bench.png)\n"
    with open(readme + ".tmp", "w") as f:
        f.write(head + BEGIN + body + "\n" + END + tail)
    os.replace(readme + ".tmp", readme)
    if png:
        os.makedirs(os.path.join(REPO, "docs"), exist_ok=True)
        shutil.copy(png, os.path.join(REPO, "docs", "bench.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update-readme", action="store_true")
    ap.add_argument("--results", default=results.RESULTS_DIR)
    ap.add_argument("--out", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--no-chart", action="store_true", help="Markdown only (no matplotlib needed)")
    ap.add_argument("--chart-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    found = load(args.results)
    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "report.png")
    if args.chart_only:
        chart(found, png)
        return 0
    table = markdown(found)
    text = run_info(found) + "\n\n" + table
    if notes(found):
        text += "\nNotes from the same run:\n\n" + notes(found)
    complete = all(name in found for name in EXPECTED)
    chart_error = None
    if not args.no_chart:
        chart_error = draw(args.results, png)
        if chart_error:
            text += f"\n(chart not drawn in this run: {chart_error})\n"
            complete = False
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    if args.no_chart:
        return 0 if complete else 1
    if not chart_error:
        print(f"chart: {png}")
    if args.update_readme:
        update_readme(text, None if chart_error else png)
        print("README.md performance section" + ("" if chart_error else " and docs/bench.png") + " updated")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
