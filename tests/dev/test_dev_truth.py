"""`bollard dev` reports what applies to it (issue 19 items 4 and 5): Redis is "not used", /metrics
has the SQLite store's figures instead of a PostgreSQL pool's, and the database file is owner-only."""
import json
import os
import stat

import harness
from devlib import dev_env, start_dev, stop, wait_ready


def metric_lines(b):
    status, _, body = harness.get(b.metrics_url())
    assert status == 200
    return [l for l in body.decode().splitlines() if l and not l.startswith("#")]


def value(lines, name):
    found = [l.split()[-1] for l in lines if l.split()[0] == name]
    assert len(found) == 1, (name, lines)
    return float(found[0])


def test_readiness_says_redis_is_not_used(api):
    status, _, body = harness.get(api.url("/health/ready"))
    assert status == 200
    checks = json.loads(body)["checks"]
    assert checks["redis"] == {"ok": True, "used": False, "detail": "not used in dev mode"}, checks
    assert checks["database"] == {"ok": True} and checks["schema"] == {"ok": True}


def test_metrics_show_the_sqlite_store_not_a_postgresql_pool(api, user):
    assert user.post("/api/tasks", {"title": "counted"}).status_code == 201
    lines = metric_lines(api)
    names = {l.split("{")[0].split()[0] for l in lines}
    assert not any(n.startswith("bollard_db_pool_") for n in names), names
    assert not any(n.startswith("bollard_redis_") for n in names), names
    assert not any(n.startswith("bollard_queue_") for n in names), names
    threads = int(api.env["API_THREADS"])
    assert value(lines, "bollard_store_sqlite_queue_max") == 512 * threads
    assert value(lines, "bollard_store_sqlite_outstanding") >= 0
    assert value(lines, "bollard_store_sqlite_busy_total") == 0
    assert value(lines, "bollard_outbox_up") == 1  # the SQLite outbox is read


def test_database_file_is_created_owner_only(tmp_path):
    db = tmp_path / "fresh.db"
    os.umask(0o022)  # the usual umask: SQLite alone would make the file 0644
    b = start_dev(dev_env(db))
    try:
        wait_ready(b)
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        for extra in ("-wal", "-shm"):
            p = tmp_path / ("fresh.db" + extra)
            if p.exists():
                assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, extra
    finally:
        assert stop(b) == 0


def test_a_readable_database_file_is_tightened(tmp_path):
    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    b = start_dev(dev_env(db))
    try:
        wait_ready(b)
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert any("now owner-only" in l["msg"] for l in b.log_lines())
    finally:
        assert stop(b) == 0


def test_412_carries_the_current_etag_on_sqlite(user):
    r = user.post("/api/tasks", {"title": "versioned"})
    task, etag = r.json(), r.headers["etag"]
    current = user.put(f"/api/tasks/{task['id']}", {"title": "moved on"}, headers={"If-Match": etag}).headers["etag"]
    r = user.patch(f"/api/tasks/{task['id']}/complete", headers={"If-Match": etag})
    assert r.status_code == 412 and r.headers.get("etag") == current, r.headers


def test_not_a_uuid_is_not_a_user_path(user):
    assert user.get("/api/v1/tasks").status_code == 404


def test_failed_webhook_deliveries_log_at_warn(tmp_path):
    refusing = harness.free_port()  # nothing listens there
    b = start_dev(dev_env(tmp_path / "w.db", WEBHOOK_ALLOW_PRIVATE="true", WEBHOOK_MAX_ATTEMPTS="3",
                          ACCESS_LOG="false"))
    try:
        wait_ready(b)
        from taskclient import signup
        client, _ = signup(b.url(""))
        r = client.post(f"/api/{client.user_id}/webhooks", {"url": f"http://127.0.0.1:{refusing}/hook"})
        assert r.status_code == 201, r.text
        assert client.post("/api/tasks", {"title": "undeliverable"}).status_code == 201
        harness.wait_until(lambda: any(l["msg"] == "delivery failed; retry scheduled" for l in b.log_lines()),
                           timeout=20, what="a failed attempt")
        failed = [l for l in b.log_lines() if l["msg"] == "delivery failed; retry scheduled"]
        assert all(l["level"] == "warn" for l in failed), failed
    finally:
        assert stop(b) == 0
