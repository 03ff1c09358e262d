"""`bollard migrate` against a real PostgreSQL: CONTRACT §2 migrate, issue 3."""
import hashlib
import json
import signal
import time

import pytest

import harness
import mighelp as m

REAL = m.real_versions()


def test_fresh_database_applied_and_recorded(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    r = m.run(["migrate"], env)
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    assert r.stderr == ""
    assert "migrations applied" in m.messages(r.stdout)

    rows = pg.psql("SELECT version, name, kind, checksum, floor, applied_at <= now(), duration_ms >= 0, "
                   "applied_by LIKE 'bollard-migrate %' FROM bollard_schema_migrations ORDER BY version", db=db)
    files = m.real_migrations()
    assert len(rows.splitlines()) == len(files)
    expected_floor = 0
    for line, (f_version, f_name, f_kind, sql) in zip(rows.splitlines(), files):
        version, name, kind, checksum, floor, at_ok, dur_ok, by_ok = line.split("|")
        if f_kind == "contract":
            expected_floor = f_version
        assert (int(version), name, kind) == (f_version, f_name, f_kind)
        assert checksum == hashlib.sha256(sql).hexdigest()
        assert int(floor) == expected_floor
        assert (at_ok, dur_ok, by_ok) == ("t", "t", "t")

    # The schema the tasks API needs.
    pg.psql("INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x')", db=db)
    with pytest.raises(Exception):
        pg.psql("INSERT INTO users (email, password_hash) VALUES ('B@example.com', 'x')", db=db)
    pg.psql("INSERT INTO tasks (user_id, title) SELECT id, 't' FROM users", db=db)
    assert pg.psql("SELECT completed, description, version, due_at IS NULL FROM tasks", db=db) == "f||1|t"
    with pytest.raises(Exception):
        pg.psql("INSERT INTO tasks (user_id, title) SELECT id, '' FROM users", db=db)
    assert pg.psql("SELECT indexdef FROM pg_indexes WHERE tablename = 'tasks' AND indexdef LIKE "
                   "'%(user_id, created_at, id)%'", db=db) != ""
    pg.psql("DELETE FROM users", db=db)
    assert pg.psql("SELECT count(*) FROM tasks", db=db) == "0"  # on delete cascade

    # Up to date: exit 0, nothing changed.
    before = pg.psql("SELECT string_agg(applied_at::text, ',') FROM bollard_schema_migrations", db=db)
    r = m.run(["migrate", "up"], env)
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK
    assert m.messages(r.stdout) == ["database is up to date; nothing to do"]
    assert pg.psql("SELECT string_agg(applied_at::text, ',') FROM bollard_schema_migrations", db=db) == before


def test_two_runners_started_together_apply_each_migration_once(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    procs = [m.Proc(["migrate"], env, which="expand") for _ in range(2)]
    results = [p.result(60) for p in procs]
    for r in results:
        m.assert_clean(r)
        assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    assert m.applied_versions(pg, db) == REAL + [9001]
    applied = [msg for r in results for msg in m.messages(r.stdout) if msg.startswith("applied migration")]
    expected = [f"applied migration {v} ({n})" for v, n, _, _ in m.real_migrations()]
    assert sorted(applied) == sorted(expected + ["applied migration 9001 (fixture_widgets)"])
    assert pg.psql("SELECT count(*) FROM fixture_widgets", db=db) == "1"  # its insert ran once


def test_failing_migration_leaves_nothing_and_rerun_after_fix_succeeds(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    r = m.run(["migrate"], env, which="failing")
    m.assert_clean(r)
    assert r.returncode == m.EXIT_FAILED, r.stdout
    errors = [line for line in m.log_lines(r.stdout) if line["level"] == "error"]
    assert errors[0]["version"] == 9001 and errors[0]["sqlstate"] == "23505"
    assert "rolled back" in errors[0]["msg"]
    assert m.applied_versions(pg, db) == REAL  # the earlier ones are kept
    assert m.relation_exists(pg, db, "users") and m.relation_exists(pg, db, "tasks")
    assert not m.relation_exists(pg, db, "fixture_widgets")  # nothing of 9001

    # Re-running the broken one fails the same way, with no "dirty" state in between.
    assert m.run(["migrate"], env, which="failing").returncode == m.EXIT_FAILED
    # The fixed migration (same version) applies.
    r = m.run(["migrate"], env, which="expand")
    assert r.returncode == m.EXIT_OK, r.stdout
    assert m.applied_versions(pg, db) == REAL + [9001]
    assert pg.psql("SELECT note FROM fixture_widgets", db=db) == "one"


def test_edited_applied_migration_is_refused(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    assert m.run(["migrate"], env).returncode == m.EXIT_OK
    before = pg.psql("SELECT string_agg(version || checksum, ',') FROM bollard_schema_migrations", db=db)
    for args in (["migrate"], ["migrate", "plan"]):
        r = m.run(args, env, which="edited")
        m.assert_clean(r)
        assert r.returncode == m.EXIT_CHECKSUM, r.stdout + r.stderr
        assert "checksum mismatch: migration 1 (users) was changed after it was applied" in r.stdout + r.stderr
    r = m.run(["migrate", "status", "--json"], env, which="edited")
    assert r.returncode == m.EXIT_CHECKSUM
    states = {row["version"]: row["state"] for row in json.loads(r.stdout)["migrations"]}
    assert states[1] == "changed" and all(states[v] == "applied" for v in REAL[1:])
    assert pg.psql("SELECT string_agg(version || checksum, ',') FROM bollard_schema_migrations", db=db) == before


def test_database_ahead_rollback_case(pg, fresh_db):
    env = m.env_for(fresh_db)
    assert m.run(["migrate"], env, which="expand").returncode == m.EXIT_OK
    # One expand migration ahead: the older binary has nothing to do and says it is compatible.
    r = m.run(["migrate"], env)
    assert r.returncode == m.EXIT_OK, r.stdout
    assert "ahead of this binary and compatible" in r.stdout
    assert m.run(["migrate"], env, which="contract").returncode == m.EXIT_OK
    # After a contract migration the older binaries are refused with a clear message.
    for which in ("bollard", "expand"):
        r = m.run(["migrate"], env, which=which)
        m.assert_clean(r)
        assert r.returncode == m.EXIT_INCOMPATIBLE, r.stdout
        assert "incompatible database: database floor 9002 is above this binary's level" in r.stdout
    assert m.applied_versions(pg, m.dbname(fresh_db)) == REAL + [9001, 9002]


def test_sigterm_rolls_back_releases_lock_and_next_run_is_clean(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    p = m.Proc(["migrate"], env, which="slow")
    harness.wait_until(lambda: pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' "
                                       "AND query LIKE '%pg_sleep(60)%' AND state = 'active' "
                                       "AND application_name LIKE 'bollard-migrate%'") == "1",
                       timeout=20, what="the slow migration running")
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    r = p.result(15)
    assert time.monotonic() - t0 < 10
    m.assert_clean(r)
    assert r.returncode == m.EXIT_INTERRUPTED, r.stdout + r.stderr
    assert any("interrupted while applying migration 9001" in msg for msg in m.messages(r.stdout))
    assert not m.relation_exists(pg, db, "fixture_widgets")
    assert m.applied_versions(pg, db) == REAL
    assert pg.psql(f"SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                   f"WHERE l.locktype = 'advisory' AND d.datname = '{db}'") == "0"
    r = m.run(["migrate"], env, which="expand")  # no manual "force" needed
    assert r.returncode == m.EXIT_OK, r.stdout
    assert m.applied_versions(pg, db) == REAL + [9001]


def test_lock_wait_is_bounded_and_names_the_holder(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    holder = m.Proc(["migrate"], env, which="slow")
    try:
        harness.wait_until(lambda: pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' "
                                           "AND query LIKE '%pg_sleep(60)%' AND state = 'active'") == "1",
                           timeout=20, what="the slow migration holding the lock")
        t0 = time.monotonic()
        r = m.run(["migrate"], m.env_for(fresh_db, MIGRATE_LOCK_TIMEOUT_SECONDS=1), which="expand")
        assert time.monotonic() - t0 < 8
        m.assert_clean(r)
        assert r.returncode == m.EXIT_LOCK_TIMEOUT, r.stdout + r.stderr
        err = [line for line in m.log_lines(r.stdout) if line["level"] == "error"][0]
        pid = pg.psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE '%pg_sleep(60)%'")
        assert "MIGRATE_LOCK_TIMEOUT_SECONDS=1" in err["msg"]
        assert f"pid {pid} (application \"bollard-migrate " in err["msg"]

        # A runner waiting for the lock stops at once on SIGTERM.
        waiter = m.Proc(["migrate"], env, which="expand")
        harness.wait_until(lambda: "another migration runner holds the lock" in waiter.stdout(), timeout=20,
                           what="the second runner waiting")
        t0 = time.monotonic()
        waiter.proc.send_signal(signal.SIGTERM)
        r = waiter.result(10)
        assert time.monotonic() - t0 < 5
        m.assert_clean(r)
        assert r.returncode == m.EXIT_INTERRUPTED, r.stdout + r.stderr
    finally:
        holder.proc.send_signal(signal.SIGTERM)
        assert holder.wait(15) == m.EXIT_INTERRUPTED


def test_statement_timeout_bounds_a_migration(pg, fresh_db):
    db = m.dbname(fresh_db)
    t0 = time.monotonic()
    r = m.run(["migrate"], m.env_for(fresh_db, MIGRATE_STATEMENT_TIMEOUT_SECONDS=1), which="slow")
    assert time.monotonic() - t0 < 15
    m.assert_clean(r)
    assert r.returncode == m.EXIT_FAILED, r.stdout
    err = [line for line in m.log_lines(r.stdout) if line["level"] == "error"][0]
    assert err["sqlstate"] == "57014" and "statement timeout" in err["msg"]
    assert m.applied_versions(pg, db) == REAL
    assert not m.relation_exists(pg, db, "fixture_widgets")


def test_waits_for_a_database_that_starts_after_the_job():
    late = harness.Postgres()
    try:
        late.stop()
        p = m.Proc(["migrate"], m.env_for(late.url, MIGRATE_CONNECT_TIMEOUT_SECONDS=60))
        harness.wait_until(lambda: "database not reachable yet; retrying" in p.stdout(), timeout=20,
                           what="a retry")
        assert p.proc.poll() is None
        late.start()
        r = p.result(60)
        m.assert_clean(r)
        assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
        assert m.applied_versions(late, "bollard") == REAL
    finally:
        late.destroy()


def test_sigterm_while_waiting_for_the_database():
    p = m.Proc(["migrate"], m.env_for("postgresql://postgres@127.0.0.1:1/x", MIGRATE_CONNECT_TIMEOUT_SECONDS=60))
    harness.wait_until(lambda: "database not reachable yet; retrying" in p.stdout(), timeout=20, what="a retry")
    p.proc.send_signal(signal.SIGTERM)
    r = p.result(5)
    m.assert_clean(r)
    assert r.returncode == m.EXIT_INTERRUPTED


def test_unreachable_database_is_bounded_and_secret_free():
    url = "postgresql://bollard:s3cret-Pa55word@127.0.0.1:1/bollard"
    t0 = time.monotonic()
    r = m.run(["migrate"], m.env_for(url, MIGRATE_CONNECT_TIMEOUT_SECONDS=1))
    assert time.monotonic() - t0 < 8
    m.assert_clean(r)
    assert r.returncode == m.EXIT_UNREACHABLE, r.stdout + r.stderr
    assert "MIGRATE_CONNECT_TIMEOUT_SECONDS=1" in r.stdout
    assert "s3cret-Pa55word" not in r.stdout + r.stderr


def test_status_and_plan_apply_nothing(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    r = m.run(["migrate", "plan"], env)
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK, r.stderr
    assert f"{len(REAL)} pending migration" in r.stdout
    assert "create table users" in r.stdout and "create index tasks_user_created_id_idx" in r.stdout
    r = m.run(["migrate", "status"], env)
    assert r.returncode == m.EXIT_OK, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "NAME", "KIND", "STATE", "APPLIED", "AT", "DURATION"]
    assert lines[1].split()[:4] == ["1", "users", "expand", "pending"]
    assert "schema: not_migrated" in r.stdout
    assert not m.relation_exists(pg, db, "bollard_schema_migrations")  # nothing applied, nothing created

    assert m.run(["migrate"], env, which="expand").returncode == m.EXIT_OK
    r = m.run(["migrate", "status", "--json"], env)
    assert r.returncode == m.EXIT_OK, r.stderr
    doc = json.loads(r.stdout)
    floor = max([v for v, _, k, _ in m.real_migrations() if k == "contract"], default=0)
    assert doc["binary_level"] == REAL[-1] and doc["database"] == {"version": 9001, "floor": floor}
    assert doc["compatibility"]["ok"] is True and doc["pending"] == 0
    assert [(x["version"], x["state"]) for x in doc["migrations"]] == [(v, "applied") for v in REAL] + [
        (9001, "ahead")]
    assert all("applied_at" in x and x["duration_ms"] >= 0 for x in doc["migrations"])
    r = m.run(["migrate", "plan"], env)
    assert r.returncode == m.EXIT_OK and "nothing to apply" in r.stdout


def test_usage_and_config_errors(fresh_db):
    r = m.run(["migrate", "sideways"], m.env_for(fresh_db))
    assert r.returncode == m.EXIT_USAGE and "unknown subcommand" in r.stderr
    r = m.run(["migrate", "--help"], m.env_for(fresh_db))
    assert r.returncode == 0 and "Exit codes" in r.stdout
    env = m.env_for(fresh_db)
    del env["DATABASE_URL"]
    r = m.run(["migrate"], env)
    assert r.returncode == m.EXIT_CONFIG and "DATABASE_URL" in r.stderr
    # migrate needs neither SECRET_KEY nor REDIS_URL
    env = m.env_for(fresh_db)
    del env["SECRET_KEY"], env["REDIS_URL"]
    assert m.run(["migrate"], env).returncode == m.EXIT_OK
