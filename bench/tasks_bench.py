#!/usr/bin/env python3
"""Issue 4 benchmark: list 20 tasks and create a task, `bollard api` against (a) pgbench running the
same SQL on the same PostgreSQL (the database's own ceiling) and (b) a FastAPI + SQLAlchemy peer of
the same two routes (bench/peers/fastapi, uvicorn, 1 worker), all in the same run, wrk on loopback.

* One throwaway PostgreSQL + Redis (tests/lib/harness.py), schema by `bollard migrate`, one user signed
  up through Bollard, 1,000 tasks seeded by SQL. Bollard runs with API_THREADS=1 (per core, the
  comparison the goals are about) and API_THREADS=2; the peer validates the same token.
* wrk: bench/wrk/{list,create}.lua, the same settings for every server (-t1 -c32 -d8s --latency by
  default), after a warm-up of the same route. Non-2xx answers and socket errors
  (wrk's 2 s timeout included) are counted in an errors column, and Bollard's warnings printed.
* pgbench: the statements "task_list" and "task_create" with their exact text, taken from
  pkg/store/store_pg.c by the C preprocessor, prepared (-M prepared), with the parameters Bollard
  binds (the user's id, no filter, no cursor, limit 20; for create the same title, description,
  completed and no due date), -c32 -j1 -T8: as many clients as wrk has connections; and again with as
  many clients as Bollard holds PostgreSQL connections (DB_POOL_SIZE=4 per thread). pgbench numbers
  repeated parameters apart ($5 four times becomes four parameters of the same value) and passes an
  undefined variable as SQL NULL, and takes `:MI` inside a string literal for a variable, so such
  literals are written E'…\x3a…' (the same constant once parsed); the bench checks through
  pg_stat_activity that Bollard ran exactly the extracted text, and that pgbench's list returns a page.
* The signup (argon2id, memory-hard) goes through a short-lived third instance, so the RSS reported
  is that of servers which only served the two benchmarked routes.
* Order: every list run, then every create run, so each list run sees the same 1,000 rows.

Reproduce: make -j2 && make bench-tasks   (or: BOLLARD_BUILD=build/release python3 bench/tasks_bench.py)
Env: BENCH_DURATION (8s), BENCH_WARMUP (2s), BENCH_CONNECTIONS (32).
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
import harness  # tests/lib: PYTHONPATH, set by the bench targets (bench/bench.mk)
import results as bench_results

PEER = os.path.join(HERE, "peers", "fastapi")
WRK_DIR = os.path.join(HERE, "wrk")
VENV = os.path.join(REPO, "build", "bench-venv")
OUT_DIR = os.path.join(REPO, "build", "bench")
DURATION = os.environ.get("BENCH_DURATION", "8s")
WARMUP = os.environ.get("BENCH_WARMUP", "2s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SEED_TASKS = 1000
LIMIT = 20
CREATE_BODY = {"title": "write the weekly report", "description": "created by wrk", "completed": False}
POOL = 4  # DB_POOL_SIZE, Bollard's default: PostgreSQL connections per event-loop thread
# Both Bollard configurations hold the same 4 PostgreSQL connections: with 2 threads × 4, the 8 busy
# backends outnumber these 2 cores and PostgreSQL itself stalls for up to a second (README,
# "Sizing the database pool").
POOL_OF = {1: POOL, 2: POOL // 2}
GOAL_PGBENCH = 0.5
GOAL_PEER = 20.0


def seconds(d):
    return int(d.rstrip("s"))


# ---- the SQL Bollard runs, straight from its source

def statement_sql(name):
    """(text, parameter count) of a prepared statement of pkg/store/store_pg.c, as the compiler sees it."""
    with open(os.path.join(REPO, "pkg", "store", "store_pg.c")) as f:
        src = "".join(line for line in f if not line.lstrip().startswith("#include"))
    pre = subprocess.run(["cc", "-E", "-P", "-x", "c", "-"], input=src, capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r'\{\s*"' + re.escape(name) + r'"\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*(\d+)\s*\}', pre)
    if m is None:
        sys.exit(f"bench-tasks: statement {name!r} not found in pkg/store/store_pg.c")
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    text = re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t"}.get(e.group(1), e.group(1)), "".join(parts))
    return text, int(m.group(2))


def pgbench_script(sql, nparams, values):
    """The statement as a pgbench script: $1..$n become pgbench variables (None: an undefined one, which
    pgbench binds as NULL). pgbench takes every `:name` for a variable, string literals included, so a
    literal holding a colon is written E'…\\x3a…': the same constant once parsed."""
    assert len(values) == nparams
    names = [f"p{i}" if v is not None else f"null_p{i}" for i, v in enumerate(values, 1)]
    out = []
    for code, literal in re.findall(r"([^']+)|('(?:[^']|'')*')", sql):
        if code:
            out.append(re.sub(r"\$(\d+)", lambda m: ":" + names[int(m.group(1)) - 1], code))
        elif ":" in literal:
            value = literal[1:-1].replace("''", "'")
            out.append("E'" + value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\x3a") + "'")
        else:
            out.append(literal)
    defines = [f"p{i}={v}" for i, v in enumerate(values, 1) if v is not None]
    return "".join(out) + ";\n", defines


# ---- processes

# The venv holds both FastAPI peers' pins: requirements.txt (the tasks peer, and the peer image of
# `make bench-image`) and chat-requirements.txt (the openai SDK of bench/chat_bench.py's chat peer).
REQUIREMENTS = ("requirements.txt", "chat-requirements.txt")


def ensure_venv():
    digest = hashlib.sha256()
    for name in REQUIREMENTS:
        with open(os.path.join(PEER, name), "rb") as f:
            digest.update(f.read())
    digest = digest.hexdigest()
    stamp = os.path.join(VENV, "requirements.sha256")
    python = os.path.join(VENV, "bin", "python")
    if os.path.exists(python) and os.path.exists(stamp) and open(stamp).read() == digest:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    reqs = [arg for name in REQUIREMENTS for arg in ("-r", os.path.join(PEER, name))]
    subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", "--disable-pip-version-check"] + reqs,
                   check=True)
    with open(stamp, "w") as f:
        f.write(digest)
    return python


class Peer:
    """The FastAPI peer under uvicorn, one worker (a single process: uvicorn forks no supervisor for 1)."""

    def __init__(self, python, pg, secret, tmp):
        self.port = harness.free_port()
        self.log = open(os.path.join(tmp, "uvicorn.log"), "wb")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": pg.url, "SECRET_KEY": secret}
        self.proc = subprocess.Popen([python, "-m", "uvicorn", "app:app", "--app-dir", PEER, "--host", "127.0.0.1",
                                      "--port", str(self.port), "--workers", "1", "--loop", "uvloop", "--http",
                                      "httptools", "--no-access-log", "--log-level", "warning"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"uvicorn exited with {self.proc.returncode}: {self.output()}")
            return harness.port_open(self.port)
        harness.wait_until(up, timeout=30, what="uvicorn")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def output(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def stop_server(s):
    if isinstance(s, harness.Bollard) and s.proc.poll() is None:
        s.signal()
        try:
            s.wait(15)
        except subprocess.TimeoutExpired:
            pass
    s.stop()


def http(method, url, body=None, token=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---- load generators

def wrk(url, script, token, duration):
    """(req/s, p99 ms, errors): errors are non-2xx answers plus socket errors (wrk's 2 s timeouts,
    resets); they are reported with the figures, not hidden."""
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True, env=dict(os.environ, BENCH_TOKEN=token)).stdout
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(n) for n in sock.groups()) if sock else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    return rps, float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)], errors


def pgbench(pg, script_path, defines, duration, transactions=None, clients=None):
    cmd = ["pgbench", "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
           "-f", script_path]
    for d in defines:
        cmd += ["-D", d]
    cmd += ["-c1", "-j1", f"-t{transactions}"] if transactions else [f"-c{clients or CONNECTIONS}", "-j1",
                                                                    f"-T{seconds(duration)}"]
    r = subprocess.run(cmd + ["bollard"], capture_output=True, text=True)
    failed = re.search(r"number of failed transactions:\s+(\d+)", r.stdout)
    if r.returncode != 0 or (failed and int(failed.group(1)) != 0):
        raise RuntimeError(f"pgbench {os.path.basename(script_path)} failed:\n{r.stdout}\n{r.stderr}")
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", r.stdout).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", r.stdout).group(1))
    return tps, lat


# ---- checks that the three do the same work

def same_tasks(a, b):
    """Bollard's and the peer's task JSON agree (timestamps compared as instants: formats differ)."""
    def norm(t):
        return {k: (datetime.fromisoformat(v) if k.endswith("_at") and v else v) for k, v in t.items()}
    return norm(a) == norm(b)


def check_same_work(pg, bollard, peer, token, user_id):
    s1, b = http("GET", bollard.url(f"/api/tasks?limit={LIMIT}"), token=token)
    s2, p = http("GET", peer.url(f"/api/tasks?limit={LIMIT}"), token=token)
    if s1 != 200 or s2 != 200:
        sys.exit(f"bench-tasks: list: bollard {s1} {b!r}; peer {s2} {p!r}")
    if set(b) != {"items", "next_cursor"} or set(p) != set(b):
        sys.exit(f"bench-tasks: list shape differs: bollard {sorted(b)}; peer {sorted(p)}")
    if len(b["items"]) != LIMIT or len(p["items"]) != LIMIT or b["next_cursor"] != p["next_cursor"] or \
            not all(same_tasks(x, y) for x, y in zip(b["items"], p["items"])):
        sys.exit(f"bench-tasks: the two list responses differ:\n{json.dumps(b)[:600]}\n{json.dumps(p)[:600]}")
    for name, srv in (("bollard", bollard), ("peer", peer)):
        status, t = http("POST", srv.url("/api/tasks"), body=CREATE_BODY, token=token)
        keys = {"id", "title", "description", "completed", "due_at", "created_at", "updated_at"}
        if status != 201 or set(t) != keys or t["title"] != CREATE_BODY["title"]:
            sys.exit(f"bench-tasks: {name} create: {status} {t!r}")
        if pg.psql(f"SELECT count(*) FROM outbox WHERE task_id = '{t['id']}' AND type = 'task.created'") != "1":
            sys.exit(f"bench-tasks: {name} create wrote no outbox row")


def check_pgbench_list(pg, sql, nparams, user_id, tmp):
    """The list statement pgbench runs, with pgbench's binding, returns a full page plus the row that
    tells a next page exists (limit + 1 rows of task JSON and cursor; the API assembles the page)."""
    check_sql = (f"SELECT 1 / (count(*) = {LIMIT} + 1 AND bool_and(s.cursor IS NOT NULL))::int "
                 f"FROM ({sql}) s(item, cursor)")
    script, defines = pgbench_script(check_sql, nparams, [user_id, None, None, None, LIMIT])
    path = os.path.join(tmp, "list_check.sql")
    with open(path, "w") as f:
        f.write(script)
    pgbench(pg, path, defines, None, transactions=1)


def ran_exact_sql(pg, sql):
    """Some backend's last statement is exactly this text (Bollard's prepared one; pgbench's is renumbered)."""
    tag = "$bench_q$"
    return pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE query = {tag}{sql}{tag}") != "0"


