#!/usr/bin/env python3
"""Issue 5 benchmark: `bollard worker` delivering webhooks to a no-op receiver, against an RQ worker
(bench/peers/rq) doing the same deliveries, same run, same Redis, same receiver.

* Throwaway PostgreSQL + Redis (tests/lib/harness.py), schema by `bollard migrate`, one user with one
  webhook endpoint; the receiver is nginx answering 200 at once (`return 200`, keep-alive).
* Consumer throughput: N jobs are loaded into the jobs stream first (redis-cli --pipe, the entries
  the relay would write), then 1 and 2 worker processes (WORKER_CONCURRENCY default 16) drain them;
  jobs/s = N / (start of the processes → last delivery counted in their heartbeat status).
* End to end: N outbox rows (as the API writes them), one worker relays and delivers them.
* Peer: the same N jobs (same signature, headers, body) enqueued in RQ, then `rq worker --burst`
  with SimpleWorker (no fork per job: RQ's fastest mode) times draining them.
* Redis CPU per 1,000 jobs: used_cpu_user + used_cpu_sys of INFO cpu, before/after each run.
* Memory: peak RSS of each worker process: VmHWM of /proc/PID/status, sampled until it exits (not
  wait4's ru_maxrss, which also counts this Python parent's size at the fork); and its anonymous
  part (RssAnon: heap and stacks, without the pages of shared libraries).

Reproduce: make -j2 && make bench-worker   (or: BOLLARD_BUILD=build/release python3 bench/worker_bench.py)
Env: BENCH_WORKER_JOBS (40000), BENCH_RQ_JOBS (3000).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
import harness  # tests/lib: PYTHONPATH, set by the bench targets (bench/bench.mk)
import results as bench_results

PEER = os.path.join(HERE, "peers", "rq")
VENV = os.path.join(REPO, "build", "bench-venv-rq")
OUT_DIR = os.path.join(REPO, "build", "bench")
N = int(os.environ.get("BENCH_WORKER_JOBS", "40000"))
N_RQ = int(os.environ.get("BENCH_RQ_JOBS", "3000"))
STREAM = "bollard:{webhooks}:jobs"
SECRET = "whsec_" + "b" * 43
GOAL_SPEED, GOAL_MEMORY = 10.0, 10.0


def start_nginx(port, tmp):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location / {{ default_type application/json; return 200 '{{}}'; }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_until(lambda: harness.port_open(port), timeout=10, what="nginx")
    return proc


def ensure_venv():
    req = os.path.join(PEER, "requirements.txt")
    with open(req, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(VENV, "requirements.sha256")
    python = os.path.join(VENV, "bin", "python")
    if os.path.exists(python) and os.path.exists(stamp) and open(stamp).read() == digest:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", "--disable-pip-version-check", "-r", req],
                   check=True)
    with open(stamp, "w") as f:
        f.write(digest)
    return python


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def redis_cpu(redis):
    info = dict(line.split(":", 1) for line in redis.cli("INFO", "cpu").splitlines() if ":" in line)
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def status_mb(pid, field):
    """A memory field of /proc/PID/status in MB (VmHWM: peak resident set of the process's own memory
    map, after exec; RssAnon: its anonymous part now — heap and stacks, not library pages), or 0 once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def memory_mb(pid):
    return status_mb(pid, "VmHWM"), status_mb(pid, "RssAnon")


def reap(proc, seen=(0.0, 0.0)):
    """Waits for the process; returns (exit status, peak RSS MB, peak anonymous RSS MB), sampled every
    10 ms while it runs (and `seen`, what was sampled before)."""
    hwm, anon = seen
    while proc.poll() is None:
        h, a = memory_mb(proc.pid)
        hwm, anon = max(hwm, h), max(anon, a)
        time.sleep(0.01)
    return proc.returncode, hwm, anon


def delivered(paths):
    total = 0
    for p in paths:
        try:
            with open(p) as f:
                total += json.load(f)["delivered"]
        except (OSError, ValueError, KeyError):
            pass
    return total


