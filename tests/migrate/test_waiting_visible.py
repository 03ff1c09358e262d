"""Waiting for the database is visible (issue 19 item 3): every role that waits says so every few
seconds (attempt, time waited, the database's last error, never the URL's password), and the
read-only `migrate status` / `migrate plan` give up sooner by default."""
import re
import time

import pytest

import harness
import mighelp as m

PASSWORD = "s3cret-Pa55word-never-shown"
UNREACHABLE = f"postgresql://bollard:{PASSWORD}@127.0.0.1:1/bollard"
WAITING = re.compile(r"bollard migrate: waiting for the database \(attempt (\d+), ([0-9.]+) s of (\d+) s\): (.+)")


@pytest.mark.parametrize("sub", ["status", "plan"])
def test_read_only_commands_say_they_wait_and_honour_their_timeout(sub):
    t0 = time.monotonic()
    r = m.run(["migrate", sub], m.env_for(UNREACHABLE, MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS=6), timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == m.EXIT_UNREACHABLE, r.stderr
    assert took < 10, took
    waits = [WAITING.match(l) for l in r.stderr.splitlines()]
    waits = [w for w in waits if w]
    assert len(waits) >= 2, r.stderr  # the first attempt, then every few seconds
    assert all(w.group(3) == "6" and "Connection refused" in w.group(4) for w in waits), r.stderr
    assert [int(w.group(1)) for w in waits] == sorted(int(w.group(1)) for w in waits)
    assert float(waits[-1].group(2)) >= 1.5
    assert "MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS=6" in r.stderr
    assert r.stdout == "", r.stdout  # the answer channel stays clean
    assert PASSWORD not in r.stdout + r.stderr


def test_status_gives_up_after_ten_seconds_by_default():
    t0 = time.monotonic()
    r = m.run(["migrate", "status"], m.env_for(UNREACHABLE), timeout=40)
    took = time.monotonic() - t0
    assert r.returncode == m.EXIT_UNREACHABLE, r.stderr
    assert 5 < took < 14, took
    assert "MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS=10" in r.stderr


def test_up_logs_each_attempt_with_elapsed_time():
    r = m.run(["migrate"], m.env_for(UNREACHABLE, MIGRATE_CONNECT_TIMEOUT_SECONDS=3), timeout=30)
    assert r.returncode == m.EXIT_UNREACHABLE
    retries = [l for l in m.log_lines(r.stdout) if l["msg"] == "database not reachable yet; retrying"]
    assert len(retries) >= 2
    assert [l["attempt"] for l in retries] == list(range(1, len(retries) + 1))
    assert retries[-1]["elapsed_ms"] > retries[0]["elapsed_ms"] >= 0
    assert all("Connection refused" in l["error"] for l in retries)
    assert PASSWORD not in r.stdout + r.stderr


def test_worker_says_every_few_seconds_that_it_cannot_reach_the_database(tmp_path):
    env = m.env_for(UNREACHABLE, DB_CONNECT_TIMEOUT_MS=500, WORKER_HEARTBEAT_FILE=str(tmp_path / "hb"))
    b = harness.Bollard(["worker"], env)
    try:
        def relay_lines():
            return [l for l in b.log_lines() if l.get("msg") == "relay: not publishing"]
        harness.wait_until(lambda: any(l["elapsed_ms"] >= 5000 for l in relay_lines()), timeout=20,
                           what="a relay line after five seconds of waiting")
        lines = relay_lines()
        assert lines[0]["attempt"] == 1 and lines[0]["elapsed_ms"] == 0
        assert all("database" in l["error"] for l in lines)
        # never more than RELAY_SAY_EVERY_MS (5 s) plus an iteration between two lines
        gaps = [b2["elapsed_ms"] - a["elapsed_ms"] for a, b2 in zip(lines, lines[1:])]
        assert all(g <= 6500 for g in gaps), gaps
        assert PASSWORD not in b.stdout() + b.stderr()
    finally:
        b.signal()
        assert b.wait(20) == 0
