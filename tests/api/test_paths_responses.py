"""Paths and responses (issue 19 item 5) on PostgreSQL: a user segment that is not a UUID is not a
user's path (404), an oversized body gets a problem document with the request id, and a 412
carries the task's current ETag."""
import socket
import uuid

import pytest

import harness
from taskclient import signup

MAX_BODY = 4096


@pytest.fixture(scope="module")
def api(pg, redis):
    url = pg.new_database("paths_responses")
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", MAX_BODY_BYTES=MAX_BODY)
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    b = harness.Bollard.api(env)
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 200, timeout=15, what="ready")
    yield b
    b.signal()
    assert b.wait(20) == 0
    b.assert_sanitizers_clean()


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/" + str(uuid.uuid4()), "/api/me/webhooks",
                                  "/api/12345/tasks"])
def test_a_segment_that_is_not_a_uuid_is_not_a_user_path(user, path):
    r = user.get(path)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    anonymous = harness.get(user.base + path)
    assert anonymous[0] == 404  # before the token: a path that does not exist, for anyone


def test_another_users_uuid_is_still_forbidden(user):
    other = str(uuid.uuid4())
    assert user.get(f"/api/{other}/tasks").status_code == 403
    assert user.get(f"/api/{other}/webhooks").status_code == 403
    assert user.get(f"/api/{user.user_id}/tasks").status_code == 200


def test_body_over_max_body_bytes_is_a_problem_with_the_request_id(user):
    r = user.post("/api/tasks", {"title": "x", "description": "y" * MAX_BODY},
                  headers={"X-Request-Id": "big-body-1"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "big-body-1"
    assert r.json()["status"] == 413 and "MAX_BODY_BYTES" in r.json()["detail"]
    # the connection stays usable
    assert user.get("/api/tasks").status_code == 200


def test_only_a_body_past_four_times_the_limit_is_refused_by_h2o(api):
    """The documented exception: h2o itself answers before reading, as text/plain, no request id."""
    body_len = 4 * MAX_BODY + 1
    s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    s.sendall(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nX-Request-Id: huge-1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % body_len)
    head = s.recv(4096).decode("latin-1").lower()
    s.close()
    assert head.startswith("http/1.1 413"), head
    assert "content-type: text/plain" in head and "x-request-id" not in head


def test_412_carries_the_current_etag(user):
    r = user.post("/api/tasks", {"title": "versioned"})
    assert r.status_code == 201
    task, etag = r.json(), r.headers["etag"]
    r = user.put(f"/api/tasks/{task['id']}", {"title": "moved on"}, headers={"If-Match": etag})
    assert r.status_code == 200
    current = r.headers["etag"]
    assert current != etag
    for call in (lambda: user.put(f"/api/tasks/{task['id']}", {"title": "stale"}, headers={"If-Match": etag}),
                 lambda: user.patch(f"/api/tasks/{task['id']}/complete", headers={"If-Match": etag}),
                 lambda: user.delete(f"/api/tasks/{task['id']}", headers={"If-Match": etag})):
        r = call()
        assert r.status_code == 412, r.text
        assert r.headers.get("etag") == current, r.headers
    # a missing task: 404, no ETag
    r = user.put(f"/api/tasks/{uuid.uuid4()}", {"title": "x"}, headers={"If-Match": etag})
    assert r.status_code == 404 and "etag" not in r.headers
