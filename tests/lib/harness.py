"""Test harness: throwaway PostgreSQL, Redis and PgBouncer on free loopback ports, and Bollard processes.

Everything started here is stopped again: by the fixtures' finalizers, and by atexit as a backstop.
"""
import atexit
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BOLLARD_BUILD", os.path.join(REPO, "build", "release"))
PG_BIN = "/usr/lib/postgresql/15/bin"

_started = []  # objects with .stop(), stopped at exit if a test forgot


@atexit.register
def _stop_everything():
    for obj in reversed(_started):
        try:
            obj.stop()
        except Exception:
            pass


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is not built; run make all test-bins (make pytest builds both)")
    return path


# BOLLARD_WRAPPER: a command prefixed to every `bollard` the harness starts (Bollard, run), e.g.
# valgrind for `make check-valgrind` (tests/valgrind.mk). Unset: the binary runs as it is.
WRAPPER = shlex.split(os.environ.get("BOLLARD_WRAPPER", ""))


def bollard_command(*args):
    return WRAPPER + [binary("bollard")] + list(args)


# Servers the tests start listen on ports below the kernel's ephemeral range (32768-60999 here):
# a port taken from that range with bind(0) can be handed to some client's outgoing connection
# between the moment it is picked and the moment the server binds it ("Address already in use").
# Ports of this range are never given out implicitly, so only another test picking the same one
# can collide, and the random start makes that unlikely; each pick is checked by binding it.
_PORT_LOW, _PORT_HIGH = 20000, 32000
_port_random = random.Random(os.getpid() ^ int(time.time() * 1000))


def free_port():
    for _ in range(200):
        port = _port_random.randrange(_PORT_LOW, _PORT_HIGH)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_until(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # the thing may not be up yet
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _as_postgres(cmd):
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def make_test_ca(directory, name="ca"):
    """A throwaway CA (`<name>.crt`, `<name>.key`) made with openssl into `directory` (a temp dir:
    nothing is committed). Returns the certificate's path."""
    key, crt = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN=bollard test {name}"],
                   check=True, capture_output=True)
    return crt


def make_server_cert(directory, ca_crt, name="server", dns="localhost"):
    """A server certificate for `dns` and 127.0.0.1 signed by the CA at ca_crt (key beside it).
    Returns (certificate path, key path)."""
    ca_key = ca_crt[:-len(".crt")] + ".key"
    key, csr, crt = (os.path.join(directory, name + ext) for ext in (".key", ".csr", ".crt"))
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{dns},IP:127.0.0.1\n")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", f"/CN={dns}"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", crt, "-days", "2", "-extfile", ext], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


class Postgres:
    def __init__(self, tls=False):
        self.dir = tempfile.mkdtemp(prefix="bollard-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                                     "-E", "UTF8", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tls: ssl=on with a certificate for localhost/127.0.0.1 from a CA made here (self.ca).
        self.ca = None
        self.tls_opts = ""
        if tls:
            tls_dir = os.path.join(self.dir, "tls")
            os.mkdir(tls_dir)
            self.ca = make_test_ca(tls_dir)
            crt, key = make_server_cert(tls_dir, self.ca)
            if os.geteuid() == 0:  # the server reads its key as postgres, and wants it 0600
                shutil.chown(key, "postgres", "postgres")
            os.chmod(tls_dir, 0o755)
            self.tls_opts = f" -c ssl=on -c ssl_cert_file={crt} -c ssl_key_file={key}"
        _started.append(self)
        self.start()
        self.psql("CREATE DATABASE bollard", db="postgres")

    @property
    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/bollard"

    def url_for(self, db):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" + self.tls_opts)
        subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-o", opts, "-l",
                                     os.path.join(self.dir, "log"), "-w", "-t", "30", "start"]),
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(_as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def destroy(self):
        self.stop("immediate")
        if self in _started:
            _started.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, db="bollard"):
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                              "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def new_database(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}"', db="postgres")
        self.psql(f'CREATE DATABASE "{name}"', db="postgres")
        return self.url_for(name)


