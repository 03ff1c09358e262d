"""Property-style tests of request bodies: whatever arrives, the answer is 4xx (never 5xx), and the
process stays up with sanitizers clean (checked when the module's server stops)."""
import json
import random

import pytest
import requests

from taskclient import signup

HEADERS = {"Content-Type": "application/json"}


def payloads():
    rnd = random.Random(1234)
    yield b""
    yield b"{"
    yield b"null"
    yield b'"string"'
    yield b"[" * 100000 + b"]" * 100000                      # deep nesting
    yield b'{"a":' * 5000 + b"1" + b"}" * 5000
    yield b'{"title":"a","title":"b"}'                        # duplicate keys
    yield b'{"title":"\xff\xfe"}'                             # invalid UTF-8
    yield b'{"title":"\\ud800"}'                              # lone surrogate
    yield b'{"title":"a\\u0000b"}'                            # NUL inside a string
    yield b'{"title":' + b'"' + b"x" * 60000 + b'"}'         # huge string (under the body limit)
    yield b'{"title":1e999}'
    yield b'{"title":-0.0,"completed":null,"due_at":false}'
    yield b'{"title":{"nested":true}}'
    yield b'{"title":["a"]}'
    yield json.dumps({"title": "ok", "due_at": "9999-12-31T23:59:59+23:59"}).encode()
    yield json.dumps({"title": "ok", "due_at": "0000-01-01T00:00:00Z"}).encode()
    for _ in range(150):  # random mutations of a valid body
        base = bytearray(json.dumps({"title": "t", "description": "d", "completed": True,
                                     "due_at": "2030-01-01T00:00:00Z"}).encode())
        for _ in range(rnd.randint(1, 6)):
            i = rnd.randrange(len(base))
            op = rnd.random()
            if op < 0.4:
                base[i] = rnd.randrange(256)
            elif op < 0.7:
                del base[i]
            else:
                base.insert(i, rnd.randrange(256))
        yield bytes(base)


@pytest.fixture(scope="module")
def client(api):
    c, _ = signup(api.url(""))
    return c


def test_no_body_gives_5xx(client, api):
    r0 = client.post("/api/tasks", {"title": "seed"})
    task = r0.json()["id"]
    statuses = {}
    for i, body in enumerate(payloads()):
        for method, path in (("POST", "/api/tasks"), ("PUT", f"/api/tasks/{task}"),
                             ("POST", "/api/auth/signup"), ("POST", "/api/auth/signin")):
            headers = dict(HEADERS)
            if "auth" not in path:
                headers["Authorization"] = f"Bearer {client.token}"
            r = requests.request(method, api.url(path), data=body, headers=headers, timeout=30)
            assert r.status_code < 500, (method, path, body[:80], r.status_code, r.text[:200])
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    assert api.proc.poll() is None
    assert harness_alive(api)
    assert set(statuses) - {200, 201, 400, 401, 409, 413, 422} == set(), statuses


def harness_alive(api):
    return requests.get(api.url("/health/live"), timeout=5).status_code == 200
