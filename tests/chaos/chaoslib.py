"""Chaos helpers: a bounded load generator with client-side failover, a per-test stack (database,
Redis, API replicas, workers, a webhook receiver) and the invariants every scenario checks afterwards.

Everything runs on loopback against real processes; nothing here knows Bollard's internals beyond
its HTTP API, its tables and the worker's heartbeat file.
"""
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

import requests

import harness
import workerlib

PASSWORD = "correct horse battery"


# ---- PostgreSQL whose acknowledged commits survive a crash of the server (not of the machine)


class CrashSafePostgres(harness.Postgres):
    """harness.Postgres with synchronous_commit on: an acknowledged commit is in the kernel before
    the client hears of it, so even `pg_ctl stop -m immediate` (a crash) keeps it. fsync stays off:
    the machine does not crash here, only the server."""

    def start(self):
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=on -c full_page_writes=off -c max_connections=200")
        subprocess.run(harness._as_postgres([f"{harness.PG_BIN}/pg_ctl", "-D", self.data, "-o", opts, "-l",
                                             os.path.join(self.dir, "log"), "-w", "-t", "30", "start"]),
                       check=True, stdout=subprocess.DEVNULL)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def pids(self):
        """The postmaster and every process it forked (backends, checkpointer, walwriter, …)."""
        root = self.postmaster_pid()
        if root is None:
            return []
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                children.append(int(entry))
        return [root] + children

    def freeze(self):
        """SIGSTOP the whole server: connections stay open and connects are queued by the kernel,
        but nothing answers (a hung or partitioned database, not a refused one)."""
        root = self.postmaster_pid()
        os.kill(root, signal.SIGSTOP)  # first, so that it forks nothing new meanwhile
        for pid in self.pids()[1:]:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        self.frozen = True

    def thaw(self):
        for pid in reversed(self.pids()):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = False

    def running(self):
        return self.postmaster_pid() is not None and harness.port_open(self.port)


# ---- Redis


def redis_clients(port):
    """CLIENT LIST as dicts."""
    out = workerlib.resp(port, "CLIENT", "LIST")
    return [dict(kv.split("=", 1) for kv in line.split() if "=" in kv) for line in out.splitlines() if line]


def local_tcp_ports(pid, remote_port):
    """Local ports of the process's IPv4 TCP connections to 127.0.0.1:remote_port (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    with open(f"/proc/{pid}/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
            if inode in inodes and int(remote.split(":")[1], 16) == remote_port and state == "01":
                ports.add(int(local.split(":")[1], 16))
    return ports


def redis_addrs_of(pid, redis_port):
    """Redis's client addresses that belong to the process `pid`."""
    ports = local_tcp_ports(pid, redis_port)
    return {c["addr"] for c in redis_clients(redis_port) if int(c["addr"].rsplit(":", 1)[1]) in ports}


def redis_restart_keeping_data(redis):
    """What a Redis with persistence does on a restart: SHUTDOWN SAVE writes the dataset to the
    dump file in its --dir, and the new server on the same port loads it."""
    proc = redis.proc
    try:
        workerlib.resp(redis.port, "SHUTDOWN", "SAVE")
    except (OSError, RuntimeError):
        pass  # the connection closes as the server exits
    proc.wait(15)
    redis.proc = None
    assert os.path.exists(os.path.join(redis.dir, "dump.rdb")), "SHUTDOWN SAVE wrote no dump"
    redis.start()


# ---- load


class Targets:
    """The replicas a client may use, as a Service's endpoints: round robin over those marked up.
    A connection failure takes a replica out (the client fails over); the test puts it back."""

    def __init__(self, urls):
        self.lock = threading.Lock()
        self.urls = list(urls)
        self.up = [True] * len(self.urls)
        self.next = 0

    def pick(self):
        with self.lock:
            for _ in range(len(self.urls)):
                i = self.next % len(self.urls)
                self.next += 1
                if self.up[i]:
                    return i, self.urls[i]
            return None, None

    def set_up(self, i, up=True):
        with self.lock:
            self.up[i] = up

    def any_up(self):
        with self.lock:
            i = next((i for i, u in enumerate(self.up) if u), None)
            return None if i is None else self.urls[i]


