"""PostgreSQL restarted, crashed, and unreachable for 30 s, under steady load."""
import subprocess
import time

import pytest

import harness
from chaoslib import check_failures, check_pg_invariants, heartbeat, ready, wait_ready


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restart(make_stack, mode):
    """`fast`: a clean restart (clients are told and disconnected); `immediate`: a crash (no
    shutdown checkpoint, crash recovery on start). Writes in flight when it goes (held behind a
    table lock so that there are some) and writes during the gap get a 503; the API and the worker
    reconnect by themselves; nothing acknowledged is lost."""
    stack = make_stack()
    api = stack.apis[0]
    w = stack.worker()
    load = stack.load().start()
    load.wait_acked(60)

    # every load thread's next write waits behind a lock: they are in flight when the server goes
    locker = subprocess.Popen(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(stack.pg.port), "-U", "postgres",
                               "-d", stack.db_name], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30);\n")
    locker.stdin.flush()
    harness.wait_until(lambda: int(stack.pg.psql(
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{stack.db_name}' AND wait_event_type = 'Lock'",
        db="postgres")) >= load.n_threads, timeout=15, what="every load thread's write in flight")
    stopping = time.monotonic()
    stack.pg.stop(mode)
    locker.kill()
    locker.wait(10)
    harness.wait_until(lambda: ready(api)[0] == 503, timeout=10, what="readiness 503 while PostgreSQL is down")
    stack.pg.start()
    back = time.monotonic()
    wait_ready(api, timeout=30)
    load.wait_acked(60, since=back, what="acknowledged writes after the restart")
    load.stop()
    print("load:", load.summary())

    check_failures(load.failures())
    # each thread had one write in flight when the server went: it got an answer, a 503 or (when the
    # lock holder's end let it commit before the shutdown reached it) its 2xx
    in_flight = [r for r in load.snapshot() if r["t0"] < stopping < r["t1"]]
    assert len(in_flight) == load.n_threads, in_flight
    assert all(r.get("status") in (200, 201, 503) for r in in_flight), in_flight
    assert api.proc.poll() is None and w.proc.poll() is None, "nobody was restarted"
    assert heartbeat(w)["pid"] == w.proc.pid
    check_pg_invariants(stack, load)
    assert stack.stop() == []


def test_postgres_unreachable_for_30s(make_stack):
    """The whole server SIGSTOPped for 30 s: connections hang instead of failing. Requests still
    get an answer within the configured query bound (503 + Retry-After, problem+json), liveness
    stays 200, readiness is 503 naming the database, the worker's heartbeat stays fresh, and all
    of it recovers without a restart once the server continues."""
    query_ms = 2000
    stack = make_stack(DB_CONNECT_TIMEOUT_MS=1000, DB_QUERY_TIMEOUT_MS=query_ms)
    api = stack.apis[0]
    w = stack.worker()
    load = stack.load().start()
    load.wait_acked(60)

    stack.pg.freeze()
    frozen = time.monotonic()
    _, report = harness.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(ready(api)), timeout=10,
                                   what="readiness 503 while PostgreSQL hangs")
    assert report["checks"]["database"]["ok"] is False and report["checks"]["redis"]["ok"] is True, report
    slowest_probe = 0.0
    while time.monotonic() < frozen + 30:  # the outage itself: watch it, every half second
        t0 = time.monotonic()
        assert harness.get(api.url("/health/live"), timeout=5)[0] == 200
        assert ready(api)[0] == 503
        slowest_probe = max(slowest_probe, time.monotonic() - t0)
        age_ms = time.time() * 1000 - heartbeat(w)["unix_ms"]
        assert age_ms < 10000, f"worker heartbeat {age_ms:.0f} ms old while the database hangs"
        time.sleep(0.5)
    stack.pg.thaw()
    thawed = time.monotonic()
    wait_ready(api, timeout=30)
    load.wait_acked(60, since=thawed, what="acknowledged writes after the outage")
    load.stop()
    print("load:", load.summary())

    assert slowest_probe < 3.0, f"a health probe took {slowest_probe:.1f} s during the outage"
    during = [r for r in load.snapshot() if r["t0"] >= frozen + 1 and r["t1"] <= thawed]
    assert len(during) >= 10, "the load kept asking during the outage"
    assert all(r.get("status") == 503 for r in during), [r for r in during if r.get("status") != 503][:3]
    slowest = max(r["t1"] - r["t0"] for r in during)
    # the query bound plus the server's grace second, plus scheduling noise on a shared machine
    assert slowest < query_ms / 1000 + 1 + 2.5, f"a request took {slowest:.1f} s while the database hung"
    check_failures(load.failures())
    assert api.proc.poll() is None and w.proc.poll() is None, "nobody was restarted"
    assert heartbeat(w)["pid"] == w.proc.pid
    check_pg_invariants(stack, load)
    assert stack.stop() == []
