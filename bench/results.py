"""Machine-readable benchmark figures: each bench script records its rows here, and bench/report.py
turns every recorded file into one Markdown table, a PNG chart and the README's performance section.

A row: what was measured, Bollard's figure, the peer measured in the same run and its figure, the
ratio (always "how many times better Bollard is", so > 1 is better whatever the unit), the goal for
that ratio (or for the absolute figure), and the command that reproduces it. Optionally the question
it answers (one of QUESTIONS; bench/report.py groups the rows by it and infers it when absent) and
whether the "peer" is the same Bollard binary in another setting (a container's cost, scaling from 1
to 2 processes): such a row is reported as absolute figures, never as "times better".
"""
import json
import os
import subprocess
import time

RESULTS_DIR = os.environ.get("BENCH_RESULTS_DIR",
                             os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                          "build", "bench", "results"))


# The questions the report groups rows by, in its order.
QUESTIONS = ("throughput", "latency", "memory", "size", "start-up", "correctness")


def row(benchmark, bollard, unit, command, peer=None, peer_value=None, ratio=None, goal=None, goal_kind="ratio",
        note="", question=None, same_binary=False):
    """goal_kind: "ratio" (ratio >= goal), "max" (bollard <= goal), "min" (bollard >= goal), or None.
    question: one of QUESTIONS (None: the report infers it from the unit and the name). same_binary: the peer is
    this binary in another setting, so the row is a cost or a scaling factor, not a comparison with a peer."""
    if question is not None and question not in QUESTIONS:
        raise ValueError(f"question {question!r} is not one of {QUESTIONS}")
    out = {"benchmark": benchmark, "bollard": bollard, "unit": unit, "peer": peer, "peer_value": peer_value,
           "ratio": ratio, "goal": goal, "goal_kind": goal_kind if goal is not None else None,
           "command": command, "note": note}
    if question is not None:
        out["question"] = question
    if same_binary:
        out["same_binary"] = True
    return out


def higher_is_better(bollard, peer_value):
    """Ratio for throughput-like figures (req/s, jobs/s)."""
    return bollard / peer_value if bollard and peer_value else None


def lower_is_better(bollard, peer_value):
    """Ratio for time and memory figures (ms, MB): how many times less Bollard needs."""
    return peer_value / bollard if bollard and peer_value else None


def git_rev():
    """The commit measured ("-dirty" when the work tree had changes), or "unknown"."""
    try:
        out = subprocess.run(["git", "-C", os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "describe", "--always", "--dirty",
                              "--abbrev=12"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "unknown"


def record(name, rows, notes=()):
    """Writes build/bench/results/<name>.json (replacing that benchmark's previous figures). notes:
    sentences about this run worth reading next to the table, their figures computed from this run
    (the report lists them under the table; the README's prose must not carry figures of its own)."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"name": name, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "git_rev": git_rev(), "rows": rows, "notes": list(notes)}, f, indent=2)
    os.replace(path + ".tmp", path)
    return path


if __name__ == "__main__":
    # `python3 bench/results.py NAME JSON_ROWS [JSON_NOTES]`: for the shell benchmarks.
    import sys
    record(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) > 3 else ())
