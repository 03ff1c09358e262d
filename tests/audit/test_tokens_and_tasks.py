"""Audit findings 8, 9, 10, 11 and 15: tokens of deleted users, concurrent writes without
preconditions, ETag overflow, due dates at the edges, and JWT claims."""
import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import harness
from auditlib import account, bearer

SECRET = harness.base_env()["SECRET_KEY"].encode()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims, secret=SECRET, alg="HS256"):
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def claims_of(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_token_of_a_deleted_user_is_401_everywhere(pg, api):
    """Finding 8: the user row is gone (foreign key 23503 was a 500)."""
    user, token, _ = account(api)
    pg.psql(f"DELETE FROM users WHERE id = '{user}'", db=api.db_url.rsplit("/", 1)[-1])
    h = bearer(token)
    for method, path, body in [("POST", "/api/tasks", {"title": "x"}), ("GET", "/api/tasks", None),
                               ("POST", f"/api/{user}/tasks", {"title": "x"}),
                               ("POST", f"/api/{user}/webhooks", {"url": "https://93.184.216.34/h"}),
                               ("GET", f"/api/{user}/webhooks", None)]:
        r = requests.request(method, api.url(path), json=body, headers=h, timeout=10)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_concurrent_writes_without_if_match_never_412(api):
    """Finding 9: without If-Match there is no precondition to fail."""
    user, token, _ = account(api)
    s = requests.Session()
    s.headers.update(bearer(token))
    codes = []
    for _ in range(30):
        tid = s.post(api.url("/api/tasks"), json={"title": "t"}, timeout=10).json()["id"]
        calls = [("PUT", {"title": "u"}), ("DELETE", None), ("PATCH", None)] * 3

        def one(call):
            method, body = call
            path = f"/api/tasks/{tid}" + ("/complete" if method == "PATCH" else "")
            return requests.request(method, api.url(path), json=body, headers=bearer(token), timeout=10).status_code

        with ThreadPoolExecutor(9) as pool:
            codes += list(pool.map(one, calls))
    assert 412 not in codes, codes
    assert set(codes) <= {200, 204, 404}, codes


@pytest.mark.parametrize("header,value", [
    ("If-Match", '"18446744073709551615"'), ("If-Match", '"9223372036854775808"'),
    ("If-None-Match", '"18446744073709551619"'), ("If-Match", '"-1"'), ("If-Match", '"+1"'),
])
def test_etag_values_beyond_range_never_match(api, header, value):
    """Finding 10: an out-of-range version is a version no task has (412 / 200), never "no
    precondition" and never a wrapped number."""
    user, token, _ = account(api)
    h = bearer(token)
    t = requests.post(api.url("/api/tasks"), json={"title": "t"}, headers=h, timeout=10).json()
    for _ in range(2):
        requests.patch(api.url(f"/api/tasks/{t['id']}/complete"), headers=h, timeout=10)
    if header == "If-Match":
        r = requests.put(api.url(f"/api/tasks/{t['id']}"), json={"title": "x"}, headers={**h, header: value}, timeout=10)
        assert r.status_code == 412, r.text
    else:
        r = requests.get(api.url(f"/api/tasks/{t['id']}"), headers={**h, header: value}, timeout=10)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("due", [
    "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
])
def test_due_dates_outside_the_round_trip_range_are_422(api, due):
    """Finding 11: every stored due date comes back as the RFC 3339 instant it was."""
    _, token, _ = account(api)
    r = requests.post(api.url("/api/tasks"), json={"title": "t", "due_at": due}, headers=bearer(token), timeout=10)
    assert r.status_code == 422, r.text
    assert any(e.get("field") == "due_at" or e.get("name") == "due_at" or "due_at" in json.dumps(e)
               for e in r.json().get("errors", [])), r.text


@pytest.mark.parametrize("due,back", [
    ("0001-01-01T12:00:00Z", "0001-01-01T12:00:00.000000Z"),
    ("9999-12-31T11:59:59+00:00", "9999-12-31T11:59:59.000000Z"),
])
def test_due_dates_at_the_edges_round_trip(api, due, back):
    _, token, _ = account(api)
    h = bearer(token)
    r = requests.post(api.url("/api/tasks"), json={"title": "t", "due_at": due}, headers=h, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["due_at"] == back
    again = requests.put(api.url(f"/api/tasks/{r.json()['id']}"), json={"title": "t", "due_at": r.json()["due_at"]},
                         headers=h, timeout=10)
    assert again.status_code == 200 and again.json()["due_at"] == back, again.text


def test_own_tokens_carry_iss_and_aud(api):
    """Finding 15: Bollard's tokens name their issuer and audience."""
    _, token, _ = account(api)
    c = claims_of(token)
    assert c["iss"] == "bollard" and c["aud"] == "bollard", c


def test_jwt_claims_are_checked(api):
    """Finding 15: nbf in the future, a wrong iss/aud, an upper-case sub are all 401."""
    user, token, _ = account(api)
    base = claims_of(token)
    now = int(time.time())
    bad = [
        dict(base, nbf=now + 3600),
        dict(base, iss="someone-else"),
        dict(base, aud="someone-else"),
        {k: v for k, v in base.items() if k != "iss"},
        {k: v for k, v in base.items() if k != "aud"},
        dict(base, sub=user.upper()),
    ]
    for claims in bad:
        r = requests.get(api.url("/api/tasks"), headers=bearer(forge(claims)), timeout=10)
        assert r.status_code == 401, (claims, r.text)
    good = dict(base, nbf=now - 10)
    assert requests.get(api.url("/api/tasks"), headers=bearer(forge(good)), timeout=10).status_code == 200


@pytest.mark.parametrize("due,back", [
    ("2030-06-01T00:00:00.5-05:30", "2030-06-01T05:30:00.500000Z"),
    ("2030-06-01T00:00:00+23:59", "2030-05-31T00:01:00.000000Z"),  # RFC 3339 allows up to ±23:59
    ("2030-06-01T00:00:00-23:59", "2030-06-01T23:59:00.000000Z"),
    ("0001-01-01T20:00:00+14:00", "0001-01-01T06:00:00.000000Z"),
    ("9999-12-31T10:00:00-13:59", "9999-12-31T23:59:00.000000Z"),
    ("2030-01-01T00:00:00.9999996z", "2030-01-01T00:00:01.000000Z"),  # rounded as timestamptz does
    ("1969-12-31t23:59:59.123456789012Z", "1969-12-31T23:59:59.123457Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
])
def test_due_dates_come_back_as_the_same_instant_in_utc(api, due, back):
    """Findings 11 and 16: any RFC 3339 offset is accepted and the instant comes back in UTC."""
    _, token, _ = account(api)
    r = requests.post(api.url("/api/tasks"), json={"title": "t", "due_at": due}, headers=bearer(token), timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["due_at"] == back


@pytest.mark.parametrize("due", ["9999-12-31T23:59:59.9999996Z", "2030-06-01T00:00:00+24:00",
                                 "2030-06-01T00:00:00+05:60", "0001-01-01T00:00:00.000001+00:01"])
def test_due_dates_beyond_the_range_after_rounding_or_offset_are_422(api, due):
    _, token, _ = account(api)
    r = requests.post(api.url("/api/tasks"), json={"title": "t", "due_at": due}, headers=bearer(token), timeout=10)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "due_at", r.text
