"""Failing receivers (retries with growing delays, dead letters, 4xx) and the SSRF policy applied at
delivery time."""
import threading

import harness
from workerlib import DEAD, RETRY, stop_worker


def dead_letters(stack):
    return stack.entries(DEAD)


def failures(stack):
    rows = stack.sql("SELECT endpoint_id || '|' || attempts || '|' || coalesce(last_status::text, '') || '|' || "
                     "last_error FROM webhook_failures ORDER BY id")
    return [r.split("|", 3) for r in rows.splitlines() if r]


def test_retries_grow_then_recover_or_dead_letter(stack, receiver):
    user, s = stack.signup()
    hooks = {}
    for name in ("flaky", "down", "bad", "busy"):
        hooks[name] = stack.register(user, s, receiver.url(name), events=["task.created"])
        receiver.secrets[name] = hooks[name]["secret"]

    def behaviour(name, req):
        if name == "flaky":
            return 500 if req["attempt"] <= 2 else 200  # fails twice, then recovers
        if name == "down":
            return 503
        if name == "bad":
            return 400  # not retried
        if name == "busy":
            return 429 if req["attempt"] == 1 else 200  # 429 is retried
        return 200

    receiver.behaviour = behaviour
    w = stack.worker("retrier", WEBHOOK_MAX_ATTEMPTS=3)
    stack.create_tasks(user, s, 1)
    (event,) = stack.outbox_events()

    harness.wait_until(lambda: event in receiver.delivered("flaky"), timeout=30, what="flaky recovered")
    harness.wait_until(lambda: len(failures(stack)) == 2, timeout=30, what="two dead letters recorded")
    reqs = receiver.snapshot()
    flaky = sorted((r for r in reqs if r["name"] == "flaky"), key=lambda r: r["t"])
    assert [r["attempt"] for r in flaky] == [1, 2, 3]
    assert all(r["event_id"] == event and r["sig_ok"] for r in reqs)
    # documented delays: 1 s then 4 s, each ±20 %, plus up to one promotion tick (250 ms)
    gap1, gap2 = flaky[1]["t"] - flaky[0]["t"], flaky[2]["t"] - flaky[1]["t"]
    assert 0.75 <= gap1 <= 1.2 + 0.6, gap1
    assert 3.15 <= gap2 <= 4.8 + 0.6, gap2
    assert gap2 > gap1
    down = sorted((r for r in reqs if r["name"] == "down"), key=lambda r: r["t"])
    assert [r["attempt"] for r in down] == [1, 2, 3], "dead-lettered after WEBHOOK_MAX_ATTEMPTS"
    assert [r["attempt"] for r in reqs if r["name"] == "bad"] == [1], "a 400 is not retried"
    assert [r["attempt"] for r in reqs if r["name"] == "busy"] == [1, 2], "a 429 is retried"
    assert event in receiver.delivered("busy")

    rows = {r[0]: r for r in failures(stack)}
    assert set(rows) == {hooks["down"]["id"], hooks["bad"]["id"]}
    assert rows[hooks["down"]["id"]][1:3] == ["3", "503"]
    assert rows[hooks["bad"]["id"]][1:3] == ["1", "400"]
    dead = dead_letters(stack)
    assert sorted(d["endpoint_id"] for d in dead) == sorted([hooks["down"]["id"], hooks["bad"]["id"]])
    assert all(d["event_id"] == event and d["body"].startswith("{") for d in dead)
    assert stack.rcli("ZCARD", RETRY) == "0"
    harness.wait_until(lambda: stack.pending() == 0, timeout=5, what="nothing pending")
    stop_worker(w)


def test_private_targets_refused_at_delivery(stack, receiver):
    """Registered while the API allowed private targets; the worker does not allow them, so every
    delivery is refused after DNS resolution, before any connection, and dead-lettered at once."""
    user, s = stack.signup()
    port = receiver.port
    loopback = {
        "ipv4": receiver.url("ipv4"),
        "name": receiver.url("name", host="localhost"),  # a name resolving to loopback
        "ipv6": f"http://[::1]:{port}/hook/ipv6",
    }
    ids = {}
    for name, url in loopback.items():
        hook = stack.register(user, s, url, events=["task.created"])
        ids[hook["id"]] = name
        receiver.secrets[name] = hook["secret"]
    w = stack.worker("guarded", WEBHOOK_ALLOW_PRIVATE="false", WEBHOOK_MAX_ATTEMPTS=5)
    stack.create_tasks(user, s, 1)
    harness.wait_until(lambda: len(failures(stack)) == 3, timeout=20, what="three refusals recorded")
    for endpoint, attempts, status, error in failures(stack):
        assert endpoint in ids and attempts == "1" and status == "", "refused once, never retried, no HTTP status"
        assert "forbidden address" in error, error
    assert receiver.snapshot() == [], "nothing reached the receiver"

    # The same check guards any address, not just loopback: only now (with the guard shown to
    # work above, so no packet can leave) the private and metadata targets.
    remote = {"rfc1918": "http://10.0.0.1/hook", "metadata": "http://169.254.169.254/latest/meta-data"}
    for name, url in remote.items():
        hook = stack.register(user, s, url, events=["task.updated"])
        ids[hook["id"]] = name
    other = stack.sql("SELECT id FROM tasks").split()[0]
    r = s.put(stack.api.url(f"/api/{user}/tasks/{other}"), json={"title": "x"}, timeout=10)
    assert r.status_code == 200, r.text
    harness.wait_until(lambda: len(failures(stack)) == 5, timeout=20, what="five refusals recorded")
    refused = {ids[f[0]]: f for f in failures(stack)}
    assert set(refused) == {"ipv4", "name", "ipv6", "rfc1918", "metadata"}
    assert all(f[1] == "1" and "forbidden address" in f[3] for f in refused.values())
    assert len(dead_letters(stack)) == 5
    assert "Connection timed out" not in w.stdout() and "timed out" not in w.stdout()
    stop_worker(w)


def test_receiver_blocked_on_a_gate_does_not_block_others(stack, receiver):
    """Concurrency: one slow receiver holds its slots only; another endpoint keeps flowing."""
    user, s = stack.signup()
    gate = threading.Event()
    for name in ("slow", "fast"):
        receiver.secrets[name] = stack.register(user, s, receiver.url(name))["secret"]
    receiver.behaviour = lambda name, req: (gate.wait(20), 200)[1] if name == "slow" else 200
    w = stack.worker("mixed", WORKER_CONCURRENCY=8)
    stack.create_tasks(user, s, 3)
    events = stack.outbox_events()
    harness.wait_until(lambda: receiver.delivered("fast") == events, timeout=15, what="fast endpoint served")
    assert receiver.delivered("slow") == set()
    gate.set()
    harness.wait_until(lambda: receiver.delivered("slow") == events, timeout=15, what="slow endpoint served")
    stop_worker(w)
