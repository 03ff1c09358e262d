"""The schema compatibility gate (CONTRACT §4): `api` readiness and `bollard check`."""
import time

import harness
import mighelp as m

# Short cache so changes show quickly; a generous check timeout so a loaded machine does not flap.
FAST_HEALTH = {"HEALTH_CACHE_MS": 100, "HEALTH_CHECK_TIMEOUT_MS": 3000}


def schema_check(b):
    status, body = m.readiness(b)
    return status, body["checks"]["schema"]


def test_api_before_migrations_is_live_not_ready_then_ready_without_restart(pg, redis, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db, redis, **FAST_HEALTH)
    b = m.start_api(env)
    status, body = m.readiness(b)
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True and body["checks"]["redis"]["ok"] is True
    assert body["checks"]["schema"]["ok"] is False
    assert "bollard migrate" in body["checks"]["schema"]["reason"]
    assert harness.get(b.url("/health/live"))[0] == 200
    # The api never migrates by itself: after several fresh readiness checks (cache 100 ms) it is still
    # unready and the bookkeeping table does not exist.
    seen = []
    harness.wait_until(lambda: seen.append(m.readiness(b)[0]) or len(seen) >= 4, timeout=10, interval=0.12,
                       what="four readiness checks")
    assert set(seen) == {503}, seen
    assert not m.relation_exists(pg, db, "bollard_schema_migrations")

    r = m.run(["migrate"], env)
    assert r.returncode == m.EXIT_OK, r.stdout
    harness.wait_until(lambda: m.readiness(b)[0] == 200, timeout=10, what="ready after migrate")
    status, body = m.readiness(b)
    assert body["status"] == "ok" and body["checks"]["schema"]["ok"] is True
    assert b.proc.poll() is None  # same process, no restart
    b.signal()
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()


def test_binary_one_expand_migration_behind_stays_ready(pg, redis, fresh_db):
    env = m.env_for(fresh_db, redis, **FAST_HEALTH)
    assert m.run(["migrate"], env).returncode == m.EXIT_OK
    b = m.start_api(env)  # the real binary: level 2
    harness.wait_until(lambda: m.readiness(b)[0] == 200, timeout=10, what="ready")
    # The next release's additive migration (9001) runs while this version still serves.
    r = m.run(["migrate"], env, which="expand")
    assert r.returncode == m.EXIT_OK, r.stdout
    deadline = time.monotonic() + 1.5  # well past the readiness cache
    while time.monotonic() < deadline:
        status, body = m.readiness(b)
        if body["checks"]["database"]["ok"]:  # (a slow database check says nothing about the schema)
            assert status == 200 and body["checks"]["schema"]["ok"] is True, body
        time.sleep(0.05)
    assert m.readiness(b)[0] == 200
    # A binary of that level rolled back (`kubectl rollout undo`) is ready too.
    b2 = m.start_api(env)
    harness.wait_until(lambda: m.readiness(b2)[0] == 200, timeout=10, what="rolled-back binary ready")
    assert m.run(["check"], env).returncode == 0
    for proc in (b, b2):
        proc.signal()
        assert proc.wait(15) == 0
        proc.assert_sanitizers_clean()


def test_binary_one_contract_migration_behind_turns_unready(pg, redis, fresh_db):
    env = m.env_for(fresh_db, redis, **FAST_HEALTH)
    assert m.run(["migrate"], env, which="expand").returncode == m.EXIT_OK
    b = m.start_api(env, which="expand")  # level 9001
    harness.wait_until(lambda: m.readiness(b)[0] == 200, timeout=10, what="ready at level 9001")
    # The contract migration 9002 lands: this binary must stop taking traffic, not crash.
    assert m.run(["migrate"], env, which="contract").returncode == m.EXIT_OK
    status, check = harness.wait_until(lambda: (lambda s: s if s[0] == 503 else None)(schema_check(b)),
                                       timeout=10, what="unready after the contract migration")
    assert check["ok"] is False
    assert "floor 9002 is above this binary's level 9001" in check["reason"]
    assert harness.get(b.url("/health/live"))[0] == 200
    assert b.proc.poll() is None
    r = m.run(["check"], env, which="expand")
    assert r.returncode == 1 and "schema: database floor 9002" in r.stderr
    # The binary of the new level is ready.
    b2 = m.start_api(env, which="contract")
    harness.wait_until(lambda: m.readiness(b2)[0] == 200, timeout=10, what="level 9002 ready")
    for proc in (b, b2):
        proc.signal()
        assert proc.wait(15) == 0
        proc.assert_sanitizers_clean()


def test_check_reports_one_line_per_failing_check(pg, redis, fresh_db):
    env = m.env_for(fresh_db, redis)
    r = m.run(["check"], env)
    m.assert_clean(r)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [line for line in r.stderr.splitlines() if line.startswith("schema: ")]
    assert len(r.stderr.splitlines()) == 1 and "bollard migrate" in r.stderr

    assert m.run(["migrate"], env).returncode == m.EXIT_OK
    r = m.run(["check"], env)
    m.assert_clean(r)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and r.stdout.startswith("ok:")

    # Everything down: one line each, no secret in any of them.
    down = harness.base_env(None, None, DB_CONNECT_TIMEOUT_MS=500, REDIS_TIMEOUT_MS=500)
    down["DATABASE_URL"] = "postgresql://u:pg-s3cret-pw@127.0.0.1:1/x"
    down["REDIS_URL"] = "redis://:redis-s3cret-pw@127.0.0.1:1/0"
    r = m.run(["check"], down)
    m.assert_clean(r)
    assert r.returncode == 1
    prefixes = [line.split(":", 1)[0] for line in r.stderr.splitlines()]
    assert prefixes == ["database", "schema", "redis"]
    assert "s3cret" not in r.stdout + r.stderr

    # Invalid configuration: 78, naming the variable.
    bad = m.env_for(fresh_db, redis)
    bad["REDIS_URL"] = "http://nope"
    r = m.run(["check"], bad)
    assert r.returncode == 78 and "REDIS_URL" in r.stderr
