"""Crashes, restarts, a Redis outage, SIGTERM and trimming: nothing is lost."""
import signal
import threading
import time

import harness
from workerlib import STREAM, GROUP, heartbeat, resp, stop_worker


def hold_first(receiver, n_first, release):
    """The first n_first requests block until `release` is set, then answer 503 (their worker is
    dead by then, so nobody reads it); every later request answers 200 at once."""
    count = {"n": 0}
    lock = threading.Lock()

    def behaviour(name, req):
        with lock:
            count["n"] += 1
            first = count["n"] <= n_first
        req["held"] = first
        if first:
            release.wait(30)
            return 503
        return 200
    return behaviour


def test_kill9_mid_delivery_is_reclaimed_by_another_worker(stack, receiver):
    user, s = stack.signup()
    receiver.secrets["h"] = stack.register(user, s, receiver.url("h"))["secret"]
    release = threading.Event()
    receiver.behaviour = hold_first(receiver, 4, release)
    a = stack.worker("a", WORKER_CONCURRENCY=4, WORKER_VISIBILITY_TIMEOUT_SECONDS=5)
    stack.create_tasks(user, s, 10)
    events = stack.outbox_events()
    harness.wait_until(lambda: len(receiver.snapshot()) >= 4, timeout=15, what="a's four deliveries in flight")
    held = {r["event_id"] for r in receiver.snapshot() if r.get("held")}
    assert len(held) == 4
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(10)
    assert resp(stack.redis.port, "XPENDING", STREAM, GROUP)[0] == 4, "a died holding four jobs"
    killed_at = time.monotonic()
    b = stack.worker("b", WORKER_VISIBILITY_TIMEOUT_SECONDS=5)
    try:
        harness.wait_until(lambda: receiver.delivered() == events, timeout=30, what="every event delivered by b")
    finally:
        release.set()
    # the held four needed the visibility timeout to pass before b could take them
    late = [r for r in receiver.snapshot() if r["event_id"] in held and not r.get("held")]
    assert {r["event_id"] for r in late} == held
    assert min(r["t"] for r in late) - killed_at >= 4.0
    assert all(r["sig_ok"] for r in receiver.snapshot())
    harness.wait_until(lambda: heartbeat(b)["reclaimed"] == 4, timeout=2, what="b's status counts 4 reclaimed")
    harness.wait_until(lambda: stack.pending() == 0, timeout=5, what="nothing pending")
    stop_worker(b)


def test_restart_under_the_same_name_resumes_its_own_pending_jobs(stack, receiver):
    """A restarted container keeps its POD_NAME: it re-reads its own pending entries at once
    instead of waiting for the visibility timeout (here 60 s, far beyond the test's deadline)."""
    user, s = stack.signup()
    receiver.secrets["h"] = stack.register(user, s, receiver.url("h"))["secret"]
    release = threading.Event()
    receiver.behaviour = hold_first(receiver, 3, release)
    a = stack.worker("same", WORKER_CONCURRENCY=3)
    stack.create_tasks(user, s, 3)
    events = stack.outbox_events()
    harness.wait_until(lambda: len(receiver.snapshot()) >= 3, timeout=15, what="three deliveries in flight")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(10)
    again = stack.worker("same", WORKER_CONCURRENCY=3)
    try:
        harness.wait_until(lambda: receiver.delivered() == events, timeout=15, what="resumed after restart")
    finally:
        release.set()
    assert any("resuming this consumer's pending jobs" in line for line in again.stdout().splitlines())
    harness.wait_until(lambda: stack.pending() == 0, timeout=5, what="nothing pending")
    stop_worker(again)


def test_redis_outage_loses_nothing(stack, receiver):
    user, s = stack.signup()
    receiver.secrets["h"] = stack.register(user, s, receiver.url("h"))["secret"]
    w = stack.worker("steady")
    stack.create_tasks(user, s, 5)
    before = stack.outbox_events()
    harness.wait_until(lambda: receiver.delivered() == before, timeout=15, what="deliveries before the outage")

    stack.redis.stop()
    # the API keeps answering task writes: events go to the outbox table
    stack.create_tasks(user, s, 20)
    during = stack.outbox_events() - before
    assert len(during) == 20
    # the relay has tried (and failed) to publish them, and says so in the heartbeat
    harness.wait_until(lambda: heartbeat(w)["relay"] == "redis unavailable", timeout=10,
                       what="the relay reports redis unavailable")
    assert stack.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "20"
    assert w.proc.poll() is None, "the worker keeps running without Redis"
    harness.wait_until(lambda: heartbeat(w)["redis"] is False, timeout=5, what="heartbeat reports redis down")
    fresh = heartbeat(w)["unix_ms"]
    harness.wait_until(lambda: heartbeat(w)["unix_ms"] > fresh, timeout=2, what="heartbeat still ticking")

    stack.redis.start()  # same port, empty (no persistence): the group is created again
    harness.wait_until(lambda: receiver.delivered() >= before | during, timeout=30, interval=0.1,
                       what="events from the outage delivered")
    assert stack.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0"
    assert all(r["sig_ok"] for r in receiver.snapshot())
    stop_worker(w)


