"""`bollard migrate` posts an alert to ALERT_WEBHOOK_URL when it fails (issue 18 item 9): one signed
POST naming the pod, the release and the reason, within a bounded time, and the exit code is the
migration's whatever the alert does. The receiver is tests/conftest.py's (workerlib.Receiver)."""
import json
import time

import harness
import mighelp as m

SECRET = "alert-signing-secret-for-tests-0123"
ALERT_BOUND_S = 5  # ALERT_MIGRATE_MAX_MS


def alert_env(db_url, url, **extra):
    """The receiver is on loopback: WEBHOOK_ALLOW_PRIVATE=true unless `extra` says otherwise."""
    settings = {"WEBHOOK_ALLOW_PRIVATE": "true", "ALERT_WEBHOOK_URL": url, "ALERT_WEBHOOK_SECRET": SECRET,
                "POD_NAME": "bollard-migrate-x7k2p", "RELEASE_NAME": "prod-eu", **extra}
    return m.env_for(db_url, **settings)


def assert_no_secret(r, url):
    for text in (r.stdout, r.stderr):
        assert url not in text and "/hook/" not in text
        assert SECRET not in text


def test_failed_migration_posts_one_signed_alert(fresh_db, receiver):
    receiver.secrets["alerts"] = SECRET
    url = receiver.url("alerts")
    r = m.run(["migrate"], alert_env(fresh_db, url), which="failing")
    m.assert_clean(r)
    assert r.returncode == m.EXIT_FAILED, r.stdout + r.stderr
    reqs = receiver.snapshot()
    assert len(reqs) == 1, reqs
    req = reqs[0]
    assert req["sig_ok"], "X-Bollard-Signature verifies with ALERT_WEBHOOK_SECRET"
    assert req["type"] == "bollard.alert" and req["attempt"] == 1
    body = json.loads(req["body"])
    fields = body["bollard"]
    assert fields["id"] == req["event_id"]
    assert fields["kind"] == "migrate_failed" and fields["role"] == "migrate"
    assert fields["pod"] == "bollard-migrate-x7k2p" and fields["release"] == "prod-eu"
    assert fields["exit_code"] == m.EXIT_FAILED
    assert "9001" in fields["reason"] and "rolled back" in fields["reason"], fields["reason"]
    # what a Slack incoming webhook shows
    assert body["text"].startswith("bollard migrate failed (exit 1)")
    assert "bollard-migrate-x7k2p" in body["text"] and "prod-eu" in body["text"]
    lines = m.log_lines(r.stdout)
    delivered = [line for line in lines if line["msg"] == "alert delivered"]
    assert len(delivered) == 1 and delivered[0]["alert_id"] == fields["id"]
    assert_no_secret(r, url)


def test_unreachable_or_slow_receiver_keeps_the_exit_code_and_the_bound(fresh_db, receiver):
    # Nobody listening: refused at once, tried again after 1 s; the 4 s pause after that would pass
    # the bound, so it gives up.
    down = f"http://127.0.0.1:{harness.free_port()}/hook/alerts"
    t0 = time.monotonic()
    r = m.run(["migrate"], alert_env(fresh_db, down), which="failing")
    elapsed = time.monotonic() - t0
    m.assert_clean(r)
    assert r.returncode == m.EXIT_FAILED, r.stdout + r.stderr
    failed = [line for line in m.log_lines(r.stdout) if line["msg"] == "alert not delivered"]
    assert len(failed) == 1 and failed[0]["attempts"] >= 1, r.stdout
    assert elapsed < ALERT_BOUND_S + 10, elapsed
    assert_no_secret(r, down)

    # A receiver that answers after 30 s: the alert is given up at the bound, the code stays.
    receiver.secrets["slow"] = SECRET
    receiver.behaviour = lambda name, req: (time.sleep(30), 200)[1]
    slow = receiver.url("slow")
    t0 = time.monotonic()
    r = m.run(["migrate"], alert_env(fresh_db, slow), which="failing")
    elapsed = time.monotonic() - t0
    m.assert_clean(r)
    assert r.returncode == m.EXIT_FAILED, r.stdout + r.stderr
    assert ALERT_BOUND_S - 0.5 <= elapsed < ALERT_BOUND_S + 10, elapsed
    assert len(receiver.snapshot()) == 1, "one attempt, cut at the bound"
    failed = [line for line in m.log_lines(r.stdout) if line["msg"] == "alert not delivered"]
    assert len(failed) == 1, r.stdout
    assert_no_secret(r, slow)


def test_unreachable_database_alert_carries_its_code_and_no_secret(receiver):
    """Another failure, the unreachable database's code (4): reported as it is, and the reason names
    no part of DATABASE_URL."""
    receiver.secrets["alerts"] = SECRET
    db_url = "postgresql://alertuser:db-password-XYZ@127.0.0.1:1/bollard"
    r = m.run(["migrate"], alert_env(db_url, receiver.url("alerts"), MIGRATE_CONNECT_TIMEOUT_SECONDS="1"))
    m.assert_clean(r)
    assert r.returncode == m.EXIT_UNREACHABLE, r.stdout + r.stderr
    (req,) = receiver.snapshot()
    assert req["sig_ok"]
    body = req["body"].decode()
    fields = json.loads(body)["bollard"]
    assert fields["exit_code"] == m.EXIT_UNREACHABLE and fields["reason"], fields
    assert "db-password-XYZ" not in body and "alertuser" not in body


def test_nothing_posted_without_a_url_or_on_success(fresh_db, receiver):
    r = m.run(["migrate"], m.env_for(fresh_db, WEBHOOK_ALLOW_PRIVATE="true"), which="failing")
    assert r.returncode == m.EXIT_FAILED
    assert not [msg for msg in m.messages(r.stdout) if msg.startswith("alert")]
    receiver.secrets["alerts"] = SECRET
    r = m.run(["migrate"], alert_env(fresh_db, receiver.url("alerts")))
    m.assert_clean(r)
    assert r.returncode == m.EXIT_OK, r.stdout + r.stderr
    assert receiver.snapshot() == []


def test_url_without_secret_is_a_configuration_error(fresh_db, receiver):
    url = receiver.url("alerts")
    env = alert_env(fresh_db, url)
    del env["ALERT_WEBHOOK_SECRET"]
    r = m.run(["migrate"], env, which="failing")
    assert r.returncode == m.EXIT_CONFIG, r.stdout + r.stderr
    assert "ALERT_WEBHOOK_SECRET" in r.stderr
    assert url not in r.stderr + r.stdout
    # A loopback literal without WEBHOOK_ALLOW_PRIVATE: refused at start too (the SSRF policy).
    env = alert_env(fresh_db, url, WEBHOOK_ALLOW_PRIVATE="false")
    r = m.run(["migrate"], env, which="failing")
    assert r.returncode == m.EXIT_CONFIG, r.stdout + r.stderr
    assert "ALERT_WEBHOOK_URL" in r.stderr and "WEBHOOK_ALLOW_PRIVATE" in r.stderr
    assert url not in r.stderr + r.stdout
    assert receiver.snapshot() == []
