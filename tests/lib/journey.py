"""The whole user journey over HTTP: accounts, tasks CRUD, pagination, filters, ETags. Collected by
tests/tasks/test_journey.py (PostgreSQL) and tests/dev/test_journey_sqlite.py (`bollard dev` on
SQLite), each with its own `api` and `user` fixtures; tests/conftest.py has pytest rewrite its asserts
as in a test file."""
import time

import requests

from taskclient import Client, signup


def test_signup_signin_and_token_shape(api):
    base = api.url("")
    client, email = signup(base)
    r = requests.post(base + "/api/auth/signin", json={"email": email.upper(), "password": "correct horse battery"},
                      timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["user_id"] == client.user_id
    assert body["expires_at"].endswith("Z") and body["access_token"].count(".") == 2
    assert r.headers["cache-control"] == "no-store"
    # same email again (case-insensitively): conflict
    r = requests.post(base + "/api/auth/signup", json={"email": email.upper(), "password": "another password"},
                      timeout=30)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    # wrong password and unknown account: the same 401
    for creds in ({"email": email, "password": "wrong password"},
                  {"email": "nobody-" + email, "password": "wrong password"}):
        r = requests.post(base + "/api/auth/signin", json=creds, timeout=30)
        assert r.status_code == 401 and r.json()["detail"] == "invalid email or password"


def test_task_crud_round_trip(user):
    r = user.post("/api/tasks", {"title": "Write tests", "description": "all of them",
                                 "due_at": "2030-01-31T12:00:00Z"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert set(task) == {"id", "title", "description", "completed", "due_at", "created_at", "updated_at"}
    assert task["title"] == "Write tests" and task["completed"] is False
    assert task["due_at"].startswith("2030-01-31T12:00:00")
    assert r.headers["location"] == f"/api/tasks/{task['id']}"
    etag = r.headers["etag"]

    r = user.get(f"/api/{user.user_id}/tasks/{task['id']}")
    assert r.status_code == 200 and r.json() == task and r.headers["etag"] == etag
    assert user.get(f"/api/tasks/{task['id']}", headers={"If-None-Match": etag}).status_code == 304

    r = user.put(f"/api/tasks/{task['id']}", {"title": "Write more tests", "completed": True},
                 headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["title"] == "Write more tests" and updated["completed"] is True and updated["due_at"] is None
    assert updated["description"] == "" and r.headers["etag"] != etag
    # the old ETag no longer matches
    r = user.put(f"/api/tasks/{task['id']}", {"title": "lost update"}, headers={"If-Match": etag})
    assert r.status_code == 412

    r = user.patch(f"/api/{user.user_id}/tasks/{task['id']}/complete")
    assert r.status_code == 200 and r.json()["completed"] is False
    etag2 = r.headers["etag"]
    assert user.delete(f"/api/tasks/{task['id']}", headers={"If-Match": etag}).status_code == 412
    assert user.delete(f"/api/tasks/{task['id']}", headers={"If-Match": etag2}).status_code == 204
    assert user.get(f"/api/tasks/{task['id']}").status_code == 404
    assert user.delete(f"/api/tasks/{task['id']}").status_code == 404


def test_pagination_and_filter(user):
    ids = []
    for i in range(25):
        r = user.post(f"/api/{user.user_id}/tasks", {"title": f"task {i}", "completed": i % 5 == 0})
        assert r.status_code == 201
        ids.append(r.json()["id"])
    seen, cursor, pages = [], None, 0
    while True:
        r = user.get("/api/tasks", params={"limit": 10, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [t["id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(reversed(ids))  # newest first, nothing twice, nothing lost
    done = user.get("/api/tasks", params={"completed": "true", "limit": 100}).json()["items"]
    assert len(done) == 5 and all(t["completed"] for t in done)
    open_ = user.get("/api/tasks", params={"completed": "false", "limit": 100}).json()["items"]
    assert len(open_) == 20
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"completed": "yes"}, {"cursor": "garbage"}):
        r = user.get("/api/tasks", params=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["field"] in bad


def test_validation_errors_are_422_with_fields(user):
    cases = [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "d" * 2001}, "description"),
        ({"title": "ok", "completed": "yes"}, "completed"),
        ({"title": "ok", "due_at": "tomorrow"}, "due_at"),
        ({"title": "ok", "due_at": "2030-02-30T00:00:00Z"}, "due_at"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": 5}, "title"),
    ]
    for body, field in cases:
        r = user.post("/api/tasks", body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], (body, r.json())
    # 200 characters of multi-byte text is fine: limits count characters, not bytes
    assert user.post("/api/tasks", {"title": "é" * 200}).status_code == 201


def test_body_problems(user, api):
    assert user.post("/api/tasks", data="not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert user.post("/api/tasks", data="[1,2]", headers={"Content-Type": "application/json"}).status_code == 400
    assert user.post("/api/tasks", data='{"title":"x"}', headers={"Content-Type": "text/plain"}).status_code == 415
    big = {"title": "x", "description": "y" * 70000}
    assert user.post("/api/tasks", big).status_code == 413


def test_expired_token_is_refused(api):
    # A token that expired a minute ago, signed with the right key: 401 "expired".
    import base64
    import hashlib
    import hmac
    import json

    def b64(d):
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

    client, _ = signup(api.url(""))
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"sub": client.user_id, "exp": int(time.time()) - 60}).encode())
    key = api.env["SECRET_KEY"].encode()
    sig = b64(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    r = Client(api.url(""), f"{header}.{payload}.{sig}").get("/api/tasks")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
