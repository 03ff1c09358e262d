#!/usr/bin/env python3
"""Issue 2 benchmark: `bollard api` /health/live against nginx returning a fixed 200, same run,
one thread/worker each, wrk on loopback; plus idle RSS and start-up time to the first answer, against
the FastAPI peer of `make bench-tasks` (bench/peers/fastapi under uvicorn, 1 worker; it has no health
route, so its first answer of any status counts) started the same way on the same PostgreSQL.
Reproduce: make bench-api   (or: BOLLARD_BUILD=build/release python3 bench/api_bench.py)"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import harness  # tests/lib: PYTHONPATH, set by the bench targets (bench/bench.mk)
import results
import tasks_bench  # its FastAPI peer's venv

DURATION = os.environ.get("BENCH_DURATION", "8s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "32")


def wrk(url):
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def start_nginx(port, tmp):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location / {{ default_type application/json; return 200 '{{"status":"ok"}}'; }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_until(lambda: harness.port_open(port), timeout=10, what="nginx")
    return proc


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peer_command(python, port):
    return [python, "-m", "uvicorn", "app:app", "--app-dir", tasks_bench.PEER, "--host", "127.0.0.1", "--port",
            str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"]


def peer_env(env):
    return {"PATH": env["PATH"], "DATABASE_URL": env["DATABASE_URL"], "SECRET_KEY": env["SECRET_KEY"]}


def startup_ms(env, python=None, idle=None):
    """Spawn to the first answer on /health/live (Bollard: a 200; the peer, python given: any status),
    polled as fast as a client can. idle: a list that gets the process's RSS in KB 1 s after that."""
    port = harness.free_port()
    if python:
        t0 = time.perf_counter()
        p = subprocess.Popen(peer_command(python, port), env=peer_env(env), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        want = b"HTTP/1.1 "
    else:
        e = harness.with_metrics_port(dict(env, PORT=str(port)))
        t0 = time.perf_counter()
        p = subprocess.Popen([harness.binary("bollard"), "api"], env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        want = b"HTTP/1.1 200"
    import socket
    while True:
        if p.poll() is not None:
            raise RuntimeError(f"{'peer' if python else 'bollard api'} exited {p.returncode} before answering")
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(want):
                s.close()
                break
            s.close()
        except OSError:
            pass
    took = (time.perf_counter() - t0) * 1000
    if idle is not None:
        time.sleep(1)
        idle.append(rss_kb(p.pid))
    p.terminate()
    p.wait()
    return took


def main():
    pg, redis = harness.Postgres(), harness.Redis()
    tmp = tempfile.mkdtemp(prefix="bollard-bench-")
    try:
        env = harness.base_env(pg, redis, API_THREADS=1, ACCESS_LOG="false", LOG_LEVEL="warn",
                               SHUTDOWN_DRAIN_SECONDS=0)
        nginx_port = harness.free_port()
        nginx = start_nginx(nginx_port, tmp)
        api = harness.Bollard.api(env)
        time.sleep(1)  # idle: nothing but the start-up work done
        idle_rss = rss_kb(api.proc.pid)
        wrk(api.url("/health/live"))  # warm-up both
        nginx_rps, nginx_p99 = wrk(f"http://127.0.0.1:{nginx_port}/")
        api_rps, api_p99 = wrk(api.url("/health/live"))
        loaded_rss = rss_kb(api.proc.pid)
        api.signal()
        api.wait(15)
        nginx.terminate()
        nginx.wait()
        starts = [startup_ms(env) for _ in range(10)]
        peer_starts, peer_idle = [], []
        try:
            python = tasks_bench.ensure_venv()
            peer_starts = [startup_ms(env, python, peer_idle) for _ in range(5)]
        except Exception as e:  # reported as not measured
            print(f"bench-api: FastAPI peer unavailable: {e}", file=sys.stderr)
        peer_start = statistics.median(peer_starts) if peer_starts else None
        peer_rss = statistics.median(peer_idle) / 1024 if peer_idle else None
        print("| measurement | bollard api | nginx (return 200) | ratio |")
        print("|---|---|---|---|")
        print(f"| /health/live req/s (wrk -t1 -c{CONNECTIONS} -d{DURATION}, 1 thread each) | {api_rps:,.0f} | "
              f"{nginx_rps:,.0f} | {api_rps / nginx_rps:.2f}x |")
        print(f"| p99 latency | {api_p99:.2f} ms | {nginx_p99:.2f} ms | {api_p99 / nginx_p99:.2f}x |")
        print(f"| idle RSS | {idle_rss / 1024:.1f} MB | | budget 10 MB |")
        print(f"| RSS after load | {loaded_rss / 1024:.1f} MB | | |")
        print(f"| start to first /health/live 200 (median of 10) | {statistics.median(starts):.1f} ms | | "
              f"budget 50 ms |")
        if peer_starts:
            print(f"FastAPI peer (uvicorn, 1 worker): start to first answer {peer_start:.0f} ms (median of "
                  f"{len(peer_starts)}), idle RSS {peer_rss:.1f} MB")
        cmd = "make bench-api"
        results.record("api", [
            results.row(f"/health/live, wrk -t1 -c{CONNECTIONS}, 1 thread each", round(api_rps), "req/s", cmd,
                        "nginx return 200", round(nginx_rps), results.higher_is_better(api_rps, nginx_rps), 0.8),
            results.row("/health/live p99 latency", round(api_p99, 2), "ms", cmd, "nginx return 200",
                        round(nginx_p99, 2), results.lower_is_better(api_p99, nginx_p99)),
            results.row("idle RSS", round(idle_rss / 1024, 1), "MB", cmd, "FastAPI + SQLAlchemy, idle",
                        round(peer_rss, 1) if peer_rss else None,
                        results.lower_is_better(idle_rss / 1024, peer_rss), goal=10, goal_kind="max"),
            results.row("RSS after /health/live load", round(loaded_rss / 1024, 1), "MB", cmd),
            results.row("start to first /health/live 200 (median of 10)", round(statistics.median(starts), 1), "ms",
                        cmd, "FastAPI + SQLAlchemy, first answer", round(peer_start) if peer_start else None,
                        results.lower_is_better(statistics.median(starts), peer_start), goal=50, goal_kind="max"),
        ])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        pg.destroy()
        redis.destroy()


if __name__ == "__main__":
    main()
