"""Redis restarted, and the worker's Redis connections killed, under steady load."""
import time

import harness
import workerlib
from chaoslib import (check_pg_invariants, heartbeat, redis_addrs_of, redis_restart_keeping_data, ready,
                      wait_ready)


def wait_delivering(stack, more, timeout=30, what="deliveries"):
    base = len(stack.delivered())
    harness.wait_until(lambda: len(stack.delivered()) >= base + more, timeout=timeout, interval=0.05,
                       what=f"{more} more {what}")


def test_redis_restart(make_stack):
    """Redis restarted with its data (SHUTDOWN SAVE, then a new server on the same port loads the
    dump, as a Redis with persistence does). Task writes never needed Redis: none fails. The API's
    readiness and the same worker process recover by themselves and every event is delivered."""
    stack = make_stack()
    api = stack.apis[0]
    w = stack.worker()
    load = stack.load().start()
    load.wait_acked(60)
    wait_delivering(stack, 30)

    redis_restart_keeping_data(stack.redis)
    back = time.monotonic()
    wait_ready(api, timeout=30)
    load.wait_acked(60, since=back, what="acknowledged writes after the restart")
    wait_delivering(stack, 30, what="deliveries after the restart")
    load.stop()
    print("load:", load.summary())

    assert load.failures() == [], load.failures()[:3]
    assert api.proc.poll() is None and w.proc.poll() is None, "nobody was restarted"
    harness.wait_until(lambda: heartbeat(w)["redis"] is True, timeout=10, what="the worker reconnected")
    assert heartbeat(w)["pid"] == w.proc.pid
    check_pg_invariants(stack, load)
    assert stack.stop() == []


def test_redis_client_kill_of_the_worker(make_stack):
    """CLIENT KILL of every connection of the worker process (found by its sockets' addresses),
    twice, then CLIENT KILL TYPE normal (the API's connections too). The same worker process
    reconnects and keeps delivering; no write fails; every event is delivered."""
    stack = make_stack()
    api = stack.apis[0]
    w = stack.worker()
    port = stack.redis.port
    load = stack.load().start()
    load.wait_acked(60)
    wait_delivering(stack, 30)

    for round in range(3):
        addrs = harness.wait_until(lambda: redis_addrs_of(w.proc.pid, port), timeout=10,
                                   what="the worker's Redis connections")
        if round < 2:
            killed = sum(workerlib.resp(port, "CLIENT", "KILL", "ADDR", a) for a in addrs)
            assert killed == len(addrs)
        else:
            assert workerlib.resp(port, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") >= len(addrs)
        print(f"kill {round + 1}: {len(addrs)} connections of the worker")
        harness.wait_until(lambda: redis_addrs_of(w.proc.pid, port) - addrs, timeout=15,
                           what="the worker reconnected")
        wait_delivering(stack, 20, what=f"deliveries after kill {round + 1}")
    wait_ready(api, timeout=30)
    load.stop()
    print("load:", load.summary())

    assert load.failures() == [], load.failures()[:3]
    assert api.proc.poll() is None and w.proc.poll() is None, "nobody was restarted"
    assert heartbeat(w)["pid"] == w.proc.pid
    assert ready(api)[0] == 200
    check_pg_invariants(stack, load)
    assert stack.stop() == []
