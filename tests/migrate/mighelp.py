"""Helpers for the migration tests: fixture binaries built at other migration levels, log parsing."""
import json
import os
import subprocess
import tempfile

import harness

# Built by migrations/migrations.mk from tests/migrate/fixtures (see the README there):
#   expand   = the real migrations + 9001 (expand)
#   contract = expand + 9002 (contract)
#   contract_expand = contract + 9003 (expand after the contract)
#   failing  = the real migrations + a broken 9001 (its last statement fails)
#   slow     = the real migrations + a 9001 that sleeps 60 s
#   edited   = the real migrations with 0001 changed after the fact
FIXTURES = ("expand", "contract", "contract_expand", "failing", "slow", "edited")

EXIT_OK, EXIT_FAILED, EXIT_CHECKSUM, EXIT_INCOMPATIBLE, EXIT_UNREACHABLE, EXIT_LOCK_TIMEOUT, EXIT_INTERRUPTED = range(7)
EXIT_PHASE_ORDER, EXIT_ROLLOUT = 7, 8
EXIT_USAGE = 64
EXIT_CONFIG = 78


def real_migrations():
    """[(version, name, kind, bytes)] of migrations/*.sql, ascending."""
    d = os.path.join(harness.REPO, "migrations")
    out = []
    for fname in sorted(f for f in os.listdir(d) if f.endswith(".sql")):
        with open(os.path.join(d, fname), "rb") as f:
            sql = f.read()
        version, name = fname[:-4].split("_", 1)
        kind = sql.split(b"\n", 1)[0].decode().split(":", 1)[1].strip()
        out.append((int(version), name, kind, sql))
    return sorted(out)


def real_versions():
    return [v for v, _, _, _ in real_migrations()]


def binary(name="bollard"):
    """`bollard` itself, or one of FIXTURES."""
    if name == "bollard":
        return harness.binary("bollard")
    return harness.binary(os.path.join("fixtures", "bollard-" + name))


def env_for(db_url, redis=None, **extra):
    """A migrate/api environment for one database of the test's own."""
    env = harness.base_env(None, redis, **extra)
    env["DATABASE_URL"] = db_url
    return env


def run(args, env, which="bollard", timeout=60):
    return subprocess.run([binary(which)] + list(args), env=env, capture_output=True, text=True, timeout=timeout)


def log_lines(text):
    """The JSON log lines of a run's stdout (every line must be one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def messages(text):
    return [line["msg"] for line in log_lines(text)]


def assert_clean(result):
    """No sanitizer report in a finished run's stderr."""
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in result.stderr, result.stderr


class Proc:
    """A bollard (or fixture) process in the background with its output in files."""

    def __init__(self, args, env, which="bollard"):
        self.dir = tempfile.mkdtemp(prefix="bollard-mig-")
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        self.proc = subprocess.Popen([binary(which)] + list(args), env=env, stdout=open(self.out_path, "wb"),
                                     stderr=open(self.err_path, "wb"))
        harness._started.append(self)

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait(self, timeout=60):
        return self.proc.wait(timeout)

    def result(self, timeout=60):
        code = self.wait(timeout)
        return subprocess.CompletedProcess(self.proc.args, code, self.stdout(), self.stderr())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self in harness._started:
            harness._started.remove(self)


class FixtureApi(harness.Bollard):
    """`api` from a fixture binary (harness.Bollard always starts build/bollard)."""

    def __init__(self, which, env, port):
        self.dir = tempfile.mkdtemp(prefix="bollard-proc-")
        self.port = port
        env = harness.with_metrics_port(env)
        self.metrics_port = int(env["METRICS_PORT"])
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        self.env = env
        self.args = ["api"]
        self.proc = subprocess.Popen([binary(which), "api"], env=env, stdout=open(self.out_path, "wb"),
                                     stderr=open(self.err_path, "wb"))
        harness._started.append(self)


def start_api(env, which="bollard"):
    env = dict(env)
    port = harness.free_port()
    env["PORT"] = str(port)
    if which == "bollard":
        b = harness.Bollard(["api"], env, port)
    else:
        b = FixtureApi(which, env, port)
    b.wait_live(timeout=15)
    return b


def readiness(b):
    status, _, body = harness.get(b.url("/health/ready"))
    return status, json.loads(body)


def applied_versions(pg, dbname):
    out = pg.psql("SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') "
                  "FROM bollard_schema_migrations", db=dbname)
    return [int(v) for v in out.split(",") if v]


def dbname(url):
    return url.rsplit("/", 1)[1]


def relation_exists(pg, db, name):
    return pg.psql(f"SELECT to_regclass('{name}') IS NOT NULL", db=db) == "t"
