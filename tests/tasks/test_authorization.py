"""Authorization matrix: every task route x {no token, expired, wrong signature, alg none, other user's
token} gives the right status and leaks nothing about other users' tasks."""
import base64
import hashlib
import hmac
import json
import time

import pytest
import requests

from taskclient import signup


def b64(d):
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


def make_token(key, sub, exp_delta=3600, alg="HS256", sign=True):
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": sub, "exp": int(time.time()) + exp_delta}).encode())
    if not sign:
        return f"{header}.{payload}."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = b64(hmac.new(key.encode(), f"{header}.{payload}".encode(), digest).digest())
    return f"{header}.{payload}.{sig}"


ROUTES = [
    ("GET", "/api/{u}/tasks", None),
    ("POST", "/api/{u}/tasks", {"title": "x"}),
    ("GET", "/api/{u}/tasks/{t}", None),
    ("PUT", "/api/{u}/tasks/{t}", {"title": "x"}),
    ("DELETE", "/api/{u}/tasks/{t}", None),
    ("PATCH", "/api/{u}/tasks/{t}/complete", None),
    ("GET", "/api/tasks", None),
    ("POST", "/api/tasks", {"title": "x"}),
    ("GET", "/api/tasks/{t}", None),
    ("PUT", "/api/tasks/{t}", {"title": "x"}),
    ("DELETE", "/api/tasks/{t}", None),
    ("PATCH", "/api/tasks/{t}/complete", None),
]


@pytest.fixture(scope="module")
def world(api):
    base = api.url("")
    alice, _ = signup(base)
    bob, _ = signup(base)
    r = alice.post("/api/tasks", {"title": "alice's secret plan", "description": "TOP-SECRET-42"})
    assert r.status_code == 201
    return {"base": base, "alice": alice, "bob": bob, "task": r.json()["id"], "key": api.env["SECRET_KEY"]}


def call(base, method, path, body, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, base + path, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("method,template,body", ROUTES)
@pytest.mark.parametrize("variant", ["none", "expired", "wrong_signature", "alg_none", "alg_hs512", "garbage"])
def test_bad_tokens_are_401(world, method, template, body, variant):
    alice = world["alice"]
    token = {
        "none": None,
        "expired": make_token(world["key"], alice.user_id, exp_delta=-10),
        "wrong_signature": make_token("not-the-key-" + "x" * 40, alice.user_id),
        "alg_none": make_token(world["key"], alice.user_id, alg="none", sign=False),
        "alg_hs512": make_token(world["key"], alice.user_id, alg="HS512"),
        "garbage": "a.b.c",
    }[variant]
    path = template.format(u=alice.user_id, t=world["task"])
    r = call(world["base"], method, path, body, token)
    assert r.status_code == 401, (variant, r.status_code, r.text)
    assert r.headers["www-authenticate"] == "Bearer"
    assert "TOP-SECRET" not in r.text and "secret plan" not in r.text


@pytest.mark.parametrize("method,template,body", ROUTES)
def test_other_users_token(world, method, template, body):
    alice, bob = world["alice"], world["bob"]
    path = template.format(u=alice.user_id, t=world["task"])
    r = call(world["base"], method, path, body, bob.token)
    if "{u}" in template:
        assert r.status_code == 403, r.text  # another user's path
    elif "{t}" in template:
        assert r.status_code == 404, r.text  # does not reveal that alice's task exists
        missing = call(world["base"], method, template.format(u="", t="00000000-0000-4000-8000-000000000000"),
                       body, bob.token)
        assert missing.status_code == 404 and missing.json()["detail"] == r.json()["detail"]
    else:
        assert r.status_code in (200, 201)  # bob's own collection
    assert "TOP-SECRET" not in r.text and "secret plan" not in r.text
    # alice's task is untouched
    assert world["alice"].get(f"/api/tasks/{world['task']}").json()["title"] == "alice's secret plan"


def test_malformed_ids_are_404_and_bearer_scheme_required(world):
    alice = world["alice"]
    assert alice.get("/api/tasks/not-a-uuid").status_code == 404
    assert alice.get(f"/api/{alice.user_id}/tasks/1234").status_code == 404
    r = requests.get(world["base"] + "/api/tasks", headers={"Authorization": f"Basic {alice.token}"}, timeout=10)
    assert r.status_code == 401
    r = requests.get(world["base"] + "/api/tasks", headers={"Authorization": "Bearer " + "x" * 10000}, timeout=10)
    assert r.status_code == 401
