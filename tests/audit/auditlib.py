"""Small clients for the audit tests."""
import socket
import uuid

import requests

import harness

PASSWORD = "correct horse battery"


def signup(api, email=None, password=PASSWORD, headers=None):
    email = email or f"audit-{uuid.uuid4().hex[:12]}@example.com"
    return requests.post(api.url("/api/auth/signup"), json={"email": email, "password": password},
                         headers=headers or {}, timeout=30), email


def account(api):
    r, email = signup(api)
    assert r.status_code == 201, r.text
    body = r.json()
    return body["user_id"], body["access_token"], email


def signin(api, email, password, headers=None):
    return requests.post(api.url("/api/auth/signin"), json={"email": email, "password": password},
                         headers=headers or {}, timeout=30)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def raw(port, data, timeout=3.0):
    """Sends bytes; returns (everything answered, whether the server closed the connection)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks, closed = [], False
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not c:
                closed = True
                break
            chunks.append(c)
        return b"".join(chunks), closed
    finally:
        s.close()


def statuses(resp):
    """Every HTTP status line's code in a raw response stream."""
    out = []
    for line in resp.split(b"\r\n"):
        if line.startswith(b"HTTP/1."):
            out.append(int(line.split(b" ", 2)[1]))
    return out


def start_api(pg, redis, name, **env_extra):
    url = pg.new_database("audit_" + name)
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", **env_extra)
    b = harness.Bollard.migrated_api(env)
    b.db_url = url
    return b


def stop_api(b):
    b.stop_clean()
