"""Redis loses its data in the middle of a stream of task changes (issue 17 item 5): FLUSHALL, and a
restart without persistence. Jobs already published (in the stream, pending at the worker, waiting in
the retry set) are recovered from PostgreSQL (outbox_deliveries) by the relay: every event is
delivered at least once. Duplicates are allowed (receivers dedupe by X-Bollard-Event-Id); the test
prints how many, and how long the recovery took."""
import os
import threading
import time

import harness
import requests
from chaoslib import check_pg_invariants, heartbeat, wait_ready


def _lose(stack, how):
    if how == "flushall":
        assert stack.redis.cli("FLUSHALL") == "OK"
    else:  # a restart of a Redis without persistence (the harness runs it with --save "")
        stack.redis.stop()
        dump = os.path.join(stack.redis.dir, "dump.rdb")
        if os.path.exists(dump):
            os.remove(dump)
        stack.redis.start()
    assert stack.redis.cli("EXISTS", "bollard:{webhooks}:jobs") == "0", "Redis kept its data"


def _scenario(make_stack, how):
    stack = make_stack()
    api = stack.apis[0]
    w = stack.worker()
    name = stack.name
    failing = threading.Event()
    # While `failing`, the receiver answers 500: jobs pile up in the retry set and the stream, which
    # is what a data loss takes away.
    stack.receiver.behaviour = lambda n, req: 500 if n == name and failing.is_set() else 200
    load = stack.load().start()
    load.wait_acked(60)
    harness.wait_until(lambda: len(stack.delivered()) >= 30, timeout=60, interval=0.05, what="30 deliveries")

    failing.set()
    harness.wait_until(lambda: sum(1 for r in stack.receiver.snapshot() if r["name"] == name and r["status"] == 500)
                       >= 40, timeout=60, interval=0.05, what="40 failed attempts (retries scheduled)")
    retries = int(stack.redis.cli("ZCARD", "bollard:{webhooks}:retry") or 0)
    _lose(stack, how)
    t_loss = time.monotonic()
    failing.clear()
    # Every event committed before the loss was published or is about to be: all of them must arrive.
    at_loss = set(stack.sql("SELECT event_id FROM outbox").split())
    undelivered = at_loss - stack.delivered()

    load.wait_acked(60, since=t_loss, what="acknowledged writes after the loss")
    harness.wait_until(lambda: stack.delivered() >= at_loss, timeout=120, interval=0.05,
                       what=f"the {len(at_loss)} events committed before the loss delivered")
    recovery_s = time.monotonic() - t_loss
    load.stop()
    print("load:", load.summary())

    assert load.failures() == [], load.failures()[:3]
    assert api.proc.poll() is None and w.proc.poll() is None, "nobody was restarted"
    wait_ready(api, timeout=30)
    check_pg_invariants(stack, load, timeout=120)

    ok = [r for r in stack.receiver.snapshot() if r["name"] == name and r["status"] == 200 and r.get("answered")]
    duplicates = len(ok) - len({r["event_id"] for r in ok})
    lines = w.log_lines()
    detected = [ln for ln in lines if ln.get("msg", "").startswith("relay: Redis lost data")]
    completed = [ln for ln in lines if ln.get("msg", "").startswith("relay: recovery complete")]
    recovered_jobs = sum(ln.get("jobs", 0) for ln in completed)
    print(f"{how}: {len(at_loss)} events before the loss, {len(undelivered)} not yet delivered at the loss, "
          f"{retries} retries scheduled; recoveries {len(completed)}, jobs re-enqueued {recovered_jobs}; "
          f"duplicates {duplicates} of {len(ok)} deliveries; recovery {recovery_s:.2f} s")
    assert detected and completed, "the relay did not report the loss and its recovery"
    assert recovered_jobs >= 1 and detected[0]["level"] == "warn"
    harness.wait_until(lambda: heartbeat(w)["recovered_jobs"] >= recovered_jobs, timeout=10,
                       what="the heartbeat counts the recovered jobs")
    # Settled deliveries are forgotten: nothing stays tracked once everything is delivered.
    harness.wait_until(lambda: stack.sql("SELECT count(*) FROM outbox_deliveries") == "0", timeout=30,
                       interval=0.1, what="every tracked delivery settled")
    metrics = requests.get(api.url("/metrics"), timeout=10).text
    line = next(ln for ln in metrics.splitlines() if ln.startswith("bollard_jobs_recovered_total "))
    assert int(line.split()[1]) >= 1, line
    assert stack.stop() == []


def test_redis_flushall_loses_no_event(make_stack):
    _scenario(make_stack, "flushall")


def test_redis_restart_without_data_loses_no_event(make_stack):
    _scenario(make_stack, "restart")
