"""Bollard behind PgBouncer 1.18 in transaction pooling mode with its default settings: no
`options` startup parameter (pgbouncer refuses it), statement bounds set inside each transaction,
unnamed statements with DB_PREPARED_STATEMENTS=false (1.18 does not track named ones), and
migrations through MIGRATE_DATABASE_URL past the pooler (they hold a session advisory lock)."""
import subprocess
import tempfile
import time

import pytest
import requests

import harness
import workerlib
from taskclient import signup
from journey import *  # noqa: F401,F403 (the whole tasks journey, through the pooler)


def pooled_env(pg, bouncer, redis, db, **extra):
    direct = pg.new_database(db)
    return harness.base_env(pg, redis, DATABASE_URL=bouncer.url_for(db), MIGRATE_DATABASE_URL=direct,
                            DB_PREPARED_STATEMENTS="false", ACCESS_LOG="false", **extra)


@pytest.fixture(scope="module")
def api(pg, bouncer, redis):
    env = pooled_env(pg, bouncer, redis, "bouncer_journey")
    redis.cli("FLUSHDB")
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    b = harness.Bollard.api(env)
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 200, timeout=15, what="ready")
    yield b
    b.signal()
    assert b.wait(20) == 0
    b.assert_sanitizers_clean()
    assert "unsupported startup parameter" not in bouncer.log()


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client


def test_ready_through_pgbouncer_with_default_settings(pg, bouncer, redis):
    """The default configuration (prepared statements on) becomes ready and serves: the pool sends
    no startup options, and notices the pooler (a named statement missing on the server it got)
    and goes on with unnamed statements."""
    db = "bouncer_defaults"
    direct = pg.new_database(db)
    env = harness.base_env(pg, redis, DATABASE_URL=bouncer.url_for(db), ACCESS_LOG="false",
                           API_THREADS=1, DB_POOL_SIZE=4)
    assert harness.run(["migrate"], dict(env, DATABASE_URL=direct), timeout=60).returncode == 0
    b = harness.Bollard.api(env)
    try:
        harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 200, timeout=15, what="ready")
        client, _ = signup(b.url(""))
        for i in range(10):
            assert client.post("/api/tasks", {"title": f"t{i}"}).status_code == 201
        # The pooler's server connections are replaced (server_lifetime, a failover, a restart): the
        # pool's connections to the pooler stay, and their named statements are gone from the new
        # servers. Every request still succeeds (the pool runs the query again unnamed).
        pg.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' "
                "AND pid <> pg_backend_pid()", db="postgres")
        for i in range(20):
            r = client.post("/api/tasks", {"title": f"again {i}"})
            assert r.status_code == 201, r.text
            r = client.get("/api/tasks?limit=5")
            assert r.status_code == 200, r.text
        assert "using unnamed statements from now on" in b.stdout()
        b.signal()
        assert b.wait(20) == 0
        b.assert_sanitizers_clean()
    finally:
        b.stop()
    assert "unsupported startup parameter" not in bouncer.log()


def test_query_timeout_applies_through_the_pooler(pg, bouncer, redis):
    """DB_QUERY_TIMEOUT_MS is enforced by the server per transaction (SET LOCAL semantics): a query
    stuck behind a lock ends in a 503 within the bound, and leaves no setting on the pooled server."""
    env = pooled_env(pg, bouncer, redis, "bouncer_timeout", DB_QUERY_TIMEOUT_MS=1500)
    assert harness.run(["migrate"], env, timeout=60).returncode == 0
    b = harness.Bollard.api(env)
    try:
        client, _ = signup(b.url(""))
        assert client.post("/api/tasks", {"title": "x"}).status_code == 201
        locker = subprocess.Popen(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                                   "-d", "bouncer_timeout", "-c",
                                   "BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6);"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_until(lambda: pg.psql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' "
                                               "AND relation = 'tasks'::regclass", db="bouncer_timeout") == "1",
                               timeout=10, what="the table locked")
            t0 = time.monotonic()
            r = client.get("/api/tasks")
            took = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert took < 1.5 + 1.0 + 0.5, took
        finally:
            locker.kill()
            locker.wait()
        # statement_timeout did not stick to the server connection: a plain session through the
        # pooler sees the server default
        out = subprocess.run(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(bouncer.port), "-U", "postgres",
                              "-d", "bouncer_timeout", "-c", "SHOW statement_timeout"],
                             capture_output=True, text=True, timeout=10)
        assert out.stdout.strip() == "0", out
    finally:
        b.stop()


def test_migrate_through_migrate_database_url(pg, bouncer, redis):
    """migrate takes MIGRATE_DATABASE_URL (past the pooler) over DATABASE_URL; status too."""
    db = "bouncer_migrate"
    direct = pg.new_database(db)
    env = harness.base_env(pg, redis, DATABASE_URL=bouncer.url_for(db), MIGRATE_DATABASE_URL=direct)
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert pg.psql("SELECT count(*) > 0 FROM bollard_schema_migrations", db=db) == "t"
    status = harness.run(["migrate", "status"], env, timeout=60)
    assert status.returncode == 0, status.stderr
    # the direct URL is used, not the pooled one: the pooler saw no session from migrate
    assert f"db={db}" not in bouncer.log()


def test_worker_delivers_through_pgbouncer(pg, bouncer, receiver):
    redis = harness.Redis()
    try:
        env = pooled_env(pg, bouncer, redis, "bouncer_worker", WEBHOOK_ALLOW_PRIVATE="true")
        assert harness.run(["migrate"], env, timeout=60).returncode == 0
        api = harness.Bollard.api(env)
        tmp = tempfile.mkdtemp(prefix="bollard-bouncer-worker-")
        w = workerlib.start_worker(env, tmp, "pooled")
        try:
            r = requests.post(api.url("/api/auth/signup"),
                              json={"email": "bouncer-worker@example.com", "password": "correct horse battery"},
                              timeout=30)
            assert r.status_code == 201, r.text
            user, token = r.json()["user_id"], r.json()["access_token"]
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            r = s.post(api.url(f"/api/{user}/webhooks"), json={"url": receiver.url("a")}, timeout=10)
            assert r.status_code == 201, r.text
            receiver.secrets["a"] = r.json()["secret"]
            ids = []
            for i in range(20):
                r = s.post(api.url(f"/api/{user}/tasks"), json={"title": f"t{i}"}, timeout=10)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            assert s.delete(api.url(f"/api/{user}/tasks/{ids[0]}"), timeout=10).status_code == 204
            events = set(pg.psql("SELECT event_id FROM outbox", db="bouncer_worker").split())
            assert len(events) == 21
            harness.wait_until(lambda: receiver.delivered("a") == events, timeout=30, what="every event delivered")
            assert all(r["sig_ok"] for r in receiver.snapshot())
            harness.wait_until(lambda: pg.psql("SELECT count(*) FROM outbox WHERE published_at IS NULL",
                                               db="bouncer_worker") == "0", timeout=10, what="outbox stamped")
            workerlib.stop_worker(w)
            assert not any(line.get("level") == "error" for line in w.log_lines())
        finally:
            w.stop()
            api.stop()
    finally:
        redis.destroy()
