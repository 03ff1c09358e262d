"""The relay with users who have no webhook (audit finding 1, critical): their events are marked
published without a job, mixed in every position of a batch, and never stop anyone else's
deliveries. /metrics shows the outbox backlog, so a relay that stops publishing is visible."""
import re

import harness
from workerlib import STREAM, stop_worker


def metric(stack, name):
    status, _, body = harness.get(stack.api.metrics_url())
    assert status == 200
    m = re.search(rf"^{name} (\S+)$", body.decode(), re.M)
    assert m is not None, f"{name} missing from /metrics"
    return float(m.group(1))


def not_publishing(worker):
    return [line for line in worker.log_lines() if line.get("msg") == "relay: not publishing"]


def test_user_without_webhooks_alone(stack):
    """The case users hit first: one user, no webhook, a few tasks. Nothing is queued, every row is
    published, the relay never reports a failure."""
    user, s = stack.signup()
    stack.create_tasks(user, s, 3)
    assert metric(stack, "bollard_outbox_unpublished") == 3
    w = stack.worker("lonely")
    harness.wait_until(lambda: stack.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0",
                       timeout=10, what="every outbox row published")
    assert stack.rcli("XLEN", STREAM) == "0", "no job for an event nobody listens to"
    assert not_publishing(w) == []
    assert metric(stack, "bollard_outbox_unpublished") == 0
    assert metric(stack, "bollard_outbox_oldest_unpublished_age_seconds") == 0
    stop_worker(w)


def test_unlistened_rows_in_every_batch_position(stack, receiver):
    """Rows without endpoints first, between and last in one batch, and more of them than a batch
    holds ahead of a listened one: every listened event is delivered, every row is published."""
    quiet, qs = stack.signup()
    loud, ls = stack.signup()
    receiver.secrets["loud"] = stack.register(loud, ls, receiver.url("loud"))["secret"]
    # A user whose only endpoint wants deletions: its creations match no endpoint either.
    picky, ps = stack.signup()
    receiver.secrets["picky"] = stack.register(picky, ps, receiver.url("picky"), events=["task.deleted"])["secret"]
    for who, session, n in [(quiet, qs, 2), (loud, ls, 1), (picky, ps, 2), (quiet, qs, 1), (loud, ls, 2),
                            (quiet, qs, 230), (loud, ls, 1), (picky, ps, 1)]:
        stack.create_tasks(who, session, n, threads=1)  # one at a time: ids in this order
    assert metric(stack, "bollard_outbox_unpublished") == 240
    harness.wait_until(lambda: metric(stack, "bollard_outbox_oldest_unpublished_age_seconds") > 0,
                       timeout=5, what="the backlog's age grows while no relay runs")

    w = stack.worker("mixed")
    loud_events = set(stack.sql(f"SELECT event_id FROM outbox WHERE user_id = '{loud}'").split())
    assert len(loud_events) == 4
    harness.wait_until(lambda: receiver.delivered("loud") == loud_events, timeout=20,
                       what="every event of the user with a webhook")
    harness.wait_until(lambda: stack.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0",
                       timeout=10, what="every row published")
    assert receiver.delivered("picky") == set(), "picky subscribed to deletions only"
    assert not_publishing(w) == [], not_publishing(w)
    assert metric(stack, "bollard_outbox_unpublished") == 0

    # Relaying goes on afterwards: a deletion reaches the picky endpoint, a new task the loud one.
    tid = stack.create_tasks(picky, ps, 1)[0]
    assert ps.delete(stack.api.url(f"/api/{picky}/tasks/{tid}"), timeout=10).status_code == 204
    stack.create_tasks(quiet, qs, 1)
    stack.create_tasks(loud, ls, 1)
    deleted = set(stack.sql(f"SELECT event_id FROM outbox WHERE user_id = '{picky}' AND type = 'task.deleted'").split())
    harness.wait_until(lambda: receiver.delivered("picky") == deleted, timeout=10, what="the deletion event")
    harness.wait_until(lambda: len(receiver.delivered("loud")) == 5, timeout=10, what="the later event")
    # Nothing was delivered twice (the dedupe keys were never left behind by a failed publish).
    loud_reqs = [r["event_id"] for r in receiver.snapshot() if r["name"] == "loud"]
    assert len(loud_reqs) == len(set(loud_reqs))
    stop_worker(w)
