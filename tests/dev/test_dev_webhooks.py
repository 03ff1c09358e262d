"""`bollard dev` delivers task events to webhooks in process, off the SQLite outbox, without Redis
(issue 5.5): the worker's envelope, signature, retry and dead-letter rules, and at least once across
a restart."""
import json
import sqlite3

import pytest

import harness
from devlib import dev_env, start_dev, stop, wait_ready
from taskclient import signup

TYPES = ["task.created", "task.updated", "task.completed", "task.deleted"]


def start(db, **extra):
    settings = {"WEBHOOK_ALLOW_PRIVATE": "true", "ACCESS_LOG": "false"}
    settings.update({k: str(v) for k, v in extra.items()})
    b = start_dev(dev_env(db, **settings))
    wait_ready(b)
    return b


def register(client, receiver, name, events=None):
    body = {"url": receiver.url(name)}
    if events:
        body["events"] = events
    r = client.post(f"/api/{client.user_id}/webhooks", body)
    assert r.status_code == 201, r.text
    receiver.secrets[name] = r.json()["secret"]
    return r.json()


def outbox(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT event_id, type, published_at FROM outbox ORDER BY id").fetchall()


def failures(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT event_id, endpoint_id, attempts, last_status FROM webhook_failures").fetchall()


def test_every_task_change_is_delivered_signed_to_matching_endpoints(tmp_path, receiver):
    db = tmp_path / "bollard.db"
    b = start(db)
    client, _ = signup(b.url(""))
    other, _ = signup(b.url(""))
    all_events = register(client, receiver, "all")
    register(client, receiver, "completed", ["task.completed"])
    register(other, receiver, "other")  # another user's endpoint: never sees this user's events

    task = client.post("/api/tasks", {"title": "ship it"}).json()
    r = client.put(f"/api/tasks/{task['id']}", {"title": "ship it today"})
    assert r.status_code == 200, r.text
    assert client.patch(f"/api/tasks/{task['id']}/complete").status_code == 200
    assert client.delete(f"/api/tasks/{task['id']}").status_code == 204

    events = outbox(db)
    assert [t for _, t, _ in events] == TYPES
    ids = {e for e, _, _ in events}
    harness.wait_until(lambda: receiver.delivered("all") == ids and len(receiver.delivered("completed")) == 1,
                       timeout=15, what="every event at the endpoints listening for it")
    # Settled rows are stamped, as the worker's relay stamps published ones.
    harness.wait_until(lambda: all(p is not None for _, _, p in outbox(db)), timeout=10, what="published_at")

    got = receiver.snapshot()
    assert not [r for r in got if r["name"] == "other"]
    assert all(r["sig_ok"] and r["attempt"] == 1 for r in got)
    completed = [r for r in got if r["name"] == "completed"]
    assert [r["type"] for r in completed] == ["task.completed"]
    by_type = {r["type"]: json.loads(r["body"]) for r in got if r["name"] == "all"}
    assert set(by_type) == set(TYPES)
    created = by_type["task.created"]
    assert created["type"] == "task.created" and created["task_id"] == task["id"]
    assert created["user_id"] == client.user_id and created["data"]["title"] == "ship it"
    assert created["id"] in ids and created["created_at"].endswith("Z")
    assert by_type["task.updated"]["data"]["title"] == "ship it today"
    assert all_events["id"] and not failures(db)
    assert stop(b) == 0
    assert "dev webhook delivery stopped" in b.stdout()


def test_failing_receiver_is_retried_then_dead_lettered(tmp_path, receiver):
    db = tmp_path / "bollard.db"
    b = start(db, WEBHOOK_MAX_ATTEMPTS=3)
    client, _ = signup(b.url(""))
    flaky = register(client, receiver, "flaky", ["task.created"])
    broken = register(client, receiver, "broken", ["task.created"])
    refusing = register(client, receiver, "refusing", ["task.created"])
    seen = {"flaky": 0}

    def behaviour(name, req):
        if name == "flaky":
            seen["flaky"] += 1
            return 500 if seen["flaky"] < 3 else 200  # recovers on the third attempt
        return 503 if name == "broken" else 400  # 400: permanent, never retried

    receiver.behaviour = behaviour
    assert client.post("/api/tasks", {"title": "hello"}).status_code == 201
    harness.wait_until(lambda: len(failures(db)) == 2 and receiver.delivered("flaky"), timeout=30,
                       what="flaky delivered, broken and refusing dead-lettered")
    got = receiver.snapshot()
    flaky_attempts = [r for r in got if r["name"] == "flaky"]
    assert [r["attempt"] for r in flaky_attempts] == [1, 2, 3]
    gaps = [b_["t"] - a["t"] for a, b_ in zip(flaky_attempts, flaky_attempts[1:])]
    # 1 s then 4 s, each ±20 % (delivery_backoff_ms): growing delays.
    assert 0.75 <= gaps[0] < 2.0 and 3.0 <= gaps[1] < 6.0, gaps
    assert [r["attempt"] for r in got if r["name"] == "broken"] == [1, 2, 3]
    assert [r["attempt"] for r in got if r["name"] == "refusing"] == [1]
    dead = {endpoint: (attempts, status) for _, endpoint, attempts, status in failures(db)}
    assert dead == {broken["id"]: (3, 503), refusing["id"]: (1, 400)}
    harness.wait_until(lambda: outbox(db)[0][2] is not None, timeout=10, what="the row settled")
    assert flaky["id"] not in dead
    assert stop(b) == 0


def test_undelivered_events_survive_a_restart(tmp_path, receiver):
    """Receiver down (retries waiting in memory) when the process stops: the rows stay unpublished and
    the next start delivers them — nothing lost, duplicates only across the stop."""
    db = tmp_path / "bollard.db"
    b = start(db)
    client, _ = signup(b.url(""))
    register(client, receiver, "hook", ["task.created"])
    receiver.behaviour = lambda name, req: 503
    for i in range(5):
        assert client.post("/api/tasks", {"title": f"t{i}"}).status_code == 201
    harness.wait_until(lambda: len({r["event_id"] for r in receiver.snapshot()}) == 5, timeout=15,
                       what="a first attempt of each event")
    assert stop(b) == 0
    assert all(p is None for _, _, p in outbox(db)), "unsettled rows stay unpublished"

    receiver.behaviour = lambda name, req: 200
    b = start(db)
    ids = {e for e, _, _ in outbox(db)}
    harness.wait_until(lambda: receiver.delivered("hook") == ids, timeout=15, what="delivered after the restart")
    harness.wait_until(lambda: all(p is not None for _, _, p in outbox(db)), timeout=10, what="published_at")
    assert stop(b) == 0


def test_private_targets_refused_unless_allowed(tmp_path, receiver):
    b = start_dev(dev_env(tmp_path / "bollard.db", ACCESS_LOG="false"))
    wait_ready(b)
    client, _ = signup(b.url(""))
    r = client.post(f"/api/{client.user_id}/webhooks", {"url": receiver.url("x")})
    assert r.status_code == 422, r.text
    assert stop(b) == 0
