"""Webhook endpoints per user: register (secret shown once), list, delete; SSRF targets refused."""
import socket

import pytest
import requests

import harness
from taskclient import signup


@pytest.fixture(scope="module")
def owner(api):
    client, _ = signup(api.url(""))
    return client


def test_register_list_delete(owner):
    r = owner.post(f"/api/{owner.user_id}/webhooks", {"url": "https://hooks.example.com/bollard?x=1",
                                                      "events": ["task.created", "task.completed"]})
    # hooks.example.com does not resolve here (no DNS on this machine): refused as unresolvable
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"
    r = owner.post(f"/api/{owner.user_id}/webhooks", {"url": "https://93.184.216.34/hook",
                                                      "events": ["task.created", "task.completed"]})
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == 49
    assert hook["events"] == ["task.created", "task.completed"]
    assert r.headers["location"].endswith(hook["id"])
    listed = owner.get(f"/api/{owner.user_id}/webhooks").json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]  # shown once only
    assert owner.delete(f"/api/{owner.user_id}/webhooks/{hook['id']}").status_code == 204
    assert owner.delete(f"/api/{owner.user_id}/webhooks/{hook['id']}").status_code == 404
    assert owner.get(f"/api/{owner.user_id}/webhooks").json()["items"] == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook", "http://[::ffff:127.0.0.1]/", "http://192.168.1.10/", "http://172.16.0.1/",
    "http://0.0.0.0/", "http://100.64.0.1/", "http://[fd00::1]/", "http://[fe80::1]/",
    "http://localhost:9000/hook",  # a name resolving to loopback
])
def test_private_targets_refused(owner, url):
    r = owner.post(f"/api/{owner.user_id}/webhooks", {"url": url})
    assert r.status_code == 422, (url, r.text)
    assert r.json()["errors"][0]["field"] == "url"


@pytest.mark.parametrize("body,field", [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "https://user:pw@93.184.216.34/x"}, "url"),
    ({"url": "https://93.184.216.34/x", "events": []}, "events"),
    ({"url": "https://93.184.216.34/x", "events": ["task.exploded"]}, "events"),
    ({"url": "https://93.184.216.34/x", "events": ["task.created", "task.created"]}, "events"),
    ({"url": "https://93.184.216.34/x", "extra": 1}, "extra"),
    ({}, "url"),
])
def test_invalid_registrations(owner, body, field):
    r = owner.post(f"/api/{owner.user_id}/webhooks", body)
    assert r.status_code == 422 and field in [e["field"] for e in r.json()["errors"]], r.text


def test_other_users_webhooks_are_forbidden(api, owner):
    other, _ = signup(api.url(""))
    assert other.get(f"/api/{owner.user_id}/webhooks").status_code == 403
    assert other.post(f"/api/{owner.user_id}/webhooks", {"url": "https://93.184.216.34/"}).status_code == 403
    assert requests.get(api.url(f"/api/{owner.user_id}/webhooks"), timeout=10).status_code == 401


def test_allow_private_lets_local_targets_through(pg, redis):
    url = pg.new_database("tasks_webhook_private")
    env = harness.base_env(pg, redis, DATABASE_URL=url, WEBHOOK_ALLOW_PRIVATE="true")
    assert harness.run(["migrate"], env, timeout=60).returncode == 0
    b = harness.Bollard.api(env)
    client, _ = signup(b.url(""))
    r = client.post(f"/api/{client.user_id}/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 201, r.text
    b.signal()
    assert b.wait(20) == 0
