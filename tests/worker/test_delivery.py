"""`bollard worker`: outbox → Redis Stream → signed webhooks, with one and with several workers."""
import json
import subprocess
import time

import harness
from workerlib import DEAD, GROUP, RETRY, STREAM, heartbeat, stop_worker


def test_delivers_signed_events_and_beats(stack, receiver):
    user, s = stack.signup()
    hook = stack.register(user, s, receiver.url("a"))
    receiver.secrets["a"] = hook["secret"]
    other = stack.register(user, s, receiver.url("b"), events=["task.deleted"])
    receiver.secrets["b"] = other["secret"]
    w = stack.worker("solo")
    ids = stack.create_tasks(user, s, 3)
    assert s.put(stack.api.url(f"/api/{user}/tasks/{ids[0]}"), json={"title": "renamed"}, timeout=10).status_code == 200
    assert s.patch(stack.api.url(f"/api/{user}/tasks/{ids[1]}/complete"), timeout=10).status_code == 200
    assert s.delete(stack.api.url(f"/api/{user}/tasks/{ids[2]}"), timeout=10).status_code == 204
    events = stack.outbox_events()
    assert len(events) == 6
    harness.wait_until(lambda: receiver.delivered("a") == events, timeout=20, what="every event at endpoint a")
    deleted = stack.outbox_events("task.deleted")
    harness.wait_until(lambda: receiver.delivered("b") == deleted, timeout=10, what="task.deleted at endpoint b")
    reqs = receiver.snapshot()
    assert all(r["sig_ok"] for r in reqs), "every signature verifies with the endpoint's secret"
    assert {r["name"] for r in reqs if r["type"] != "task.deleted"} == {"a"}, "b subscribed to deletions only"
    by_type = {}
    for r in reqs:
        body = json.loads(r["body"])
        assert body["id"] == r["event_id"] and body["type"] == r["type"] and body["user_id"] == user
        by_type.setdefault(r["type"], []).append(body)
    assert sorted(by_type) == ["task.completed", "task.created", "task.deleted", "task.updated"]
    assert by_type["task.updated"][0]["data"]["title"] == "renamed"
    assert all(r["attempt"] == 1 for r in reqs)
    # every row marked published; nothing pending, nothing waiting for a retry
    assert stack.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0"
    harness.wait_until(lambda: stack.pending() == 0, timeout=5, what="no pending entries")
    assert stack.rcli("ZCARD", RETRY) == "0" and stack.rcli("XLEN", DEAD) == "0"
    # the relay's dedupe keys are removed once the outbox rows are committed as published
    assert stack.rcli("KEYS", "bollard:{webhooks}:published:*") == ""

    # Heartbeat: JSON status, rewritten continuously; the static probe accepts it.
    harness.wait_until(lambda: heartbeat(w)["delivered"] == 7, timeout=2, what="status counts 7 deliveries")
    first = heartbeat(w)
    assert first["consumer"] == "solo" and first["state"] == "running"
    assert {"last_loop", "in_flight", "processed", "failed"} <= set(first)
    harness.wait_until(lambda: heartbeat(w)["unix_ms"] > first["unix_ms"], timeout=2, what="a fresh heartbeat")
    probe = subprocess.run([harness.binary("probe"), "file", w.heartbeat, "--max-age", "2"], capture_output=True)
    assert probe.returncode == 0, probe.stderr
    assert not any(line.get("level") == "error" for line in w.log_lines())
    stop_worker(w)
    # no port: the worker never listens
    assert "listening" not in w.stdout()