# ---- the run

def main():
    harness.binary("bollard")
    for tool in ("wrk", "pgbench", "cc"):
        if shutil.which(tool) is None:
            sys.exit(f"bench-tasks: {tool} is missing (run .ci/install-deps build test bench)")
    python = ensure_venv()
    list_sql, list_n = statement_sql("task_list")
    create_sql, create_n = statement_sql("task_create")
    os.makedirs(OUT_DIR, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bollard-bench-tasks-")
    pg, redis = harness.Postgres(), harness.Redis()
    servers = []
    try:
        # Long statements must show whole in pg_stat_activity for the same-SQL check.
        pg.psql("ALTER SYSTEM SET track_activity_query_size = 16384")
        pg.stop()
        pg.start()
        env = harness.base_env(pg, redis, ACCESS_LOG="false", LOG_LEVEL="warn", SHUTDOWN_DRAIN_SECONDS=0,
                               DB_POOL_SIZE=POOL)
        r = harness.run(["migrate"], env, timeout=60)
        if r.returncode != 0:
            sys.exit(f"bench-tasks: bollard migrate failed: {r.stdout}{r.stderr}")
        # Sign up through a short-lived instance: the argon2id hash is memory-hard, and the measured
        # servers' RSS should be that of the two benchmarked routes.
        signer = harness.Bollard.api(dict(env, API_THREADS="1"))
        servers.append(signer)
        status, signup = http("POST", signer.url("/api/auth/signup"),
                              body={"email": "bench@example.com", "password": "bench-password-1"})
        if status != 201:
            sys.exit(f"bench-tasks: signup: {status} {signup!r}")
        token, user_id = signup["access_token"], signup["user_id"]
        stop_server(signer)
        servers.remove(signer)
        bollard = {}
        for threads in (1, 2):
            bollard[threads] = harness.Bollard.api(dict(env, API_THREADS=str(threads),
                                                        DB_POOL_SIZE=str(POOL_OF[threads])))
            servers.append(bollard[threads])
        # The same binary behind Debian's pgbouncer in transaction mode (default settings), as
        # README's "PgBouncer" section configures it: what the pooler costs the list route.
        bouncer = harness.PgBouncer(pg)
        servers.append(bouncer)
        via_bouncer = harness.Bollard.api(dict(env, API_THREADS="1", DB_POOL_SIZE=str(POOL_OF[1]),
                                               DATABASE_URL=bouncer.url_for("bollard"),
                                               DB_PREPARED_STATEMENTS="false"))
        servers.append(via_bouncer)
        pg.psql(f"""INSERT INTO tasks (user_id, title, description, completed, due_at, created_at, updated_at)
                    SELECT '{user_id}', 'task ' || i, 'seeded task number ' || i, i % 3 = 0,
                           CASE WHEN i % 2 = 0 THEN now() + i * interval '1 hour' END,
                           now() - (2000 - i) * interval '1 minute', now() - (2000 - i) * interval '1 minute'
                    FROM generate_series(1, {SEED_TASKS}) i;
                    ANALYZE""")
        peer = Peer(python, pg, env["SECRET_KEY"], tmp)
        servers.append(peer)
        check_same_work(pg, bollard[1], peer, token, user_id)
        check_pgbench_list(pg, list_sql, list_n, user_id, tmp)

        scripts = {}
        for route, sql, n, values in (
                ("list", list_sql, list_n, [user_id, None, None, None, LIMIT]),
                ("create", create_sql, create_n,
                 [user_id, CREATE_BODY["title"], CREATE_BODY["description"], "false", None])):
            text, defines = pgbench_script(sql, n, values)
            path = os.path.join(tmp, f"{route}.sql")
            with open(path, "w") as f:
                f.write(text)
            scripts[route] = (path, defines)

        targets = [("bollard1", bollard[1].url("/")), ("bollard2", bollard[2].url("/")), ("peer", peer.url("/"))]
        res = {}
        for route, sql in (("list", list_sql), ("create", create_sql)):
            lua = os.path.join(WRK_DIR, f"{route}.lua")
            for name, url in targets + ([("pgbouncer", via_bouncer.url("/"))] if route == "list" else []):
                wrk(url, lua, token, WARMUP)
                res[(route, name)] = wrk(url, lua, token, DURATION)
                if res[(route, name)][2]:
                    print(f"bench-tasks: {route} on {name}: {res[(route, name)][2]} errors (non-2xx answers, "
                          "or no answer within wrk's 2 s timeout)", file=sys.stderr)
                if name.startswith("bollard") and not ran_exact_sql(pg, sql):
                    sys.exit(f"bench-tasks: bollard did not run the {route} statement extracted from store_pg.c")
            path, defines = scripts[route]
            pgbench(pg, path, defines, WARMUP)
            res[(route, "pgbench")] = pgbench(pg, path, defines, DURATION)
            for threads in (1, 2):  # the database's rate through as many connections as Bollard holds
                res[(route, f"pgbench{threads}")] = pgbench(pg, path, defines, DURATION, clients=POOL_OF[threads] * threads)
        rss = {"bollard1": rss_mb(bollard[1].proc.pid), "bollard2": rss_mb(bollard[2].proc.pid),
               "peer": rss_mb(peer.proc.pid)}
        tasks_after = pg.psql("SELECT count(*) FROM tasks")

        lines = [f"wrk -t1 -c{CONNECTIONS} -d{DURATION} --latency (after a {WARMUP} warm-up); "
                 f"pgbench -M prepared -c{CONNECTIONS} -j1 -T{seconds(DURATION)}; same PostgreSQL 15, loopback, "
                 f"one user with {SEED_TASKS} tasks; {os.cpu_count()} CPUs shared by everything.", "",
                 "| route | Bollard req/s | Bollard p99 | pgbench tx/s (avg latency) | FastAPI req/s | FastAPI p99 "
                 "| Bollard/pgbench | Bollard/FastAPI | errors (non-2xx, timeouts), Bollard/FastAPI |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for route in ("list", "create"):
            pg_tps, pg_lat = res[(route, "pgbench")]
            peer_rps, peer_p99, peer_err = res[(route, "peer")]
            for threads in (1, 2):
                rps, p99, err = res[(route, f"bollard{threads}")]
                label = f"{'list 20' if route == 'list' else 'create'} (API_THREADS={threads})"
                lines.append(f"| {label} | {rps:,.0f} | {p99:.2f} ms | {pg_tps:,.0f} ({pg_lat:.2f} ms) | "
                             f"{peer_rps:,.0f} | {peer_p99:.2f} ms | {rps / pg_tps:.0%} | {rps / peer_rps:.1f}x | "
                             f"{err}/{peer_err} |")
        lines += ["", f"Same SQL through as many connections as Bollard holds (DB_POOL_SIZE={POOL_OF[1]} with 1 thread, "
                  f"{POOL_OF[2]} with 2):", "",
                  "| route | Bollard req/s | pgbench tx/s, same client count | Bollard/pgbench |", "|---|---|---|---|"]
        for route in ("list", "create"):
            for threads in (1, 2):
                rps = res[(route, f"bollard{threads}")][0]
                tps = res[(route, f"pgbench{threads}")][0]
                lines.append(f"| {'list 20' if route == 'list' else 'create'} (API_THREADS={threads}) | {rps:,.0f} | "
                             f"{tps:,.0f} (-c{POOL_OF[threads] * threads}) | {rps / tps:.0%} |")
        lines += ["", "| server | RSS after load |", "|---|---|",
                  f"| bollard api, API_THREADS=1 | {rss['bollard1']:.1f} MB |",
                  f"| bollard api, API_THREADS=2 | {rss['bollard2']:.1f} MB |",
                  f"| FastAPI + SQLAlchemy (uvicorn, 1 worker) | {rss['peer']:.1f} MB |", ""]
        for threads in (1, 2):
            rps = res[("list", f"bollard{threads}")][0]
            a = rps / res[("list", "pgbench")][0]
            b = rps / res[("list", "peer")][0]
            lines.append(f"Goal, list, API_THREADS={threads}: >= {GOAL_PGBENCH:.0%} of pgbench: {a:.0%} "
                         f"({'met' if a >= GOAL_PGBENCH else 'NOT met'}); >= {GOAL_PEER:.0f}x FastAPI: {b:.1f}x "
                         f"({'met' if b >= GOAL_PEER else 'NOT met'})")
        lines.append(f"List through PgBouncer (transaction mode, unnamed statements), API_THREADS=1: "
                     f"{res[('list', 'pgbouncer')][0]:,.0f} req/s, p99 {res[('list', 'pgbouncer')][1]:.2f} ms "
                     f"({res[('list', 'pgbouncer')][0] / res[('list', 'bollard1')][0]:.0%} of direct)")
        lines.append(f"(tasks in the table after the create runs: {tasks_after})")
        if any(r[2] for k, r in res.items() if not k[1].startswith("pgbench")):
            lines.append("ERRORS during the runs (errors column): wrk's req/s counts every answer, non-2xx "
                         "included; a timeout is a request with no answer within 2 s.")
            for threads in (1, 2):
                warn = [ln for ln in bollard[threads].stdout().splitlines() if '"warn"' in ln or '"error"' in ln]
                print(f"bench-tasks: bollard (API_THREADS={threads}) warnings/errors ({len(warn)}):\n"
                      + "\n".join(warn[-10:]), file=sys.stderr)
        cmd = "make bench-tasks"
        rows = []
        for route in ("list", "create"):
            label = "list 20 tasks" if route == "list" else "create a task"
            peer_rps, peer_p99, _ = res[(route, "peer")]
            pg_tps = res[(route, "pgbench")][0]
            for threads in (1, 2):
                rps, p99, err = res[(route, f"bollard{threads}")]
                name = f"{label}, API_THREADS={threads}"
                rows.append(bench_results.row(name + ", vs FastAPI", round(rps), "req/s", cmd, "FastAPI + SQLAlchemy",
                                              round(peer_rps), bench_results.higher_is_better(rps, peer_rps),
                                              GOAL_PEER if route == "list" else None,
                                              note=f"{err} errors" if err else ""))
                rows.append(bench_results.row(name + ", vs pgbench", round(rps), "req/s", cmd,
                                              f"pgbench, same SQL, -c{CONNECTIONS}", round(pg_tps),
                                              bench_results.higher_is_better(rps, pg_tps),
                                              GOAL_PGBENCH if route == "list" else None))
                rows.append(bench_results.row(name + ", p99 latency", round(p99, 2), "ms", cmd,
                                              "FastAPI + SQLAlchemy", round(peer_p99, 2),
                                              bench_results.lower_is_better(p99, peer_p99)))
        bounced_rps, bounced_p99, _ = res[("list", "pgbouncer")]
        rows.append(bench_results.row("list 20 tasks through PgBouncer (transaction mode), API_THREADS=1",
                                      round(bounced_rps), "req/s", cmd, "bollard api, direct to PostgreSQL",
                                      round(res[("list", "bollard1")][0]),
                                      bench_results.higher_is_better(bounced_rps, res[("list", "bollard1")][0]),
                                      same_binary=True))
        rows.append(bench_results.row("RSS after the task load, API_THREADS=1", round(rss["bollard1"], 1), "MB", cmd,
                                      "FastAPI + SQLAlchemy", round(rss["peer"], 1),
                                      bench_results.lower_is_better(rss["bollard1"], rss["peer"])))
        list_pg, list_peer = res[("list", "pgbench")][0], res[("list", "peer")][0]
        notes = [f"The list route's ratio against FastAPI is capped by the database: pgbench, running the same "
                 f"statement with {CONNECTIONS} clients, reached {list_pg / list_peer:.1f}× the FastAPI peer in this run, "
                 f"and Bollard (API_THREADS=1) {res[('list', 'bollard1')][0] / list_pg:.0%} of pgbench. Through as "
                 f"many connections as Bollard holds ({POOL_OF[1]}), pgbench reached "
                 f"{res[('list', 'pgbench1')][0]:,.0f} tx/s, Bollard "
                 f"{res[('list', 'bollard1')][0] / res[('list', 'pgbench1')][0]:.0%} of that."]
        p1, p2 = res[("list", "bollard1")][1], res[("list", "bollard2")][1]
        notes.append(f"List p99: {p1:.1f} ms with API_THREADS=1, {p2:.1f} ms with API_THREADS=2 "
                     f"({p2 / p1:.1f}×); both hold {POOL_OF[1]} PostgreSQL connections (API_THREADS=2 runs with "
                     f"DB_POOL_SIZE={POOL_OF[2]}), on {os.cpu_count()} cores shared with PostgreSQL and wrk "
                     "(see \"Sizing the database pool\").")
        bench_results.record("tasks", rows, notes)
        report = "\n".join(lines)
        print(report)
        with open(os.path.join(OUT_DIR, "tasks.md"), "w") as f:
            f.write(report + "\n")
    finally:
        for s in reversed(servers):
            try:
                stop_server(s)
            except Exception:
                pass
        pg.destroy()
        redis.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
