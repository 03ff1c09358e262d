"""Redis loses its data in the middle of a stream of task changes (issue 17 item 5): FLUSHALL, and a
restart of a Redis without persistence. Jobs already published (in the stream, pending at the worker,
waiting in the retry set) are recovered from PostgreSQL (outbox_deliveries) by the relay: every event
is delivered at least once. Duplicates are allowed (receivers dedupe by X-Bollard-Event-Id); each
scenario prints one `redis-loss[...]` report line with the duplicates and the recovery times."""
import datetime
import threading
import time

import harness
import requests
from chaoslib import check_pg_invariants, heartbeat, wait_ready

FAILED_ATTEMPTS = 40  # failed attempts before the loss: that many jobs wait in the retry set


def _run_id(stack):
    return next(ln.split(":", 1)[1] for ln in stack.redis.cli("INFO", "server").splitlines()
                if ln.startswith("run_id:"))


def _lose(stack, how):
    """Redis loses everything it holds; returns time.monotonic() and time.time() of the loss."""
    if how == "flushall":
        assert stack.redis.cli("FLUSHALL") == "OK"
        return time.monotonic(), time.time()
    # A restart of a Redis without persistence (the harness runs it with --save "" --appendonly no):
    # SIGTERM writes nothing, and the new server on the same port starts empty.
    before = _run_id(stack)
    stack.redis.stop()
    t = time.monotonic(), time.time()
    stack.redis.start()
    assert _run_id(stack) != before, "the same Redis server"
    assert int(stack.redis.cli("DBSIZE")) <= 8, "the new Redis started with data"
    return t


def _log_time(line):
    return datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


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
                       >= FAILED_ATTEMPTS, timeout=60, interval=0.05,
                       what=f"{FAILED_ATTEMPTS} failed attempts (retries scheduled)")
    retries = int(stack.redis.cli("ZCARD", "bollard:{webhooks}:retry") or 0)
    stream = int(stack.redis.cli("XLEN", "bollard:{webhooks}:jobs") or 0)
    tracked = int(stack.sql("SELECT count(*) FROM outbox_deliveries"))
    t_loss, wall_loss = _lose(stack, how)
    failing.clear()
    # Every event committed by now was published or is about to be: all of them must arrive.
    at_loss = set(stack.sql("SELECT event_id FROM outbox").split())
    undelivered = at_loss - stack.delivered()
    assert undelivered, "nothing was in flight at the loss: the scenario proves nothing"

    load.wait_acked(60, since=t_loss, what="acknowledged writes after the loss")
    harness.wait_until(lambda: stack.delivered() >= at_loss, timeout=120, interval=0.05,
                       what=f"the {len(at_loss)} events committed before the loss delivered")
    load.stop()
    print("load:", load.summary())

    assert load.failures() == [], load.failures()[:3]
    assert api.proc.poll() is None and w.proc.poll() is None, "nobody was restarted"
    wait_ready(api, timeout=30)
    check_pg_invariants(stack, load, timeout=120)

    got = [r for r in stack.receiver.snapshot() if r["name"] == name]
    ok = [r for r in got if r["status"] == 200 and r.get("answered")]
    duplicates = len(ok) - len({r["event_id"] for r in ok})
    # The events in flight at the loss: when the first of them and the last of them arrived.
    first_ok = {}
    for r in ok:
        if r["event_id"] in undelivered and r["t"] >= t_loss:
            first_ok.setdefault(r["event_id"], r["t"])
    assert set(first_ok) == undelivered
    to_first, to_all = min(first_ok.values()) - t_loss, max(first_ok.values()) - t_loss

    lines = w.log_lines()
    detected = [ln for ln in lines if ln.get("msg", "").startswith("relay: Redis lost data")]
    completed = [ln for ln in lines if ln.get("msg", "").startswith("relay: recovery complete")]
    assert detected and completed, "the relay did not report the loss and its recovery"
    assert detected[0]["level"] == "warn"
    recovered_jobs = sum(ln.get("jobs", 0) for ln in completed)
    assert recovered_jobs >= 1
    detection = _log_time(detected[0]) - wall_loss
    print(f"redis-loss[{how}]: {len(at_loss)} events before the loss, {len(undelivered)} of them not yet "
          f"delivered (at the loss: {tracked} tracked deliveries, {stream} stream entries, {retries} retries "
          f"scheduled); recoveries {len(completed)}, jobs re-enqueued {recovered_jobs}; duplicates "
          f"{duplicates} of {len(ok)} deliveries ({len({r['event_id'] for r in ok})} events); loss detected "
          f"after {detection:.2f} s, relay's recovery {completed[0]['elapsed_ms']} ms; first in-flight event "
          f"delivered {to_first:.2f} s after the loss, all {len(undelivered)} after {to_all:.2f} s")

    harness.wait_until(lambda: heartbeat(w)["recovered_jobs"] >= recovered_jobs, timeout=10,
                       what="the heartbeat counts the recovered jobs")
    assert heartbeat(w)["redis_data_losses"] >= 1
    # Settled deliveries are forgotten: nothing stays tracked once everything is delivered.
    harness.wait_until(lambda: stack.sql("SELECT count(*) FROM outbox_deliveries") == "0", timeout=30,
                       interval=0.1, what="every tracked delivery settled")
    metrics = requests.get(api.metrics_url(), timeout=10).text
    line = next(ln for ln in metrics.splitlines() if ln.startswith("bollard_jobs_recovered_total "))
    assert int(line.split()[1]) == recovered_jobs, line
    assert stack.stop() == []


def test_redis_flushall_loses_no_event(make_stack):
    _scenario(make_stack, "flushall")


def test_redis_restart_without_data_loses_no_event(make_stack):
    _scenario(make_stack, "restart")
