#!/usr/bin/env python3
"""`make bench`'s single report: every figure the bench scripts recorded in build/bench/results/
(bench/results.py), as Markdown tables grouped by the question each row answers (throughput,
latency, memory, size, start-up, correctness) and one PNG chart of the same groups: each row names its
peer and shows both absolute figures beside the ratio; a row whose peer is the same binary in another
setting (a container's cost, scaling to 2 processes) is shown in absolute figures, never as a ratio.

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
            "chart-lint": "bench-chart-lint", "worker": "bench-worker", "image": "bench-image",
            "chat": "bench-chat", "console": "bench-console"}
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


# The questions rows are grouped by (bench/results.py QUESTIONS), with the heading each group gets.
TITLES = {
    "throughput": "Throughput: work per second (times better = Bollard ÷ peer)",
    "latency": "Latency and run time (times better = peer ÷ Bollard)",
    "memory": "Memory and CPU (times better = peer ÷ Bollard)",
    "size": "Size (times better = peer ÷ Bollard)",
    "start-up": "Start-up (times better = peer ÷ Bollard)",
    "correctness": "Correctness: what it catches",
}
TIME_UNITS = ("ns", "µs", "us", "ms", "s")


def question(r):
    """The question a row answers: recorded by the benchmark, or inferred from its name and unit."""
    if r.get("question") in results.QUESTIONS:
        return r["question"]
    name, unit = r["benchmark"].lower(), r.get("unit", "")
    if "start" in name:
        return "start-up"
    if "size" in name:
        return "size"
    if any(word in name for word in ("rss", "memory", "cpu")):
        return "memory"
    if unit.endswith("/s"):
        return "throughput"
    if unit in TIME_UNITS:
        return "latency"
    return "correctness"


def same_binary(r):
    """The "peer" is this binary in another setting (on the host, one process): a cost, not a comparison."""
    peer = (r.get("peer") or "").lower()
    return bool(r.get("same_binary")) or peer.startswith(("the same binary", "bollard"))


def kind(r):
    """'ratio' (a peer, both figures and a ratio), 'self' (same binary elsewhere) or 'absolute'."""
    if r.get("peer") and same_binary(r) and r.get("peer_value") is not None and r.get("bollard") is not None:
        return "self"
    if r.get("peer") and r.get("ratio") is not None and not same_binary(r):
        return "ratio"
    return "absolute"


def grouped(found):
    """[(question, rows)] in QUESTIONS order, rows in benchmark order; empty groups left out."""
    rows = [r for name in EXPECTED if name in found for r in found[name]["rows"]]
    return [(q, [r for r in rows if question(r) == q]) for q in results.QUESTIONS
            if any(question(r) == q for r in rows)]


def self_text(r):
    """A same-binary row in absolute terms: what the other setting costs, or how the rate scales."""
    b, p, unit = r["bollard"], r["peer_value"], r.get("unit", "")
    if unit.endswith("/s"):
        return f"scaling: {b / p:.2f}× the rate" if p else "scaling: n/a"
    diff = b - p
    return f"cost: +{number(round(diff, 3))} {unit}" if diff >= 0 else f"saves {number(round(-diff, 3))} {unit}"


def peer_cell(r):
    unit = r.get("unit", "")
    if not r.get("peer"):
        kind_, goal = r.get("goal_kind"), r.get("goal")
        return "none (checked against its budget)" if kind_ in ("max", "min") and goal is not None else \
            "none (absolute figure only)"
    if r.get("peer_value") is None:
        return f"{r['peer']}: not measured"
    return f"{r['peer']}: {number(r.get('peer_value'))} {unit}"


def ratio_cell(r):
    k = kind(r)
    if k == "ratio":
        return f"{r['ratio']:.2f}×"
    if k == "self":
        return f"— ({self_text(r)})"
    return "—"


def run_info(found):
    stamps = sorted(d.get("recorded_at", "") for d in found.values() if d.get("recorded_at"))
    revs = sorted({d.get("git_rev") or "unknown" for d in found.values()})
    when = f"{stamps[0]} – {stamps[-1]}" if stamps else "no run recorded"
    return (f"Measured {when} at commit {', '.join(f'`{r}`' for r in revs) or 'unknown'} on {os.cpu_count()} CPUs; "
            "times better = how many times better than the peer measured in the same run (> 1× is better, "
            "whatever the unit). A row whose peer is the same binary in another setting shows that setting's "
            "cost or scaling in absolute figures, not a ratio; a row without a peer says so.")


def notes(found):
    out = []
    for name in EXPECTED:
        out += [f"- {n}" for n in found.get(name, {}).get("notes", [])]
    return "\n".join(out) + ("\n" if out else "")


HEADER = ["| benchmark | Bollard | peer, same run | times better | goal | met? | reproduce |",
          "|---|---|---|---|---|---|---|"]


def markdown(found):
    lines = []
    for q, rows in grouped(found):
        lines += [f"**{TITLES[q]}**", ""] + HEADER
        for r in rows:
            unit = r.get("unit", "")
            figure = f"{number(r.get('bollard'))} {unit}" + (f" ({r['note']})" if r.get("note") else "")
            lines.append(f"| {r['benchmark']} | {figure} | {peer_cell(r)} | {ratio_cell(r)} | {goal_text(r)} | "
                         f"{verdict(r)} | `{r['command']}` |")
        lines.append("")
    missing = [f"| **{name}**: not measured (did `make {target}` fail?) | | | | | | `make {target}` |"
               for name, target in EXPECTED.items() if name not in found]
    missing += [f"| ({name}: recorded but not part of `make bench`) | | | | | | |"
                for name in sorted(set(found) - set(EXPECTED))]
    if missing:
        lines += ["**Not in this report**", ""] + HEADER + missing + [""]
    return "\n".join(lines)


def short(text, width=58):
    return text if len(text) <= width else text[:width - 1] + "…"


def chart_text(r):
    """The absolute figures (and goal) printed beside each row of the chart."""
    unit = r.get("unit", "")
    b = f"{number(r.get('bollard'))}"
    k = kind(r)
    if k == "ratio":
        text = f"{r['ratio']:.2f}×   {b} vs {number(r['peer_value'])} {unit}"
    elif k == "self":
        text = f"{self_text(r)}: {b} vs {number(r['peer_value'])} {unit}"
    elif r.get("peer") and r.get("peer_value") is not None:
        text = f"{b} vs {number(r['peer_value'])} {unit}"
    else:
        text = f"{b} {unit}" + ("; peer not measured" if r.get("peer") else "")
    if goal_text(r):
        text += f"   goal {goal_text(r)}: {verdict(r) or 'n/a'}"
    return text


def chart(found, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from matplotlib.transforms import blended_transform_factory
    groups = grouped(found)
    if not groups:
        raise SystemExit("no benchmark recorded")
    ratios = [r["ratio"] for _, rows in groups for r in rows if kind(r) == "ratio"] or [1.0]
    lo, hi = min(0.4, min(ratios) / 1.5), max(2.0, max(ratios) * 1.6)
    n = sum(len(rows) for _, rows in groups)
    fig, axes = plt.subplots(len(groups), 1, figsize=(13, 0.46 * n + 0.62 * len(groups) + 1.6), squeeze=False,
                             gridspec_kw={"height_ratios": [len(rows) + 0.4 for _, rows in groups]})
    for ax, (q, rows) in zip(axes[:, 0], groups):
        beside = blended_transform_factory(ax.transAxes, ax.transData)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.axvspan(lo, 1.0, color="#f2f2f2", zorder=0)
        ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--", zorder=1)
        labels = []
        for i, r in enumerate(rows):
            k = kind(r)
            peer = ("no peer" if not r.get("peer") else f"vs {r['peer']}" + (" (same binary)" if k == "self" and
                    not r["peer"].lower().startswith(("the same binary", "bollard")) else ""))
            labels.append(short(r["benchmark"]) + "\n" + short(peer))
            if k == "ratio":
                v = verdict(r)
                colour = "#2e7d32" if v == "met" else "#c62828" if v == "missed" else "#1565c0"
                ax.barh(i, r["ratio"] - 1, left=1, height=0.6, color=colour, zorder=2)
                if r.get("goal_kind") == "ratio" and r.get("goal"):
                    ax.plot([r["goal"]] * 2, [i - 0.38, i + 0.38], color="black", linewidth=2, zorder=3)
            else:
                why = {"self": "same binary, another setting: absolute figures, not a ratio"}.get(
                    k, "no peer: absolute figure" if not r.get("peer") else
                    "peer not measured" if r.get("peer_value") is None else "counted, not a ratio")
                ax.text(1.08, i, why, va="center", fontsize=8, style="italic", color="#555555")
            ax.text(1.02, i, chart_text(r), transform=beside, va="center", fontsize=8.5,
                    fontweight="bold" if k == "ratio" else "normal")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=7.5)
        ax.set_title(TITLES[q], loc="left", fontsize=10, fontweight="bold")
        ax.tick_params(axis="x", labelsize=8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}×"))
    axes[-1, 0].set_xlabel("times better than the peer measured in the same run (log scale; bars start at 1×, "
                           "grey: the peer is better; black tick: goal)", fontsize=8.5)
    fig.suptitle("Bollard vs peers, by question. Green: goal met, red: missed, blue: no goal. "
                 "Beside each row: the ratio and both absolute figures.", fontsize=10, x=0.02, ha="left",
                 y=1 - 0.2 / fig.get_figheight())
    fig.subplots_adjust(left=0.25, right=0.66, top=1 - 0.8 / fig.get_figheight(), bottom=0.6 / fig.get_figheight(),
                        hspace=0.9 * len(groups) / max(n, 1) + 0.25)
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
