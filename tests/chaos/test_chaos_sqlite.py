"""A full disk under `bollard dev` (embedded SQLite), under steady load."""
import os
import resource
import time

import requests

import harness
from chaoslib import PASSWORD, DevProcess, Load, Targets, check_tasks, list_tasks, sqlite_rows, wait_ready
from devlib import dev_env


def start(db):
    p = DevProcess(dev_env(db, ACCESS_LOG="false", SHUTDOWN_DRAIN_SECONDS=1))
    p.wait_live(timeout=30)
    wait_ready(p)
    return p


def test_sqlite_disk_full(tmp_path):
    """The file system refuses to let the database files grow (RLIMIT_FSIZE lowered on the running
    process with prlimit, SIGXFSZ ignored: writes past the limit fail with EFBIG, as on a full
    volume). Writes then fail with a 503 problem+json and a log line naming the cause; the
    process keeps running and serving reads; once space returns (the limit is lifted) writes succeed
    again without a restart. Afterwards PRAGMA integrity_check is ok, every acknowledged write is
    in the file, and a fresh `bollard dev` on the same file serves all of them."""
    db = tmp_path / "bollard.db"
    dev = start(db)
    r = requests.post(dev.url("/api/auth/signup"), timeout=30,
                      json={"email": f"chaos-{os.urandom(4).hex()}@example.com", "password": PASSWORD})
    assert r.status_code == 201, r.text
    token = r.json()["access_token"]
    load = Load(Targets([dev.url("")]), token, "sqlite", description_len=1500).start()
    load.wait_acked(60)

    sizes = {s: os.path.getsize(f"{db}{s}") for s in ("", "-wal", "-shm") if os.path.exists(f"{db}{s}")}
    limit = sizes[""] + 64 * 1024
    full = time.monotonic()
    resource.prlimit(dev.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    harness.wait_until(lambda: len(load.failures(since=full)) >= 20, timeout=30, interval=0.05,
                       what=f"writes failing with the files limited to {limit} bytes (were {sizes})")
    assert dev.proc.poll() is None, "the process survives a full disk"
    assert harness.get(dev.url("/health/live"))[0] == 200
    some = next(iter(load.created))
    status, _, _ = harness.get(dev.url(f"/api/tasks/{some}"), headers={"Authorization": f"Bearer {token}"})
    assert status == 200, "reads keep working on a full disk"

    resource.prlimit(dev.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    freed = time.monotonic()
    load.wait_acked(60, since=freed, what="acknowledged writes once space returned")
    load.stop()
    print("load:", load.summary(), load.failures()[0].get("body") if load.failures() else "")

    failures = load.failures()
    # 503 + Retry-After (the environment, not the request): a client retries once space returns.
    assert all(f.get("status") == 503 and f["ctype"].startswith("application/problem+json")
               for f in failures), [f for f in failures if f.get("status") != 503][:3]
    logs = dev.log_lines()
    print({line["msg"] for line in logs if line["level"] == "error"})
    assert any(line["level"] == "error" and ("disk is full" in line["msg"] or "I/O error" in line["msg"])
               for line in logs), "the log names the cause"
    listed = list_tasks(dev.url(""), token)
    dev.signal()
    assert dev.wait(30) == 0, dev.stderr()[-3000:]
    dev.assert_sanitizers_clean()
    dev.stop()

    integrity, rows, created_events = sqlite_rows(db)
    assert integrity == ["ok"], integrity
    check_tasks(load, rows, listed)
    assert len(created_events) == len(set(created_events)) == len(rows), "one task.created event per task"
    assert set(load.created) <= set(created_events)

    again = start(db)  # the file opens again and serves everything
    assert set(load.created) <= set(list_tasks(again.url(""), token))
    again.signal()
    assert again.wait(30) == 0
    again.assert_sanitizers_clean()
    again.stop()