class Load:
    """`threads` clients, each creating tasks (unique titles) and updating its own acknowledged
    ones (description "v<n>", n increasing), paced to at most `rate` requests per second per
    thread, until stopped, `max_ops` requests per thread, or `max_seconds`.

    Only acknowledged writes count: a request that failed or timed out may or may not have
    committed, so it is never retried (a retry could create a legitimate duplicate)."""

    def __init__(self, targets, token, tag, threads=3, rate=25, max_ops=2500, max_seconds=90,
                 failover=False, timeout=10, description_len=200):
        self.targets, self.token, self.tag = targets, token, tag
        self.n_threads, self.interval, self.max_ops = threads, 1.0 / rate, max_ops
        self.max_seconds, self.failover, self.timeout = max_seconds, failover, timeout
        self.description_len = description_len
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.created = {}  # id -> title (acknowledged creates)
        self.created_ids = []  # every id a 2xx create returned (duplicates would show here)
        self.versions = {}  # id -> highest acknowledged description version
        self.results = []  # dicts: t0, t1, op, target, status (int) or error (str), ctype, retry_after
        self.threads = []

    # -- running
    def start(self):
        self.started = time.monotonic()
        for k in range(self.n_threads):
            t = threading.Thread(target=self._run, args=(k,), daemon=True, name=f"load-{k}")
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(self.timeout + 5)
            assert not t.is_alive(), "a load thread did not finish"
        return self

    def _session(self, sessions, i):
        if i not in sessions:
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {self.token}"
            sessions[i] = s
        return sessions[i]

    def _run(self, k):
        rnd = random.Random(k)
        sessions = {}
        mine = []  # this thread's acknowledged task ids
        version = {}
        deadline = self.started + self.max_seconds
        for seq in range(self.max_ops):
            if self.stop_event.is_set() or time.monotonic() > deadline:
                break
            t0 = time.monotonic()
            i, base = self.targets.pick()
            if base is None:
                self.stop_event.wait(0.05)
                continue
            s = self._session(sessions, i)
            if mine and seq % 3 == 2:
                op, tid = "update", rnd.choice(mine)
                v = version[tid] + 1
                title = self.created_title(tid)
                call = lambda: s.put(f"{base}/api/tasks/{tid}", timeout=self.timeout,  # noqa: E731
                                     json={"title": title, "description": f"v{v} " + "d" * self.description_len})
            else:
                op, tid, v = "create", None, 1
                title = f"{self.tag}-{k}-{seq}"
                call = lambda: s.post(f"{base}/api/tasks", timeout=self.timeout,  # noqa: E731
                                      json={"title": title, "description": "v1 " + "d" * self.description_len})
            rec = {"t0": t0, "op": op, "target": i}
            try:
                r = call()
            except requests.exceptions.Timeout as e:
                rec["error"] = f"timeout: {e}"
            except requests.exceptions.ConnectionError as e:
                rec["error"] = f"connection: {e}"
                sessions.pop(i, None)
                if self.failover:
                    self.targets.set_up(i, False)
            else:
                rec["status"] = r.status_code
                rec["ctype"] = r.headers.get("content-type", "")
                rec["retry_after"] = r.headers.get("retry-after")
                if r.status_code >= 300:
                    rec["body"] = r.text[:300]
                if op == "create" and r.status_code == 201:
                    body = r.json()
                    assert body["title"] == title, body
                    with self.lock:
                        self.created[body["id"]] = title
                        self.created_ids.append(body["id"])
                        self.versions[body["id"]] = 1
                    mine.append(body["id"])
                    version[body["id"]] = 1
                elif op == "update" and r.status_code == 200:
                    version[tid] = v
                    with self.lock:
                        self.versions[tid] = max(self.versions[tid], v)
            rec["t1"] = time.monotonic()
            with self.lock:
                self.results.append(rec)
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def created_title(self, tid):
        with self.lock:
            return self.created[tid]

    # -- observing
    def snapshot(self):
        with self.lock:
            return list(self.results)

    def acked(self, since=None, target=None):
        """Acknowledged writes (2xx), optionally started after `since` / sent to `target`."""
        return sum(1 for r in self.snapshot() if 200 <= r.get("status", 0) < 300
                   and (since is None or r["t0"] >= since) and (target is None or r["target"] == target))

    def wait_acked(self, n, since=None, target=None, timeout=60, what="acknowledged writes"):
        harness.wait_until(lambda: self.acked(since, target) >= n, timeout=timeout, interval=0.05,
                           what=f"{n} {what}")

    def summary(self):
        """{status or error kind: count}, printed by the tests (shown when one fails)."""
        out = {}
        for r in self.snapshot():
            key = r.get("status") or r["error"].split(":", 1)[0]
            out[key] = out.get(key, 0) + 1
        return out

    def failures(self, since=None, until=None):
        return [r for r in self.snapshot() if not 200 <= r.get("status", 0) < 300
                and (since is None or r["t1"] >= since) and (until is None or r["t0"] <= until)]


# ---- the stack of one scenario


