"""`bollard migrate up|plan --phase expand|contract|all` (CONTRACT §4 phases): expand applies the
pending migrations up to the first pending contract, contract the rest; status and plan show the
pending ones by phase; an expand behind a pending contract is refused in the expand phase."""
import json

import harness
import mighelp as m

REAL = m.real_versions()


def status(env, which):
    r = m.run(["migrate", "status", "--json"], env, which=which)
    assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_expand_then_contract_phase(pg, fresh_db, redis):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    r = m.run(["migrate", "plan", "--phase", "expand"], env, which="contract")
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK, r.stderr
    assert "======== expand phase" in r.stdout and "contract phase\n" not in r.stdout
    assert "ROLLBACK FLOOR" not in r.stdout
    r = m.run(["migrate", "plan"], env, which="contract")
    assert "======== contract phase" in r.stdout
    assert "ROLLBACK FLOOR: once applied, binaries below level 9002 are unready" in r.stdout
    doc = status(env, "contract")
    assert doc["pending_by_phase"] == {"expand": len(REAL) + 1, "contract": 1}
    assert doc["needed_level"] == 9001 and doc["binary_level"] == 9002
    assert [x["phase"] for x in doc["migrations"]][-2:] == ["expand", "contract"]

    r = m.run(["migrate", "up", "--phase", "expand"], env, which="contract")
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    assert m.applied_versions(pg, db) == REAL + [9001]
    done = [x for x in m.log_lines(r.stdout) if x["msg"] == "migrations applied"][0]
    assert done["phase"] == "expand" and done["left_for_contract_phase"] == 1 and done["db_floor"] < 9002
    # Again: nothing in the expand phase, the contract waits, exit 0.
    r = m.run(["migrate", "up", "--phase=expand"], env, which="contract")
    assert r.returncode == m.EXIT_OK and "for the contract phase" in r.stdout, r.stdout
    doc = status(env, "contract")
    assert doc["pending_by_phase"] == {"expand": 0, "contract": 1}
    # The contract binary's code needs 9001 only: it is ready before its own contract.
    b = m.start_api(m.env_for(fresh_db, redis), which="contract")
    try:
        harness.wait_until(lambda: m.readiness(b)[0] == 200, timeout=15, what="ready before the contract")
    finally:
        b.signal()
        b.wait(20)

    r = m.run(["migrate", "up", "--phase", "contract"], env, which="contract")
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    assert m.applied_versions(pg, db) == REAL + [9001, 9002]
    doc = status(env, "contract")
    assert doc["database"] == {"version": 9002, "floor": 9002} and doc["pending"] == 0


def test_expand_after_a_pending_contract_is_refused(pg, fresh_db):
    db = m.dbname(fresh_db)
    env = m.env_for(fresh_db)
    assert m.run(["migrate"], env, which="expand").returncode == m.EXIT_OK
    for args in (["migrate", "up", "--phase", "expand"], ["migrate", "plan", "--phase", "expand"]):
        r = m.run(args, env, which="contract_expand")
        m.assert_clean(r)
        assert r.returncode == m.EXIT_PHASE_ORDER, r.stdout + r.stderr
        assert "follows the pending contract migration 9002" in r.stdout + r.stderr
    assert m.applied_versions(pg, db) == REAL + [9001]
    # The contract phase applies both, in order.
    r = m.run(["migrate", "up", "--phase", "contract"], env, which="contract_expand")
    assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    assert m.applied_versions(pg, db) == REAL + [9001, 9002, 9003]


def test_phase_usage_errors(fresh_db):
    env = m.env_for(fresh_db)
    for args in (["migrate", "up", "--phase", "sideways"], ["migrate", "up", "--phase"],
                 ["migrate", "status", "--phase", "expand"], ["migrate", "plan", "--wait-rollout", "api"],
                 ["migrate", "up", "--wait-rollout", "Bad_Name"], ["migrate", "up", "--wait-rollout-timeout", "0"],
                 ["migrate", "up"] + ["--wait-rollout", "d"] * 5):
        r = m.run(args, env)
        assert r.returncode == m.EXIT_USAGE, (args, r.stdout, r.stderr)
    r = m.run(["migrate", "--help"], env)
    assert "--phase expand|contract|all" in r.stdout and "7 --phase expand" in r.stdout


def test_wait_rollout_outside_a_pod_fails_before_touching_the_database(fresh_db):
    env = m.env_for(fresh_db)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    r = m.run(["migrate", "up", "--phase", "contract", "--wait-rollout", "rel-bollard-api"], env)
    m.assert_clean(r)
    assert r.returncode == m.EXIT_ROLLOUT and "KUBERNETES_SERVICE_HOST" in r.stdout, r.stdout