class Redis:
    """A redis-server on a free loopback port. tls=True: TLS only (`--port 0 --tls-port`), with a
    certificate for localhost and 127.0.0.1 from a CA made here (self.ca; self.client_cert and
    self.client_key are a client certificate from the same CA); auth_clients "yes" makes the server
    require a client certificate."""

    def __init__(self, tls=False, auth_clients="no"):
        self.dir = tempfile.mkdtemp(prefix="bollard-redis-")
        self.port = free_port()
        self.proc = None
        self.tls = tls
        self.auth_clients = auth_clients
        if tls:
            self.tls_dir = os.path.join(self.dir, "tls")
            os.mkdir(self.tls_dir)
            self.ca = make_test_ca(self.tls_dir)
            self.cert, self.key = make_server_cert(self.tls_dir, self.ca)
            self.client_cert, self.client_key = make_server_cert(self.tls_dir, self.ca, name="client",
                                                                 dns="bollard-client")
        _started.append(self)
        self.start()

    @property
    def url(self):
        return f"rediss://localhost:{self.port}/0" if self.tls else f"redis://127.0.0.1:{self.port}/0"

    def renew_certificate(self, name):
        """A new server certificate (and key) from the same CA, used from the next start()."""
        self.cert, self.key = make_server_cert(self.tls_dir, self.ca, name=name)

    def start(self):
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.cert,
                      "--tls-key-file", self.key, "--tls-ca-cert-file", self.ca,
                      "--tls-auth-clients", self.auth_clients]
        else:
            listen = ["--port", str(self.port)]
        self.proc = subprocess.Popen(["redis-server"] + listen + ["--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", self.dir,
                                      "--daemonize", "no", "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING") == "PONG", timeout=10, what="redis-server")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def destroy(self):
        self.stop()
        if self in _started:
            _started.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        tls = ["--tls", "--cacert", self.ca, "--cert", self.client_cert, "--key", self.client_key] if self.tls else []
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)] + tls + list(args),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()


