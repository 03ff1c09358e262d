"""A worker is ready only while the schema is compatible with its build (CONTRACT §4): the heartbeat
says `"schema": "compatible"` and the chart's readiness probe (`probe file … --json-field
schema=compatible`) checks it, so a rollout to a worker below the database's floor — a rollback past
a contract migration — stops at the new pod instead of replacing a worker that delivers."""
import subprocess
import tempfile

import harness
from workerlib import heartbeat, start_worker, stop_worker


def ready(w):
    return subprocess.run([harness.binary("probe"), "file", w.heartbeat, "--max-age", "5", "--json-field",
                           "schema=compatible"], capture_output=True, text=True, timeout=10)


def test_worker_on_an_unmigrated_database_is_live_not_ready_then_ready(pg, redis):
    env = harness.base_env(pg, redis, DATABASE_URL=pg.new_database("worker_readiness"))
    w = start_worker(env, tempfile.mkdtemp(prefix="bollard-worker-ready-"), "readiness")
    try:
        harness.wait_until(lambda: heartbeat(w).get("relay") == "schema not compatible", timeout=15,
                           what="the relay's verdict on the empty database")
        assert heartbeat(w)["schema"] == "not compatible"
        live = subprocess.run([harness.binary("probe"), "file", w.heartbeat, "--max-age", "5"],
                              capture_output=True, timeout=10)
        assert live.returncode == 0, "alive: liveness is the heartbeat's age only"
        r = ready(w)
        assert r.returncode != 0 and 'field schema is "not compatible", expected compatible' in r.stderr + r.stdout, r
        out = harness.run(["migrate"], env, timeout=60)
        assert out.returncode == 0, out.stderr
        harness.wait_until(lambda: ready(w).returncode == 0, timeout=15, what="ready once migrated")
        assert heartbeat(w)["schema"] == "compatible"
    finally:
        stop_worker(w)