class ChaosStack:
    """One scenario's world: a database of its own on the chaos PostgreSQL (migrated), a Redis of
    its own, `apis` API replicas, one user with a webhook endpoint at the receiver, and workers."""

    def __init__(self, pg, name, receiver, apis=1, **env):
        self.pg, self.name, self.receiver = pg, name, receiver
        self.redis = harness.Redis()
        self.db_name = "chaos_" + name
        self.db_url = pg.new_database(self.db_name)
        self.tmp = tempfile.mkdtemp(prefix="bollard-chaos-")
        self.env = harness.base_env(pg, self.redis, DATABASE_URL=self.db_url, ACCESS_LOG="false",
                                    WEBHOOK_ALLOW_PRIVATE="true", HEALTH_CACHE_MS=100, **env)
        out = harness.run(["migrate"], self.env, timeout=60)
        assert out.returncode == 0, out.stderr
        self.apis = [harness.Bollard.api(self.env) for _ in range(apis)]
        self.targets = Targets([a.url("") for a in self.apis])
        self.workers = []
        for a in self.apis:
            wait_ready(a)
        r = requests.post(self.apis[0].url("/api/auth/signup"), timeout=30,
                          json={"email": f"chaos-{name}-{os.urandom(4).hex()}@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text
        self.user, self.token = r.json()["user_id"], r.json()["access_token"]
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        r = self.http.post(self.apis[0].url(f"/api/{self.user}/webhooks"), json={"url": receiver.url(name)},
                           timeout=10)
        assert r.status_code == 201, r.text
        receiver.secrets[name] = r.json()["secret"]

    def worker(self, pod_name="w0", **extra):
        # A job stranded at a consumer that is gone is reclaimed after 5 s (default 60 s).
        w = workerlib.start_worker(self.env, self.tmp, pod_name,
                                   **{"WORKER_VISIBILITY_TIMEOUT_SECONDS": 5, **extra})
        self.workers.append(w)
        return w

    def restart_api(self, i):
        old = self.apis[i]
        self.apis[i] = harness.Bollard.api(old.env, port=old.port)
        return self.apis[i]

    def load(self, **kw):
        return Load(self.targets, self.token, self.name, **kw)

    def sql(self, query):
        return self.pg.psql(query, db=self.db_name)

    def delivered(self):
        return self.receiver.delivered(self.name)

    def stop(self):
        """SIGTERM every process still running: each exits 0 with clean sanitizer reports (the
        list of what was not). Idempotent."""
        if getattr(self, "stopped", False):
            return []
        self.stopped = True
        problems = []
        for p in self.workers + self.apis:
            if p.proc.poll() is None:
                p.signal(signal.SIGTERM)
        for p in self.workers + self.apis:
            try:
                rc = p.wait(25)
            except subprocess.TimeoutExpired:
                rc = "timeout"
            if rc != 0 and not getattr(p, "killed", False):
                problems.append(f"{p.args} exited {rc}: {p.stderr()[-2000:]}")
            try:
                p.assert_sanitizers_clean()
            except AssertionError as e:
                problems.append(str(e)[-3000:])
            p.stop()
        self.redis.destroy()
        return problems


def kill9(proc):
    proc.proc.send_signal(signal.SIGKILL)
    proc.proc.wait(10)
    proc.killed = True


def ready(b):
    status, _, body = harness.get(b.url("/health/ready"), timeout=5)
    return status, json.loads(body)


def wait_ready(b, timeout=30):
    harness.wait_until(lambda: ready(b)[0] == 200, timeout=timeout, interval=0.05, what=f"{b.url('')} ready")


def heartbeat(w):
    return workerlib.heartbeat(w)


# ---- invariants


def list_tasks(base, token):
    """Every task of the token's user through the API (paginated)."""
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    out, cursor = {}, None
    while True:
        params = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = s.get(f"{base}/api/tasks", params=params, timeout=10)
        assert r.status_code == 200, r.text
        page = r.json()
        for t in page["items"]:
            assert t["id"] not in out, f"task {t['id']} listed twice"
            out[t["id"]] = t
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def version_of(description):
    return int(description.split(" ", 1)[0][1:])


def check_tasks(load, rows, listed=None):
    """No lost acknowledged write, no duplicate. `rows`: id -> (title, description) from the store."""
    assert load.created, "the load acknowledged no write at all"
    assert len(load.created_ids) == len(set(load.created_ids)), "two creates returned the same id"
    missing = set(load.created) - set(rows)
    assert not missing, f"{len(missing)} acknowledged creates are gone, e.g. {sorted(missing)[:3]}"
    for tid, title in load.created.items():
        assert rows[tid][0] == title, (tid, rows[tid], title)
        assert version_of(rows[tid][1]) >= load.versions[tid], \
            f"acknowledged update of {tid} to v{load.versions[tid]} lost: store has {rows[tid][1][:8]}"
    dups = [t for t, n in collections.Counter(t for t, _ in rows.values()).items() if n > 1]
    assert not dups, f"duplicate tasks: {sorted(dups)[:5]}"
    if listed is not None:
        assert set(load.created) <= set(listed), "an acknowledged task is missing from the API's list"
        for tid in load.created:
            assert listed[tid]["title"] == load.created[tid]


def check_pg_invariants(stack, load, events=True, timeout=60):
    """Tasks (in PostgreSQL and through the API) and, with a worker, the webhook events: every
    outbox event (every acknowledged write has one, in the same transaction) delivered at least
    once to the receiver, with a valid signature, and nothing delivered that is not in the outbox."""
    raw = stack.sql("SELECT id || '|' || title || '|' || description FROM tasks")
    rows = {}
    for line in raw.splitlines():
        tid, title, desc = line.split("|", 2)
        rows[tid] = (title, desc)
    check_tasks(load, rows, list_tasks(stack.targets.any_up(), stack.token))
    created_events = stack.sql("SELECT task_id FROM outbox WHERE type = 'task.created'").split()
    assert len(created_events) == len(set(created_events)) == len(rows), "one task.created event per task"
    assert set(load.created) <= set(created_events)
    if not events:
        return
    outbox = set(stack.sql("SELECT event_id FROM outbox").split())
    n_updates = int(stack.sql("SELECT count(*) FROM outbox WHERE type = 'task.updated'"))
    assert n_updates >= sum(v - 1 for v in load.versions.values()), "an acknowledged update has no event"
    harness.wait_until(lambda: stack.delivered() >= outbox, timeout=timeout, interval=0.1,
                       what=f"all {len(outbox)} outbox events delivered (have "
                            f"{len(stack.delivered() & outbox)})")
    got = [r for r in stack.receiver.snapshot() if r["name"] == stack.name]
    assert {r["event_id"] for r in got} <= outbox, "a delivery of an event that is not in the outbox"
    bad = [r["event_id"] for r in got if not r["sig_ok"]]
    assert not bad, f"{len(bad)} deliveries with a bad signature"
    assert stack.sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0"


def check_failures(failures, allowed_statuses=(503,), allow_errors=False):
    """Every failed request got a clear answer: an allowed status with a problem+json body (503
    with Retry-After), not a hang, a reset or a 500."""
    for f in failures:
        if "error" in f:
            assert allow_errors, f"request without an HTTP answer: {f}"
            continue
        assert f["status"] in allowed_statuses, f
        assert f["ctype"].startswith("application/problem+json"), f
        if f["status"] == 503:
            assert f["retry_after"] is not None, f


# ---- `bollard dev` with its output on pipes (RLIMIT_FSIZE does not apply to pipes)


class DevProcess:
    """`bollard dev` whose stdout/stderr go through pipes to files written by this process, so a
    file-size limit on it limits its database files and not its logs. SIGXFSZ is ignored in the
    child (an ignored disposition survives exec): a write past the limit fails with EFBIG."""

    def __init__(self, env, port=None):
        self.port = port or harness.free_port()
        self.env = harness.with_metrics_port(dict(env, PORT=str(self.port)))
        self.metrics_port = int(self.env["METRICS_PORT"])
        self.dir = tempfile.mkdtemp(prefix="bollard-chaos-dev-")
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        self.args = ["dev"]

        def child():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

        self.proc = subprocess.Popen(harness.bollard_command("dev"), env=self.env, preexec_fn=child,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pumps = [threading.Thread(target=self._pump, args=(src, path), daemon=True)
                      for src, path in ((self.proc.stdout, self.out_path), (self.proc.stderr, self.err_path))]
        for t in self.pumps:
            t.start()
        harness._started.append(self)

    @staticmethod
    def _pump(src, path):
        with open(path, "wb") as out:
            for chunk in iter(lambda: src.read1(65536), b""):
                out.write(chunk)
                out.flush()

    url = harness.Bollard.url
    stdout = harness.Bollard.stdout
    stderr = harness.Bollard.stderr
    log_lines = harness.Bollard.log_lines
    assert_sanitizers_clean = harness.Bollard.assert_sanitizers_clean
    signal = harness.Bollard.signal

    def wait_live(self, timeout=20):
        harness.Bollard.wait_live(self, timeout)

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout)
        for t in self.pumps:
            t.join(10)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self in harness._started:
            harness._started.remove(self)


def sqlite_rows(path):
    """(integrity_check result, id -> (title, description), task ids with a task.created event)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        rows = {tid: (title, desc) for tid, title, desc in con.execute("SELECT id, title, description FROM tasks")}
        created = [r[0] for r in con.execute("SELECT task_id FROM outbox WHERE type = 'task.created'")]
    finally:
        con.close()
    return integrity, rows, created