def test_thousand_changes_three_workers(stack, receiver):
    """1,000 task changes, 3 workers: every event delivered at least once (no crash here, so
    exactly once), signatures verify, nothing lost, nothing left pending."""
    users = [stack.signup() for _ in range(4)]
    for i, (user, s) in enumerate(users):
        receiver.secrets[f"u{i}"] = stack.register(user, s, receiver.url(f"u{i}"))["secret"]
    workers = [stack.worker(f"w{i}", WORKER_CONCURRENCY=8) for i in range(3)]
    created = {}
    for i, (user, s) in enumerate(users):
        created[i] = stack.create_tasks(user, s, 150)  # 600 creations

    def touch(args):
        i, tid, op = args
        user, s = users[i]
        base = stack.api.url(f"/api/{user}/tasks/{tid}")
        r = (s.put(base, json={"title": "edited"}, timeout=10) if op == "put" else
             s.patch(base + "/complete", timeout=10) if op == "complete" else s.delete(base, timeout=10))
        assert r.status_code in (200, 204), r.text

    from concurrent.futures import ThreadPoolExecutor
    work = []
    for i in range(4):
        ids = created[i]
        work += [(i, t, "put") for t in ids[:50]] + [(i, t, "complete") for t in ids[50:80]] + \
                [(i, t, "delete") for t in ids[80:100]]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(touch, work))  # 400 more changes
    events = stack.outbox_events()
    assert len(events) == 1000
    harness.wait_until(lambda: receiver.delivered() >= events, timeout=90, interval=0.2,
                       what="all 1,000 events delivered")
    reqs = receiver.snapshot()
    assert all(r["sig_ok"] for r in reqs)
    ids = [r["event_id"] for r in reqs]
    assert len(ids) == len(set(ids)) == 1000, "no crash, so no duplicate deliveries"
    # each event went to its owner's endpoint only
    owner = dict(x.split("|") for x in stack.sql("SELECT event_id || '|' || user_id FROM outbox").split())
    names = {user: f"u{i}" for i, (user, _) in enumerate(users)}
    assert all(r["name"] == names[owner[r["event_id"]]] for r in reqs)
    harness.wait_until(lambda: stack.pending() == 0, timeout=10, what="nothing pending")
    # (the status files are rewritten at most every 100 ms: poll them)
    harness.wait_until(lambda: sum(heartbeat(w)["relayed_events"] for w in workers) == 1000, timeout=2,
                       what="each outbox row published by exactly one relay")
    harness.wait_until(lambda: sum(heartbeat(w)["delivered"] for w in workers) == 1000, timeout=2,
                       what="1,000 deliveries counted")
    # acknowledged entries are trimmed away (whole 100-entry nodes only, so a remainder may stay)
    harness.wait_until(lambda: int(stack.rcli("XLEN", STREAM)) < 200, timeout=10, what="stream trimmed")
    assert stack.rcli("XINFO", "GROUPS", STREAM).split()[1] == GROUP
    for w in workers:
        stop_worker(w)


def _cache_slot(endpoint_id):
    """pkg/worker/endpoints.c's slot_of: FNV-1a of the id text, modulo WORKER_ENDPOINT_SLOTS (512)."""
    h = 2166136261
    for c in endpoint_id.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h % 512


def test_endpoints_sharing_a_cache_slot_both_get_their_delivery(stack, receiver):
    """The worker's endpoint cache is direct-mapped: two endpoints of one batch whose ids share a slot
    must both be delivered to (the second once evicted the first, which then looked deleted)."""
    import uuid
    user, s = stack.signup()
    first = str(uuid.uuid4())
    second = next(i for i in (str(uuid.uuid4()) for _ in range(100000)) if _cache_slot(i) == _cache_slot(first))
    for name, endpoint_id in (("first", first), ("second", second)):
        secret = "whsec_" + uuid.uuid4().hex
        receiver.secrets[name] = secret
        stack.sql(f"INSERT INTO webhook_endpoints (id, user_id, url, events, secret) VALUES ('{endpoint_id}', "
                  f"'{user}', '{receiver.url(name)}', '{{task.created}}', '{secret}')")
    w = stack.worker("slots")
    stack.create_tasks(user, s, 1)
    event = stack.outbox_events()
    harness.wait_until(lambda: receiver.delivered("first") == event and receiver.delivered("second") == event,
                       timeout=15, what="the event at both endpoints")
    assert all(r["sig_ok"] for r in receiver.snapshot())
    assert "endpoint no longer exists" not in w.stdout()
    stop_worker(w)
