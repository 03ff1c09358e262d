"""A dead letter always has its webhook_failures row: when the insert fails, the job is held
(pending in Redis, not acknowledged) and the insert tried again until it lands — also across a
worker restart."""
import harness
from workerlib import DEAD, stop_worker


def rows(stack):
    return stack.sql("SELECT count(*) FROM webhook_failures")


def test_row_lands_once_the_table_is_back(stack, receiver):
    user, s = stack.signup()
    hook = stack.register(user, s, receiver.url("bad"), events=["task.created"])
    receiver.secrets["bad"] = hook["secret"]
    receiver.behaviour = lambda name, req: 400  # not retried: dead-lettered at the first attempt
    stack.sql("ALTER TABLE webhook_failures RENAME TO webhook_failures_away")
    w = stack.worker("holder")
    stack.create_tasks(user, s, 1)
    harness.wait_until(lambda: any(l["msg"].startswith("cannot record the failure") for l in w.log_lines()),
                       timeout=20, what="the insert failing")
    # held: not acknowledged, not in the dead stream yet
    assert stack.pending() == 1
    assert stack.rcli("XLEN", DEAD) == "0"
    stack.sql("ALTER TABLE webhook_failures_away RENAME TO webhook_failures")
    harness.wait_until(lambda: rows(stack) == "1", timeout=15, what="the row written")
    harness.wait_until(lambda: stack.pending() == 0 and stack.rcli("XLEN", DEAD) == "1", timeout=10,
                       what="then settled as a dead letter")
    assert stack.sql("SELECT endpoint_id FROM webhook_failures") == hook["id"]
    stop_worker(w)


def test_row_lands_after_a_worker_restart(stack, receiver):
    user, s = stack.signup()
    hook = stack.register(user, s, receiver.url("bad"), events=["task.created"])
    receiver.secrets["bad"] = hook["secret"]
    receiver.behaviour = lambda name, req: 400
    stack.sql("ALTER TABLE webhook_failures RENAME TO webhook_failures_away")
    w = stack.worker("restarted")
    stack.create_tasks(user, s, 1)
    (event,) = stack.outbox_events()
    harness.wait_until(lambda: any(l["msg"].startswith("cannot record the failure") for l in w.log_lines()),
                       timeout=20, what="the insert failing")
    # A graceful stop does not wait for the held job (it stays pending), and nothing is recorded.
    stop_worker(w)
    assert stack.pending() == 1 and stack.rcli("XLEN", DEAD) == "0"
    stack.sql("ALTER TABLE webhook_failures_away RENAME TO webhook_failures")
    assert rows(stack) == "0"
    w2 = stack.worker("restarted")  # same consumer: its pending entries are taken again at start
    harness.wait_until(lambda: rows(stack) == "1", timeout=20, what="the row written after the restart")
    harness.wait_until(lambda: stack.pending() == 0, timeout=10, what="settled")
    assert stack.sql("SELECT event_id FROM webhook_failures") == event
    stop_worker(w2)
