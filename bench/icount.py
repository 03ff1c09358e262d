"""Instructions per request, counted by callgrind: a figure this noisy, shared machine cannot move.

`make bench`'s throughput rows are ratios against a peer measured in the same run; when other work
loads the machine even those swing by tens of percent. Callgrind counts the instructions the
`bollard api` process executes (every thread), which is the same for the same binary and the same
requests whatever else runs. Comparing two builds this way says whether a change made a route do
more work.

    BOLLARD_BUILD=build/release python3 bench/icount.py [--requests N] [--json OUT]

PostgreSQL and Redis are the harness's (loopback, free ports); the API runs with API_THREADS=1 under
`valgrind --tool=callgrind`. Per route: N requests on one kept-alive connection after a warm-up,
counted between `callgrind_control --zero` and `--dump`.
"""
import argparse
import glob
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile

import harness

ROUTES = ("health", "list", "create")


def request(conn, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def callgrind_total(pid, out_dir, label, keep=None):
    """Dumps the counts since the last zero and returns their instruction total."""
    before = set(glob.glob(os.path.join(out_dir, "callgrind.out*")))
    subprocess.run(["callgrind_control", "--dump=" + label, str(pid)], check=True, capture_output=True)
    harness.wait_until(lambda: set(glob.glob(os.path.join(out_dir, "callgrind.out*"))) - before, timeout=30,
                       what="the callgrind dump")
    total = 0
    for path in set(glob.glob(os.path.join(out_dir, "callgrind.out*"))) - before:
        with open(path) as f:
            for line in f:
                m = re.match(r"(?:summary|totals): (\d+)", line)
                if m:
                    total += int(m.group(1))
                    break
        if keep:
            os.replace(path, os.path.join(keep, f"callgrind.{label}"))
        else:
            os.unlink(path)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--json")
    ap.add_argument("--keep", help="a folder to keep each route's callgrind dump in (callgrind_annotate reads them)")
    args = ap.parse_args()
    pg, redis = harness.Postgres(), harness.Redis()
    out_dir = tempfile.mkdtemp(prefix="bollard-icount-")
    env = harness.base_env(pg, redis, API_THREADS="1", LOG_LEVEL="warn")
    out = harness.run(["migrate"], env, timeout=120)
    if out.returncode != 0:
        sys.exit(f"icount: migrate failed: {out.stderr}")
    port = harness.free_port()
    env["PORT"] = str(port)
    env = harness.with_metrics_port(env)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=no", "--collect-jumps=no",
                             f"--callgrind-out-file={out_dir}/callgrind.out.%p", harness.binary("bollard"), "api"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        harness.wait_until(lambda: harness.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)[0] == 200,
                           timeout=120, interval=0.5, what="the API under callgrind")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        st, data = request(conn, "POST", "/api/auth/signup",
                           body={"email": "icount@example.com", "password": "icount-password-1"})
        if st not in (200, 201):
            sys.exit(f"icount: signup: {st} {data[:200]!r}")
        token = json.loads(data)["access_token"]
        calls = {
            "health": lambda i: request(conn, "GET", "/health/live"),
            "list": lambda i: request(conn, "GET", "/api/tasks?limit=20", token),
            "create": lambda i: request(conn, "POST", "/api/tasks", token, {"title": f"icount task {i}"}),
        }
        for i in range(50):  # a page of tasks to list, and every code path warm
            for name in ("create", "list", "health"):
                calls[name](i)
        results = {}
        for name in ROUTES:
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True)
            for i in range(args.requests):
                st, data = calls[name](i)
                if st not in (200, 201):
                    sys.exit(f"icount: {name}: {st} {data[:200]!r}")
            results[name] = callgrind_total(proc.pid, out_dir, name, args.keep) / args.requests
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        pg.stop()
        redis.stop()
    print(f"instructions per request ({harness.BUILD}, {args.requests} requests each, API_THREADS=1):")
    for name in ROUTES:
        print(f"  {name:7s} {results[name]:12,.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"build": harness.BUILD, "requests": args.requests, "instructions": results}, f)


if __name__ == "__main__":
    main()