class RedisCluster:
    """A Redis Cluster of real redis-server processes on free loopback ports: `masters` masters with
    one replica each (redis-cli --cluster create … --cluster-replicas 1), cluster-node-timeout
    `node_timeout_ms` so that a fail-over takes a couple of seconds. Ready (wait_ok) once every live
    node reports cluster_state:ok, sees the {webhooks} slot served by a live master and one replica
    per master, and every replica's link to its master is up (one that never synced cannot take
    over). Each node logs to <dir>/<port>/redis.log."""

    def __init__(self, masters=3, node_timeout_ms=1000, tls=False):
        self.masters = masters
        self.dir = tempfile.mkdtemp(prefix="bollard-rcluster-")
        self.tls = tls
        if tls:  # TLS only, between the nodes too: one certificate (localhost, 127.0.0.1) for all
            self.ca = make_test_ca(self.dir)
            self.cert, self.key = make_server_cert(self.dir, self.ca)
        self.node_timeout_ms = node_timeout_ms
        self.ports = []
        while len(self.ports) < 2 * masters:  # cluster bus = port + 10000: keep both free
            port = free_port()
            if port + 10000 < 65536 and port not in self.ports and port + 10000 not in self.ports:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    try:
                        s.bind(("127.0.0.1", port + 10000))
                    except OSError:
                        continue
                self.ports.append(port)
        self.procs = {}
        _started.append(self)
        for port in self.ports:
            self.start_node(port)
        addrs = [f"127.0.0.1:{p}" for p in self.ports]
        out = subprocess.run(["redis-cli"] + self._tls_args() + ["--cluster", "create"] + addrs + ["--cluster-replicas", "1",
                             "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
        self.wait_ok(timeout=30)

    def start_node(self, port):
        node_dir = os.path.join(self.dir, str(port))
        os.makedirs(node_dir, exist_ok=True)
        listen = ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                  "--tls-cert-file", self.cert, "--tls-key-file", self.key, "--tls-ca-cert-file", self.ca,
                  "--tls-auth-clients", "no"] if self.tls else ["--port", str(port)]
        self.procs[port] = subprocess.Popen(
            ["redis-server"] + listen + ["--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", os.path.join(node_dir, "nodes.conf"),
             "--cluster-node-timeout", str(self.node_timeout_ms), "--save", "", "--appendonly", "no",
             "--repl-diskless-sync-delay", "0",
             "--dir", node_dir, "--daemonize", "no", "--loglevel", "notice",
             "--logfile", os.path.join(node_dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli(port, "PING") == "PONG", timeout=10, what=f"redis-server :{port}")

    def alive(self):
        return [p for p, proc in self.procs.items() if proc is not None and proc.poll() is None]

    def wait_ok(self, timeout=30):
        def ok():
            n = len(self.alive())
            for port in self.alive():
                info = self.cli(port, "CLUSTER", "INFO")
                if "cluster_state:ok" not in info:
                    return False
                repl = self.cli(port, "INFO", "replication")
                if "role:slave" in repl and "master_link_status:up" not in repl:
                    return False  # a replica that never synced cannot take over
            # every live node sees the home slot ({webhooks}: 4418) served by a live master, and
            # as many replicas as the live masters with slots have (one each)
            for p in self.alive():
                rows = self.nodes(via=p)
                masters = [r for r in rows if "master" in r[2] and "fail" not in r[2] and r[3]]
                replicas = [r for r in rows if "slave" in r[2] and "fail" not in r[2]]
                if self.master_of_slot(4418, via=p) not in self.alive() or len(replicas) != n - len(masters):
                    return False
            return n > 0
        wait_until(ok, timeout=timeout, interval=0.1, what="cluster_state:ok on every node")

    @property
    def seeds(self):
        return [f"127.0.0.1:{p}" for p in self.ports]

    @property
    def url(self):
        return self.url_with(self.seeds)

    def url_with(self, seeds, cred=""):
        """A REDIS_URL listing these seeds ("127.0.0.1:port"), with `cred` ("user:password@") if any."""
        return ("rediss://" if self.tls else "redis://") + cred + ",".join(seeds) + "/0"

    def _tls_args(self):
        return ["--tls", "--cacert", self.ca] if self.tls else []

    def cli(self, port, *args):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + self._tls_args() + list(args),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def slot_of(self, key):
        return int(self.cli(self.alive()[0], "CLUSTER", "KEYSLOT", key))

    def nodes(self, via=None):
        """[(node id, port, flags, slots text)] from CLUSTER NODES."""
        rows = []
        for line in self.cli(via or self.alive()[0], "CLUSTER", "NODES").splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            port = int(f[1].split("@")[0].rsplit(":", 1)[1])
            rows.append((f[0], port, f[2], " ".join(f[8:])))
        return rows

    def master_of_slot(self, slot, via=None):
        for node_id, port, flags, slots in self.nodes(via):
            if "master" not in flags or "fail" in flags:
                continue
            for r in slots.split():
                if r.startswith("["):
                    continue
                lo, _, hi = r.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    return port
        return None

    def node_id(self, port):
        return self.cli(port, "CLUSTER", "MYID")

    def kill(self, port):
        proc = self.procs.get(port)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.procs[port] = None

    def stop(self):
        for port in list(self.procs):
            self.kill(port)

    def destroy(self):
        self.stop()
        if self in _started:
            _started.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


class PgBouncer:
    """A real pgbouncer (Debian's 1.18) in front of `pg` on a free loopback port, in transaction
    pooling mode with otherwise default settings (no ignore_startup_parameters): what a PostgreSQL
    fleet behind a pooler looks like. Every database name is forwarded to the same server."""

    def __init__(self, pg, pool_mode="transaction", pool_size=20):
        self.pg = pg
        self.dir = tempfile.mkdtemp(prefix="bollard-pgbouncer-")
        self.port = free_port()
        self.proc = None
        users = os.path.join(self.dir, "users.txt")
        with open(users, "w") as f:
            f.write('"postgres" ""\n')
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(self.ini, "w") as f:
            f.write(f"""[databases]
* = host=127.0.0.1 port={pg.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = 1000
logfile = {os.path.join(self.dir, "log")}
""")
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            for path in (self.dir, users, self.ini):
                shutil.chown(path, "postgres", "postgres")
        _started.append(self)
        self.start()

    def url_for(self, db):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        self.proc = subprocess.Popen(_as_postgres(["/usr/sbin/pgbouncer", self.ini]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.proc.poll() is None and port_open(self.port), timeout=10, what="pgbouncer")

    def log(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def destroy(self):
        self.stop()
        if self in _started:
            _started.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


def base_env(pg=None, redis=None, **extra):
    """A valid configuration for `bollard api` (secrets included) against the given services."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ENVIRONMENT": "staging",
        "LOG_LEVEL": "info",
        "SECRET_KEY": "test-secret-key-0123456789abcdef-XYZ",
        "DATABASE_URL": pg.url if pg else "postgresql://postgres@127.0.0.1:1/bollard",
        "REDIS_URL": redis.url if redis else "redis://127.0.0.1:1/0",
        "API_THREADS": "2",
        "SHUTDOWN_DRAIN_SECONDS": "1",
        "SHUTDOWN_TIMEOUT_SECONDS": "10",
        # Suites sign up many users from 127.0.0.1; the sign-up limit has tests of its own.
        "SIGNUP_LIMIT_PER_HOUR": "1000000",
        # ASan: fail the test on leaks and errors; keep reports in the process's stderr.
        "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:exitcode=86",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87",
        "LSAN_OPTIONS": "suppressions=" + os.path.join(REPO, "tests", "lsan.supp"),
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def with_metrics_port(env):
    """env with a free loopback METRICS_PORT unless it names one already (a copy; env is not changed)."""
    env = dict(env)
    if "METRICS_PORT" not in env:
        port = free_port()
        while str(port) == env.get("PORT"):
            port = free_port()
        env["METRICS_PORT"] = str(port)
    return env


class Bollard:
    """A `bollard` process with its output captured to files in a temp dir."""

    def __init__(self, args, env, port=None):
        self.dir = tempfile.mkdtemp(prefix="bollard-proc-")
        self.port = port
        # Every serving process gets a free METRICS_PORT of its own: the default (9090) would make two
        # processes of one test (or of two suites on one machine) collide.
        env = with_metrics_port(env) if args[:1] in (["api"], ["dev"]) else env
        self.metrics_port = int(env["METRICS_PORT"]) if "METRICS_PORT" in env else None
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        self.env = env
        self.args = args
        self.proc = subprocess.Popen(bollard_command(*args), env=env,
                                     stdout=open(self.out_path, "wb"), stderr=open(self.err_path, "wb"))
        _started.append(self)

    @classmethod
    def api(cls, env, port=None, wait=True):
        port = port or free_port()
        env = dict(env)
        env["PORT"] = str(port)
        b = cls(["api"], env, port)
        if wait:
            b.wait_live()
        return b

    @classmethod
    def migrated_api(cls, env):
        """`bollard migrate` on env, then a `bollard api` on it, returned once ready."""
        out = run(["migrate"], env, timeout=60)
        assert out.returncode == 0, out.stderr
        b = cls.api(env)
        wait_until(lambda: get(b.url("/health/ready"))[0] == 200, timeout=15, what="ready")
        return b

    def stop_clean(self, timeout=20):
        """SIGTERM, then the contract's exit: 0, and no sanitizer report."""
        self.signal()
        rc = self.wait(timeout)
        assert rc == 0, f"exit {rc} after SIGTERM; stderr tail:\n{self.stderr()[-4000:]}\nlog tail:\n{self.stdout()[-4000:]}"
        self.assert_sanitizers_clean()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics_url(self, path="/metrics"):
        """On METRICS_PORT, the only port that serves /metrics (CONTRACT §4)."""
        return f"http://127.0.0.1:{self.metrics_port}{path}"

    def wait_live(self, timeout=10):
        def live():
            if self.proc.poll() is not None:
                raise AssertionError(f"bollard exited with {self.proc.returncode}: {self.stderr()}")
            return get(self.url("/health/live"))[0] == 200
        wait_until(live, timeout=timeout, what="/health/live")

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        return [json.loads(line) for line in self.stdout().splitlines() if line.strip()]

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self in _started:
            _started.remove(self)

    def assert_sanitizers_clean(self):
        err = self.stderr()
        assert "ERROR: AddressSanitizer" not in err, err
        assert "runtime error:" not in err, err
        assert "ERROR: LeakSanitizer" not in err, err


def get(url, headers=None, timeout=5):
    """(status, headers, body bytes); never raises for HTTP error statuses."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def run(args, env, timeout=30, **kw):
    return subprocess.run(bollard_command(*args), env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)