class Bench:
    def __init__(self, tmp):
        self.tmp = tmp
        self.pg = harness.Postgres()
        self.redis = harness.Redis()
        self.nginx_port = harness.free_port()
        self.nginx = start_nginx(self.nginx_port, tmp)
        self.env = harness.base_env(self.pg, self.redis, ENVIRONMENT="production", LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "warn"),
                                    WEBHOOK_ALLOW_PRIVATE="true")
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            self.env.pop(k)
        out = harness.run(["migrate"], self.env, timeout=60)
        assert out.returncode == 0, out.stderr
        self.user = self.pg.psql("INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') "
                                 "RETURNING id").split()[0]
        self.url = f"http://127.0.0.1:{self.nginx_port}/hook"
        self.endpoint = self.pg.psql(
            f"INSERT INTO webhook_endpoints (user_id, url, events, secret) VALUES ('{self.user}', '{self.url}', "
            f"ARRAY['task.created','task.updated','task.completed','task.deleted'], '{SECRET}') RETURNING id"
        ).split()[0]
        now = "2026-01-01T00:00:00.000000Z"
        self.task = {"id": str(uuid.uuid4()), "title": "write the weekly report",
                     "description": "created by the benchmark", "completed": False, "due_at": None,
                     "created_at": now, "updated_at": now}
        self.body = json.dumps({"id": str(uuid.uuid4()), "type": "task.created", "created_at": now,
                                "user_id": self.user, "task_id": self.task["id"], "data": self.task},
                               separators=(",", ":"))

    def preload(self, n):
        data = b"".join(resp_command("XADD", STREAM, "*", "event_id", str(uuid.uuid4()), "endpoint_id",
                                     self.endpoint, "type", "task.created", "attempt", "1", "body", self.body)
                        for _ in range(n))
        subprocess.run(["redis-cli", "-p", str(self.redis.port), "--pipe"], input=data, check=True,
                       capture_output=True, timeout=120)
        assert int(self.redis.cli("XLEN", STREAM)) == n

    def workers(self, k):
        procs, beats = [], []
        for i in range(k):
            env = dict(self.env, POD_NAME=f"bench-{i}",
                       WORKER_HEARTBEAT_FILE=os.path.join(self.tmp, f"w{i}-{time.monotonic_ns()}.hb"))
            beats.append(env["WORKER_HEARTBEAT_FILE"])
            procs.append(subprocess.Popen([harness.binary("bollard"), "worker"], env=env,
                                          stdout=open(os.path.join(self.tmp, f"w{i}.log"), "ab"),
                                          stderr=subprocess.STDOUT))
        return procs, beats

    def drain(self, k, n, e2e=False):
        self.redis.cli("FLUSHALL")
        if e2e:
            self.pg.psql("TRUNCATE outbox")
            self.pg.psql(f"INSERT INTO outbox (user_id, task_id, type, payload) SELECT '{self.user}', "
                         f"gen_random_uuid(), 'task.created', '{json.dumps(self.task)}'::jsonb "
                         f"FROM generate_series(1, {n})")
        else:
            self.preload(n)
        cpu0 = redis_cpu(self.redis)
        t0 = time.monotonic()
        procs, beats = self.workers(k)
        harness.wait_until(lambda: delivered(beats) >= n, timeout=600, interval=0.01, what=f"{n} deliveries")
        elapsed = time.monotonic() - t0
        cpu = redis_cpu(self.redis) - cpu0
        rss, anon = [], []
        for p in procs:
            before = memory_mb(p.pid)  # the work is done: sampled before the process starts to exit
            p.send_signal(signal.SIGTERM)
            code, mb, anon_mb = reap(p, before)
            assert code == 0, f"worker exited {code}"
            rss.append(mb)
            anon.append(anon_mb)
        pending = self.redis.cli("XPENDING", STREAM, "deliverers").split()[0]
        assert pending == "0", pending
        if e2e:
            assert self.pg.psql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0"
        return {"workers": k, "jobs": n, "seconds": round(elapsed, 3), "jobs_per_s": round(n / elapsed),
                "redis_cpu_ms_per_1000": round(cpu * 1000 / (n / 1000), 1), "peak_rss_mb": round(max(rss), 1),
                "anon_mb": round(max(anon), 1)}

    def rq(self, python, n):
        self.redis.cli("FLUSHALL")
        body_file = os.path.join(self.tmp, "body.json")
        with open(body_file, "w") as f:
            f.write(self.body)
        out = subprocess.run([python, os.path.join(PEER, "deliver.py"), self.redis.url, str(n), self.url, SECRET,
                              body_file], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and int(out.stdout.strip()) == n, out.stderr
        cpu0 = redis_cpu(self.redis)
        t0 = time.monotonic()
        p = subprocess.Popen([os.path.join(VENV, "bin", "rq"), "worker", "--burst", "-q", "-w", "rq.worker.SimpleWorker",
                              "-u", self.redis.url, "-P", PEER, "deliveries"], cwd=PEER,
                             stdout=open(os.path.join(self.tmp, "rq.log"), "ab"), stderr=subprocess.STDOUT)
        code, mb, anon_mb = reap(p)
        elapsed = time.monotonic() - t0
        cpu = redis_cpu(self.redis) - cpu0
        assert code == 0, f"rq worker exited {code}"
        finished = int(self.redis.cli("ZCARD", "rq:finished:deliveries") or 0)
        failed = int(self.redis.cli("ZCARD", "rq:failed:deliveries") or 0)
        assert finished == n and failed == 0, (finished, failed)
        return {"workers": 1, "jobs": n, "seconds": round(elapsed, 3), "jobs_per_s": round(n / elapsed),
                "redis_cpu_ms_per_1000": round(cpu * 1000 / (n / 1000), 1), "peak_rss_mb": round(mb, 1),
                "anon_mb": round(anon_mb, 1)}

    def close(self):
        self.nginx.terminate()
        self.nginx.wait()
        self.redis.destroy()
        self.pg.destroy()


def main():
    python = ensure_venv()
    tmp = tempfile.mkdtemp(prefix="bollard-bench-worker-")
    b = Bench(tmp)
    try:
        b.drain(1, min(N, 5000))  # warm-up: page cache, nginx, PostgreSQL
        one = b.drain(1, N)
        two = b.drain(2, N)
        e2e = b.drain(1, N // 2, e2e=True)
        peer = b.rq(python, N_RQ)
    finally:
        b.close()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp)
    speed = one["jobs_per_s"] / peer["jobs_per_s"]
    memory = peer["peak_rss_mb"] / one["peak_rss_mb"]
    rows = [("bollard worker, 1 process (stream → webhook)", one), ("bollard worker, 2 processes", two),
            ("bollard worker, 1 process, outbox → webhook", e2e), ("RQ SimpleWorker, 1 process (peer)", peer)]
    print("\n| run | jobs | jobs/s | Redis CPU ms / 1,000 jobs | peak RSS per process | of it anonymous |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['jobs']:,} | {r['jobs_per_s']:,} | {r['redis_cpu_ms_per_1000']} | {r['peak_rss_mb']} MB "
              f"| {r['anon_mb']} MB |")
    print(f"\nscaling 1 → 2 processes: {two['jobs_per_s'] / one['jobs_per_s']:.2f}x (2 cores, shared with Redis, "
          f"PostgreSQL and nginx)")
    print(f"per process vs RQ: {speed:.1f}x jobs/s (goal >= {GOAL_SPEED:.0f}x), "
          f"{memory:.1f}x less memory (goal >= {GOAL_MEMORY:.0f}x)")
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "worker.json"), "w") as f:
        json.dump({"one": one, "two": two, "e2e": e2e, "rq": peer, "speed_ratio": round(speed, 2),
                   "memory_ratio": round(memory, 2)}, f, indent=2)
    cmd = "make bench-worker"
    bench_results.record("worker", [
        bench_results.row("webhook deliveries, 1 worker process", one["jobs_per_s"], "jobs/s", cmd,
                          "RQ SimpleWorker, 1 process", peer["jobs_per_s"], speed, GOAL_SPEED),
        bench_results.row("webhook deliveries, 2 worker processes (scaling vs 1)", two["jobs_per_s"], "jobs/s", cmd,
                          "bollard worker, 1 process", one["jobs_per_s"],
                          bench_results.higher_is_better(two["jobs_per_s"], one["jobs_per_s"]), same_binary=True),
        bench_results.row("outbox → webhook end to end, 1 worker", e2e["jobs_per_s"], "jobs/s", cmd,
                          "RQ SimpleWorker (queue → webhook only)", peer["jobs_per_s"],
                          bench_results.higher_is_better(e2e["jobs_per_s"], peer["jobs_per_s"])),
        bench_results.row("Redis CPU per 1,000 jobs", one["redis_cpu_ms_per_1000"], "ms", cmd, "RQ",
                          peer["redis_cpu_ms_per_1000"],
                          bench_results.lower_is_better(one["redis_cpu_ms_per_1000"], peer["redis_cpu_ms_per_1000"]),
                          question="memory"),
        bench_results.row("worker peak RSS", one["peak_rss_mb"], "MB", cmd, "RQ SimpleWorker", peer["peak_rss_mb"],
                          memory, GOAL_MEMORY,
                          note="mostly shared library pages: libcrypto, libcurl and its dependencies"),
        bench_results.row("worker anonymous memory (heap, stacks)", one["anon_mb"], "MB", cmd, "RQ SimpleWorker",
                          peer["anon_mb"], bench_results.lower_is_better(one["anon_mb"], peer["anon_mb"])),
    ], [
        f"Worker memory: peak RSS {one['peak_rss_mb']} MB against RQ's {peer['peak_rss_mb']} MB "
        f"({memory:.1f}×, goal ≥ {GOAL_MEMORY:.0f}×); its anonymous part (heap, stacks) is {one['anon_mb']} MB against "
        f"{peer['anon_mb']} MB ({peer['anon_mb'] / one['anon_mb']:.1f}×): the rest of the RSS is pages of shared "
        "libraries (libcrypto, libcurl and Debian's dependencies of it).",
        f"Scaling from 1 to 2 worker processes: {two['jobs_per_s'] / one['jobs_per_s']:.2f}× on {os.cpu_count()} cores "
        "shared with Redis, PostgreSQL and the receiver. The end-to-end row includes the outbox relay "
        "(PostgreSQL → Redis), which the RQ peer has no equivalent of.",
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
