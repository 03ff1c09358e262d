"""`bollard dev`: migrations + API in one process on an embedded SQLite file, no Redis (issue 4)."""
import json
import sqlite3
import threading
import time

import pytest
import requests

import harness
from devlib import dev_env, start_dev, stop, wait_ready
from taskclient import signup

EX_CONFIG = 78


def ready(b):
    status, _, body = harness.get(b.url("/health/ready"))
    return status, json.loads(body)


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_refused_outside_dev(tmp_path, environment):
    db = tmp_path / "bollard.db"
    for role in ("dev", "api"):
        env = dev_env(db, ENVIRONMENT=environment, REDIS_URL="redis://127.0.0.1:1/0")
        out = harness.run([role], env)
        assert out.returncode == EX_CONFIG, (role, out.stderr)
        assert "config: DATABASE_URL: sqlite: databases are only allowed with ENVIRONMENT=dev" in out.stderr
        if role == "dev":
            assert "config: ENVIRONMENT: `bollard dev` runs only with ENVIRONMENT=dev" in out.stderr
        assert "listening" not in out.stdout
    assert not db.exists()  # refused before touching anything


def test_dev_needs_sqlite_and_its_secrets(tmp_path):
    env = dev_env(tmp_path / "b.db", DATABASE_URL="postgresql://postgres@127.0.0.1:1/bollard")
    out = harness.run(["dev"], env)
    assert out.returncode == EX_CONFIG and "config: DATABASE_URL:" in out.stderr and "sqlite:" in out.stderr
    env = dev_env(tmp_path / "b.db")
    del env["SECRET_KEY"]
    out = harness.run(["dev"], env)
    assert out.returncode == EX_CONFIG and "SECRET_KEY" in out.stderr
    assert not (tmp_path / "b.db").exists()
    assert harness.run(["dev", "--help"], dev_env(tmp_path / "b.db")).returncode == 0


def test_starts_ready_without_redis_and_restart_keeps_data(tmp_path):
    db = tmp_path / "bollard.db"
    # REDIS_URL pointing nowhere is not even read in dev mode.
    b = start_dev(dev_env(db, REDIS_URL="redis://127.0.0.1:1/0"))
    wait_ready(b)
    status, report = ready(b)
    assert status == 200 and report["checks"]["schema"]["ok"] and report["checks"]["database"]["ok"]
    logs = b.log_lines()
    applied = [line["version"] for line in logs if line["msg"].startswith("applied migration")]
    assert applied == sorted(applied) and applied[0] == 1
    client, email = signup(b.url(""))
    r = client.post("/api/tasks", {"title": "survives a restart", "due_at": "2030-01-31T12:00:00Z"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert stop(b) == 0

    b = start_dev(dev_env(db))
    wait_ready(b)
    assert any(line["msg"] == "dev database is up to date; nothing to do" for line in b.log_lines())
    r = client.__class__(b.url(""), client.token, client.user_id).get(f"/api/tasks/{task['id']}")
    assert r.status_code == 200 and r.json() == task
    r = requests.post(b.url("/api/auth/signin"), json={"email": email, "password": "correct horse battery"},
                      timeout=30)
    assert r.status_code == 200 and r.json()["user_id"] == client.user_id
    assert stop(b) == 0
    # the file carries the same bookkeeping as PostgreSQL: version, checksum, floor per migration
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT version, kind, length(checksum), floor FROM bollard_schema_migrations "
                            "ORDER BY version").fetchall()
        assert [r[0] for r in rows] == applied and all(r[2] == 64 for r in rows)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_loop_never_waits_on_sqlite(tmp_path):
    """Another process holds the SQLite write lock: every write waits for it on the store's own
    thread, up to its 5 s deadline, then answers 503. Meanwhile the event loop keeps answering at
    once, readiness answers within its check timeout, and everything recovers when the lock goes."""
    db = tmp_path / "bollard.db"
    b = start_dev(dev_env(db, HEALTH_CACHE_MS=0, HEALTH_CHECK_TIMEOUT_MS=300, API_THREADS=1))
    wait_ready(b)
    client, _ = signup(b.url(""))
    assert client.post("/api/tasks", {"title": "before the lock"}).status_code == 201

    lock = sqlite3.connect(db, isolation_level=None, timeout=5)
    lock.execute("BEGIN IMMEDIATE")
    try:
        results = []

        def create():
            t0 = time.monotonic()
            try:
                status = client.post("/api/tasks", {"title": "while locked"}).status_code
            except requests.RequestException as e:
                status = repr(e)
            results.append((status, time.monotonic() - t0))

        writers = [threading.Thread(target=create) for _ in range(8)]
        for t in writers:
            t.start()
        time.sleep(0.2)
        worst = 0.0
        for _ in range(40):
            t0 = time.monotonic()
            status, _, _ = harness.get(b.url("/health/live"), timeout=2)
            worst = max(worst, time.monotonic() - t0)
            assert status == 200
            time.sleep(0.02)
        assert worst < 0.5, f"/health/live took {worst:.3f}s while SQLite was locked"
        t0 = time.monotonic()
        status, _ = ready(b)  # 503 while its check waits behind the stuck writes, but it answers
        assert status in (200, 503) and time.monotonic() - t0 < 2.5
        for t in writers:
            t.join(30)
        assert len(results) == 8 and all(s == 503 and took < 8 for s, took in results), results
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    wait_ready(b)  # recovers by itself once the lock is gone
    assert client.post("/api/tasks", {"title": "after the lock"}).status_code == 201
    assert stop(b) == 0


def test_changed_migration_and_too_new_database_are_refused(tmp_path):
    db = tmp_path / "bollard.db"
    b = start_dev(dev_env(db))
    assert stop(b) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE bollard_schema_migrations SET checksum = ? WHERE version = 1", ("0" * 64,))
    out = harness.run(["dev"], dev_env(db, PORT=harness.free_port()))
    assert out.returncode == 2, out.stdout
    assert "checksum mismatch" in out.stdout and "listening" not in out.stdout

    db2 = tmp_path / "newer.db"
    b = start_dev(dev_env(db2))
    assert stop(b) == 0
    with sqlite3.connect(db2) as conn:  # a newer build applied a contract migration 9001
        conn.execute("INSERT INTO bollard_schema_migrations (version, name, kind, checksum, floor, duration_ms, "
                     "applied_by) VALUES (9001, 'future', 'contract', ?, 9001, 1, 'test')", ("a" * 64,))
    out = harness.run(["dev"], dev_env(db2, PORT=harness.free_port()))
    assert out.returncode == 3, out.stdout
    assert "compatibility floor (9001) is above this binary's level" in out.stdout


def test_unwritable_location_fails_clearly(tmp_path):
    out = harness.run(["dev"], dev_env(tmp_path / "missing-dir" / "bollard.db", PORT=harness.free_port()))
    assert out.returncode == 1
    assert "cannot open the dev database" in out.stdout and "does the directory" in out.stdout
    assert str(tmp_path) not in out.stdout + out.stderr  # DATABASE_URL is a secret: never logged
