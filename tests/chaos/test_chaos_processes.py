"""kill -9 of the worker every few seconds, and of one of two API replicas, under steady load."""
import time

import harness
from chaoslib import check_pg_invariants, heartbeat, kill9, wait_ready


def test_worker_kill9_repeatedly(make_stack):
    """The worker is SIGKILLed four times while events flow, each time once it has delivered a
    batch of its own, and started again at once (as the kubelet restarts a container: the same
    POD_NAME, which resumes its own pending jobs; or as a Deployment replaces a pod: a new name,
    whose predecessor's jobs are reclaimed after the visibility timeout). API writes never notice;
    every event is delivered at least once, with a valid signature."""
    stack = make_stack()
    load = stack.load().start()
    w = stack.worker("w0")
    for i in range(4):
        base = len(stack.delivered())
        harness.wait_until(lambda: heartbeat(w)["pid"] == w.proc.pid and len(stack.delivered()) >= base + 25,
                           timeout=30, interval=0.05, what=f"worker incarnation {i} delivering")
        kill9(w)
        w = stack.worker("w0" if i % 2 == 0 else f"w{i + 1}")
    load.wait_acked(30, since=time.monotonic(), what="acknowledged writes after the last kill")
    load.stop()
    print("load:", load.summary())

    assert load.failures() == [], load.failures()[:3]
    check_pg_invariants(stack, load)
    assert w.proc.poll() is None
    assert stack.stop() == []


def test_api_kill9_one_of_two_replicas(make_stack):
    """Two API replicas behind a client that fails over (as a Service would). One is SIGKILLed:
    only requests that were in flight to it, or sent to it before the client noticed, fail (no
    answer at all, never a wrong one); the other replica carries the load; the killed one is
    started again and takes traffic. Nothing acknowledged is lost, every event is delivered."""
    stack = make_stack(apis=2)
    stack.worker()
    load = stack.load(failover=True).start()
    load.wait_acked(30, target=0)
    load.wait_acked(30, target=1)

    killed = time.monotonic()
    kill9(stack.apis[0])
    load.wait_acked(60, since=killed, what="writes acknowledged by the surviving replica")
    assert not stack.targets.up[0], "the clients noticed the dead replica"
    a = stack.restart_api(0)
    wait_ready(a)
    stack.targets.set_up(0)
    back = time.monotonic()
    load.wait_acked(30, since=back, target=0, what="writes acknowledged by the restarted replica")
    load.stop()
    print("load:", load.summary())

    failures = load.failures()
    assert all("error" in f and f["target"] == 0 and f["t0"] < back for f in failures), failures[:3]
    assert len(failures) <= 2 * load.n_threads, failures
    assert stack.apis[1].proc.poll() is None
    check_pg_invariants(stack, load)
    assert stack.stop() == []
