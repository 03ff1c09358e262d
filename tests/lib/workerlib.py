"""Helpers for the worker tests: a local webhook receiver, a per-test stack (PostgreSQL database, own
Redis, `bollard api`, users and endpoints) and `bollard worker` processes."""
import hashlib
import hmac
import json
import os
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

import harness

STREAM = "bollard:{webhooks}:jobs"
GROUP = "deliverers"
RETRY = "bollard:{webhooks}:retry"
DEAD = "bollard:{webhooks}:dead"


def resp(port, *args):
    """One Redis command over RESP2 (the tests need no client library); returns the parsed reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        sock.sendall(out)
        f = sock.makefile("rb")

        def parse():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                raise RuntimeError(rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data.decode("utf-8", "replace")
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [parse() for _ in range(n)]
            raise RuntimeError(f"unexpected reply {line!r}")
        return parse()


def verify_signature(secret, header, body):
    """X-Bollard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts.get("v1", "")) and abs(time.time() - int(parts["t"])) < 300


class Receiver:
    """HTTP receiver on 127.0.0.1. Each endpoint is a path /hook/<name>; `behaviour(name, req)`
    returns the status to answer (default 200) and may block. Every request is recorded."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # dicts: name, event_id, type, attempt, sig_ok, t, status, body
        self.secrets = {}
        self.behaviour = lambda name, req: 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                name = self.path.rsplit("/", 1)[-1]
                secret = receiver.secrets.get(name)
                req = {
                    "name": name, "t": time.monotonic(), "body": body,
                    "event_id": self.headers.get("X-Bollard-Event-Id"),
                    "type": self.headers.get("X-Bollard-Event-Type"),
                    "attempt": int(self.headers.get("X-Bollard-Delivery-Attempt", "0")),
                    "sig_ok": secret is not None and verify_signature(
                        secret, self.headers.get("X-Bollard-Signature", ""), body),
                    "status": None,
                }
                with receiver.lock:
                    receiver.requests.append(req)
                try:
                    status = receiver.behaviour(name, req)
                except Exception:  # a test's behaviour must never kill the server thread
                    status = 500
                req["status"] = status
                payload = b"{}"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    req["answered"] = True
                except OSError:
                    req["answered"] = False

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, name, host="127.0.0.1"):
        return f"http://{host}:{self.port}/hook/{name}"

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def delivered(self, name=None):
        """event ids answered 2xx (per endpoint name if given)."""
        return {r["event_id"] for r in self.snapshot()
                if (name is None or r["name"] == name) and r["status"] is not None and 200 <= r["status"] < 300
                and r.get("answered")}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Stack:
    """One test's world: its own database (migrated) and Redis, an API allowing private targets
    (the receiver is on loopback), and the workers it starts."""

    def __init__(self, pg, name, redis=None, **api_env):
        """redis: a harness.Redis of the caller's (kept running by stop()); default: one of its own."""
        self.pg = pg
        self.own_redis = redis is None
        self.redis = redis if redis is not None else harness.Redis()
        self.db_url = pg.new_database("worker_" + name)
        self.env = harness.base_env(pg, self.redis, DATABASE_URL=self.db_url, ACCESS_LOG="false",
                                    WEBHOOK_ALLOW_PRIVATE="true", **api_env)
        out = harness.run(["migrate"], self.env, timeout=60)
        assert out.returncode == 0, out.stderr
        self.api = harness.Bollard.api(self.env)
        self.workers = []
        self.tmp = tempfile.mkdtemp(prefix="bollard-worker-test-")

    def worker(self, name, **extra):
        w = start_worker(self.env, self.tmp, name, **extra)
        self.workers.append(w)
        return w

    def signup(self):
        r = requests.post(self.api.url("/api/auth/signup"),
                          json={"email": f"w-{os.urandom(6).hex()}@example.com", "password": "correct horse battery"},
                          timeout=30)
        assert r.status_code == 201, r.text
        body = r.json()
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {body['access_token']}"
        return body["user_id"], s

    def register(self, user, session, url, events=None):
        body = {"url": url}
        if events:
            body["events"] = events
        r = session.post(self.api.url(f"/api/{user}/webhooks"), json=body, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()

    def create_tasks(self, user, session, n, threads=8):
        def one(i):
            r = session.post(self.api.url(f"/api/{user}/tasks"), json={"title": f"task {i}"}, timeout=10)
            assert r.status_code == 201, r.text
            return r.json()["id"]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(n)))

    def outbox_events(self, *types):
        where = f"WHERE type IN ({','.join(repr(t) for t in types)})" if types else ""
        return set(self.pg.psql(f"SELECT event_id FROM outbox {where}", db=self.db_name).split())

    @property
    def db_name(self):
        return self.db_url.rsplit("/", 1)[-1]

    def sql(self, query):
        return self.pg.psql(query, db=self.db_name)

    def rcli(self, *args):
        return self.redis.cli(*args)

    def entries(self, key):
        """XRANGE key - + as a list of dicts (with "id")."""
        return [dict(zip(e[1][::2], e[1][1::2]), id=e[0]) for e in resp(self.redis.port, "XRANGE", key, "-", "+")]

    def pending(self):
        out = self.redis.cli("XPENDING", STREAM, GROUP)
        return int(out.split()[0]) if out else 0

    def stop(self):
        for w in self.workers:
            w.stop()
        self.api.signal(signal.SIGTERM)
        try:
            self.api.wait(20)
        finally:
            self.api.stop()
        if self.own_redis:
            self.redis.destroy()


def start_worker(env, tmp, name, **extra):
    """`bollard worker` as pod `name` on the configuration `env` (receivers on loopback allowed, 16
    deliveries at once, 10 s to stop), its heartbeat file in `tmp` (kept as `.heartbeat`); `extra`
    overrides any of it."""
    env = dict(env)
    env.update({"POD_NAME": name, "WEBHOOK_ALLOW_PRIVATE": "true", "WORKER_CONCURRENCY": "16",
                "WORKER_HEARTBEAT_FILE": os.path.join(tmp, name + ".heartbeat"),
                "SHUTDOWN_TIMEOUT_SECONDS": "10"})
    env.update({k: str(v) for k, v in extra.items()})
    w = harness.Bollard(["worker"], env)
    w.heartbeat = env["WORKER_HEARTBEAT_FILE"]
    return w


def heartbeat(worker):
    with open(worker.heartbeat) as f:
        return json.load(f)


def stop_worker(worker, timeout=20):
    """SIGTERM, expects exit 0 and a clean sanitizer report."""
    worker.signal(signal.SIGTERM)
    rc = worker.wait(timeout)
    assert rc == 0, (rc, worker.stderr()[-3000:])
    worker.assert_sanitizers_clean()