def test_sigterm_finishes_in_flight_then_exits_zero(stack, receiver):
    user, s = stack.signup()
    receiver.secrets["h"] = stack.register(user, s, receiver.url("h"))["secret"]
    receiver.behaviour = lambda name, req: (time.sleep(1.5), 200)[1]
    a = stack.worker("a", WORKER_CONCURRENCY=4)
    stack.create_tasks(user, s, 4)
    first = stack.outbox_events()
    harness.wait_until(lambda: len(receiver.snapshot()) == 4, timeout=15, what="four deliveries in flight")
    started = time.monotonic()
    a.signal(signal.SIGTERM)
    stack.create_tasks(user, s, 4)  # changes after the stop began: for the next worker
    assert a.wait(10) == 0, a.stderr()[-2000:]
    assert time.monotonic() - started < 5
    a.assert_sanitizers_clean()
    # the in-flight four were answered and acknowledged before the exit: nothing left pending
    assert {r["event_id"] for r in receiver.snapshot() if r.get("answered")} == first
    assert stack.pending() == 0
    lines = a.log_lines()
    assert any(line["msg"].startswith("stopping") for line in lines)
    assert any(line["msg"] == "worker stopped" and line["delivered"] == 4 for line in lines)

    receiver.behaviour = lambda name, req: 200
    b = stack.worker("b")
    everything = stack.outbox_events()
    assert len(everything) == 8
    harness.wait_until(lambda: receiver.delivered() == everything, timeout=15, what="the rest delivered by b")
    ids = [r["event_id"] for r in receiver.snapshot()]
    assert len(ids) == len(set(ids)) == 8, "a graceful stop duplicates nothing"
    stop_worker(b)


def test_sigterm_deadline_hands_unfinished_jobs_back(stack, receiver):
    """A receiver that never answers in time: at the deadline the worker aborts and hands the job
    back to the stream (no visibility-timeout wait for the next worker) and still exits 0."""
    user, s = stack.signup()
    receiver.secrets["h"] = stack.register(user, s, receiver.url("h"))["secret"]
    release = threading.Event()
    receiver.behaviour = hold_first(receiver, 1, release)
    a = stack.worker("a", SHUTDOWN_TIMEOUT_SECONDS=3, WORKER_VISIBILITY_TIMEOUT_SECONDS=60)
    stack.create_tasks(user, s, 1)
    events = stack.outbox_events()
    harness.wait_until(lambda: len(receiver.snapshot()) == 1, timeout=15, what="one delivery in flight")
    started = time.monotonic()
    a.signal(signal.SIGTERM)
    try:
        assert a.wait(10) == 0
    finally:
        release.set()
    assert time.monotonic() - started < 3
    a.assert_sanitizers_clean()
    assert stack.pending() == 0, "handed back, not left pending"
    assert any(line["msg"].startswith("shutdown deadline") for line in a.log_lines())
    b = stack.worker("b")
    harness.wait_until(lambda: receiver.delivered() == events, timeout=15, what="delivered by the next worker")
    stop_worker(b)


def test_trim_never_drops_a_pending_entry(stack, receiver):
    """Worker a holds the oldest entry (its receiver is stuck) while b delivers 150 newer ones and
    trimming runs: the stream is trimmed only below the oldest pending entry, which a still
    acknowledges and which is still there to be reclaimed if a died."""
    user, s = stack.signup()
    receiver.secrets["h"] = stack.register(user, s, receiver.url("h"))["secret"]
    release = threading.Event()
    receiver.behaviour = hold_first(receiver, 1, release)
    a = stack.worker("a", WORKER_CONCURRENCY=1, WEBHOOK_TIMEOUT_MS=60000)
    stack.create_tasks(user, s, 1)
    harness.wait_until(lambda: len(receiver.snapshot()) == 1, timeout=15, what="a's delivery in flight")
    oldest = resp(stack.redis.port, "XPENDING", STREAM, GROUP)[1]
    b = stack.worker("b")
    stack.create_tasks(user, s, 150)
    harness.wait_until(lambda: len(receiver.delivered()) == 150, timeout=30, what="b delivered the rest")
    # wait for two more trim passes of b (one every 5 s) after every newer entry was acknowledged
    trims = heartbeat(b)["trims"]
    harness.wait_until(lambda: heartbeat(b)["trims"] >= trims + 2, timeout=15, what="two trim passes of b")
    assert resp(stack.redis.port, "XRANGE", STREAM, oldest, oldest), "the pending entry survived trimming"
    assert int(resp(stack.redis.port, "XLEN", STREAM)) >= 151
    release.set()
    # a's attempt returns 503 → retry → delivered by someone; then trimming frees the acked nodes
    harness.wait_until(lambda: len(receiver.delivered()) == 151, timeout=15, what="the held job delivered")
    harness.wait_until(lambda: int(resp(stack.redis.port, "XLEN", STREAM)) < 100, timeout=12,
                       what="acknowledged entries trimmed")
    for w in (a, b):
        stop_worker(w)


def test_worker_refuses_bad_configuration_and_usage(stack):
    env = dict(stack.env)
    del env["REDIS_URL"]
    p = harness.run(["worker"], env, timeout=30)
    assert p.returncode == 78 and "REDIS_URL" in p.stderr
    assert "redis://" not in p.stderr and "postgresql://" not in p.stderr, "no secret echoed"
    p = harness.run(["worker", "--bogus"], stack.env, timeout=30)
    assert p.returncode == 64
    p = harness.run(["worker", "--help"], stack.env, timeout=30)
    assert p.returncode == 0 and "heartbeat" in p.stdout
