"""Sums the `rollout …` lines of a soak log (make soak): runs, requests, failed requests, events
delivered, lost events, duplicate deliveries. Usage: python3 soak_summary.py build/asan/soak.log"""
import re
import sys

LINE = re.compile(r"^rollout (?P<name>.*?): (?P<requests>\d+) requests, (?P<failed>\d+) failed, "
                  r"(?:(?P<events>\d+) events delivered, (?P<lost>\d+) lost, (?P<duplicates>\d+) duplicates, )?")


def main(path):
    totals = {"runs": 0, "requests": 0, "failed": 0, "events": 0, "lost": 0, "duplicates": 0}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            totals["runs"] += 1
            for k in ("requests", "failed", "events", "lost", "duplicates"):
                totals[k] += int(m.group(k) or 0)
    print("soak totals: " + ", ".join(f"{v} {k}" for k, v in totals.items()))


if __name__ == "__main__":
    main(sys.argv[1])
