"""The worker's dead-letter alerts to ALERT_WEBHOOK_URL (issue 18 item 9): at most one per
ALERT_MIN_INTERVAL_SECONDS with the count since the last one, signed like a task webhook, retried,
under the webhook SSRF policy, and never in the way of the deliveries."""
import json

import harness
from workerlib import stop_worker

SECRET = "alert-signing-secret-for-tests-0123"
INTERVAL_S = 4


def alerts(receiver):
    return sorted((r for r in receiver.snapshot() if r["name"] == "alerts"), key=lambda r: r["t"])


def answered(receiver):
    """The alerts answered 200, in order."""
    return [r for r in alerts(receiver) if r["status"] == 200]


def counted(receiver):
    return sum(json.loads(r["body"])["bollard"]["count"] for r in answered(receiver))


def test_dead_letters_alert_once_per_interval_with_a_count(stack, receiver):
    user, s = stack.signup()
    receiver.secrets["bad"] = stack.register(user, s, receiver.url("bad"), events=["task.created"])["secret"]
    receiver.secrets["good"] = stack.register(user, s, receiver.url("good"), events=["task.created"])["secret"]
    receiver.secrets["alerts"] = SECRET

    def behaviour(name, req):
        if name == "bad":
            return 400  # dead at once
        if name == "alerts" and len(alerts(receiver)) == 1:
            return 503  # the first alert's first attempt: tried again
        return 200

    receiver.behaviour = behaviour
    url = receiver.url("alerts")
    w = stack.worker("alerting", ALERT_WEBHOOK_URL=url, ALERT_WEBHOOK_SECRET=SECRET,
                     ALERT_MIN_INTERVAL_SECONDS=INTERVAL_S, RELEASE_NAME="prod-eu")
    stack.create_tasks(user, s, 1)
    harness.wait_until(lambda: len(answered(receiver)) == 1, timeout=20, what="the first alert")
    first_try, first = alerts(receiver)[:2]
    assert (first_try["attempt"], first["attempt"]) == (1, 2)
    assert first_try["event_id"] == first["event_id"], "a retry is the same alert"
    assert 0.7 <= first["t"] - first_try["t"] <= 2.0, "tried again after about 1 s"

    # Four more within the interval: summed into the next alert, sent once the interval is over.
    stack.create_tasks(user, s, 4)
    events = stack.outbox_events()
    harness.wait_until(lambda: receiver.delivered("good") == events, timeout=20,
                       what="deliveries flow while alerts wait")
    harness.wait_until(lambda: counted(receiver) == 5, timeout=INTERVAL_S + 15, what="the second alert")
    sent = answered(receiver)
    assert len(sent) == 2, [json.loads(r["body"]) for r in sent]
    first_attempt_of_second = [r for r in alerts(receiver) if r["event_id"] == sent[1]["event_id"]][0]
    assert first_attempt_of_second["t"] - first_try["t"] >= INTERVAL_S - 0.3, "one alert per interval"

    bodies = [json.loads(r["body"]) for r in sent]
    assert [b["bollard"]["count"] for b in bodies] == [1, 4]
    for r, b in zip(sent, bodies):
        assert r["sig_ok"], "signed with ALERT_WEBHOOK_SECRET"
        assert r["type"] == "bollard.alert" and r["event_id"] == b["bollard"]["id"]
        f = b["bollard"]
        assert f["kind"] == "dead_letters" and f["role"] == "worker"
        assert f["pod"] == "alerting" and f["release"] == "prod-eu"
        assert f["reason"] == "HTTP 400", f
        assert "dead-lettered" in b["text"] and "alerting" in b["text"] and "prod-eu" in b["text"]
    assert sent[0]["event_id"] != sent[1]["event_id"]

    # Nothing more without new dead letters.
    harness.wait_until(lambda: sum(1 for line in w.log_lines() if line["msg"] == "alert delivered") == 2,
                       timeout=5, what="both alerts logged")
    stop_worker(w)
    assert len(answered(receiver)) == 2
    for text in (w.stdout(), w.stderr()):
        assert url not in text and SECRET not in text


def test_loopback_alerts_only_with_the_allow_setting(stack, receiver):
    receiver.secrets["alerts"] = SECRET
    # A loopback literal is refused at start without WEBHOOK_ALLOW_PRIVATE: exit 78, URL not shown.
    literal = receiver.url("alerts")
    w = stack.worker("refused", WEBHOOK_ALLOW_PRIVATE="false", ALERT_WEBHOOK_URL=literal,
                     ALERT_WEBHOOK_SECRET=SECRET)
    assert w.wait(20) == 78
    assert "ALERT_WEBHOOK_URL" in w.stderr() and "WEBHOOK_ALLOW_PRIVATE" in w.stderr()
    assert literal not in w.stderr() + w.stdout()

    # A name that resolves to loopback is refused when it is connected to, as a delivery would be.
    user, s = stack.signup()
    stack.register(user, s, receiver.url("target"), events=["task.created"])
    by_name = receiver.url("alerts", host="localhost")
    w = stack.worker("guarded", WEBHOOK_ALLOW_PRIVATE="false", ALERT_WEBHOOK_URL=by_name,
                     ALERT_WEBHOOK_SECRET=SECRET, ALERT_MIN_INTERVAL_SECONDS=1)
    stack.create_tasks(user, s, 1)

    def refused():
        return [line for line in w.log_lines() if line["msg"] == "alert not delivered"]

    harness.wait_until(lambda: refused(), timeout=20, what="the alert refused")
    (line,) = refused()
    assert "forbidden address" in line["error"] and line["attempts"] == 1, line
    assert receiver.snapshot() == [], "neither the delivery nor the alert reached loopback"
    stop_worker(w)
    assert by_name not in w.stdout() + w.stderr()


def test_no_url_no_alerts(stack, receiver):
    user, s = stack.signup()
    receiver.secrets["bad"] = stack.register(user, s, receiver.url("bad"), events=["task.created"])["secret"]
    receiver.behaviour = lambda name, req: 400
    w = stack.worker("quiet")
    stack.create_tasks(user, s, 2)
    harness.wait_until(lambda: stack.sql("SELECT count(*) FROM webhook_failures") == "2", timeout=20,
                       what="two dead letters")
    stop_worker(w)
    assert {r["name"] for r in receiver.snapshot()} == {"bad"}
    started = [line for line in w.log_lines() if line["msg"] == "worker starting"][0]
    assert started["alerts"] is False
    assert not [line for line in w.log_lines() if line["msg"].startswith("alert")]
