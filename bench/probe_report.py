"""Summarises bench/probe.sh: hyperfine's wall times, max RSS per process, ratios and the issue's goals.

Usage: probe_report.py HYPERFINE_JSON PROBE_BINARY PEAK_RSS_TOOL CMD...   (CMDs in hyperfine's order,
probe first)
"""
import json
import os
import shlex
import subprocess
import sys

import results as bench_results

RSS_RUNS = 30


def peak_rss_kib(tool, cmd):
    """Median over RSS_RUNS runs of the command's own peak resident set, in KiB (bench/probe_peak_rss.c)."""
    out = subprocess.run([tool, str(RSS_RUNS)] + shlex.split(cmd), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"bench-probe: measuring {cmd!r} failed: {out.stderr.strip()}")
    return int(out.stdout)


def main():
    results = json.load(open(sys.argv[1]))["results"]
    probe, tool, cmds = sys.argv[2], sys.argv[3], sys.argv[4:]
    rows = []
    for result, cmd in zip(results, cmds):
        rows.append({
            "name": result["command"],
            "mean_ms": result["mean"] * 1000,
            "stddev_ms": (result["stddev"] or 0) * 1000,
            "median_ms": result["median"] * 1000,
            "rss_kib": peak_rss_kib(tool, cmd),
        })
    base = rows[0]
    print("\nOne successful GET of a local /health/live each; ratios are peer / probe, from this run.")
    print(f"{'command':<14} {'mean ms':>8} {'sd ms':>7} {'median ms':>10} {'time ratio':>11} "
          f"{'peak RSS KiB':>13} {'RSS ratio':>10}")
    for row in rows:
        print(f"{row['name']:<14} {row['mean_ms']:8.3f} {row['stddev_ms']:7.3f} {row['median_ms']:10.3f} "
              f"{row['mean_ms'] / base['mean_ms']:10.1f}x {row['rss_kib']:13d} "
              f"{row['rss_kib'] / base['rss_kib']:9.1f}x")

    by_name = {row["name"]: row for row in rows}

    def ratio(name):
        return by_name[name]["mean_ms"] / base["mean_ms"]

    size = os.path.getsize(probe)
    goals = [
        ("faster than busybox wget", ratio("busybox wget") > 1, f"{ratio('busybox wget'):.1f}x"),
        (">= 10x faster than curl", ratio("curl") >= 10, f"{ratio('curl'):.1f}x"),
        (">= 50x faster than python3 urllib", ratio("python3") >= 50, f"{ratio('python3'):.1f}x"),
        ("binary <= 100 KB stripped", size <= 100 * 1024, f"{size} bytes"),
    ]
    print()
    for label, met, figure in goals:
        print(f"goal {label:<36} {'met' if met else 'MISSED'} ({figure})")

    cmd = "make bench-probe"
    rows_out = [bench_results.row(f"probe http of /health/live vs {peer} (mean wall time)", round(base["mean_ms"], 3),
                                  "ms", cmd, peer, round(by_name[peer]["mean_ms"], 3), ratio(peer), goal)
                for peer, goal in (("busybox wget", 1.0), ("curl", 10.0), ("python3", 50.0))]
    rows_out.append(bench_results.row("probe peak RSS", base["rss_kib"], "KiB", cmd, "curl", by_name["curl"]["rss_kib"],
                                      bench_results.lower_is_better(base["rss_kib"], by_name["curl"]["rss_kib"])))
    rows_out.append(bench_results.row("probe binary size (static, stripped)", round(size / 1024, 1), "KiB", cmd,
                                      goal=100, goal_kind="max"))
    bench_results.record("probe", rows_out)


if __name__ == "__main__":
    main()
