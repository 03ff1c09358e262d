"""Local servers for the probe's black-box tests: a real HTTP server, and raw TCP servers that misbehave
in the ways a probe must survive (hang, trickle, close at once, garbage, huge headers).

Every server listens on loopback only, on a port the kernel picks, and stops its threads on stop().
"""
import http.server
import os
import socket
import subprocess
import threading
import time

import harness

IO_TIMEOUT = 5.0  # no server thread ever blocks longer than this on one socket call


def read_request(conn, limit=65536):
    """Reads one request head (up to the blank line); returns the bytes, possibly partial."""
    conn.settimeout(IO_TIMEOUT)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        try:
            chunk = conn.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


class RawServer:
    """Accepts connections and runs handler(conn, server) for each in its own thread."""

    def __init__(self, handler, family=socket.AF_INET, backlog=16, accept=True):
        self.handler = handler
        self.stopping = threading.Event()
        self.requests = []
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.host = "[::1]" if family == socket.AF_INET6 else "127.0.0.1"
        self.conns = []
        self.threads = []
        if accept:
            t = threading.Thread(target=self._accept_loop, daemon=True)
            t.start()
            self.threads.append(t)

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def _accept_loop(self):
        self.sock.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        try:
            self.handler(conn, self)
        except OSError:
            pass  # the probe hung up first: expected in most of these scenarios
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.sock.close()
        for c in list(self.conns):
            try:
                c.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(IO_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def respond(payload):
    """Reads the request, sends payload, closes."""
    def handler(conn, server):
        server.requests.append(read_request(conn))
        conn.sendall(payload)
    return handler


def hang(conn, server):
    """Reads the request and never answers (until the test ends)."""
    server.requests.append(read_request(conn))
    server.stopping.wait(30)


def trickle(payload, interval):
    """Sends payload one byte every interval seconds."""
    def handler(conn, server):
        server.requests.append(read_request(conn))
        for i in range(len(payload)):
            if server.stopping.wait(interval):
                return
            conn.sendall(payload[i:i + 1])
        server.stopping.wait(30)
    return handler


def close_at_once(conn, server):
    conn.close()


def huge_headers(size):
    def handler(conn, server):
        server.requests.append(read_request(conn))
        line = b"X-Padding: " + b"a" * 100 + b"\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + line * (size // len(line)) + b"\r\n")
    return handler


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """GET /status/NNN answers NNN; every other path answers 200. Records the request headers."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append((self.requestline, dict(self.headers.items())))
        status = 200
        if self.path.startswith("/status/"):
            status = int(self.path.split("/")[2])
        body = b"" if status in (204, 304) else b'{"status":"ok"}'
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpServer:
    """A real HTTP/1.1 server (the standard library's) on loopback, IPv4 or IPv6."""

    def __init__(self, family=socket.AF_INET):
        cls = type("Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
        self.host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.httpd = cls((self.host, 0), _StatusHandler)
        self.httpd.seen = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def seen(self):
        return self.httpd.seen

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(IO_TIMEOUT)


class Result:
    def __init__(self, code, stdout, stderr, elapsed):
        self.code, self.stdout, self.stderr, self.elapsed = code, stdout, stderr, elapsed

    def __repr__(self):
        return f"Result(code={self.code}, elapsed={self.elapsed:.3f}s, stderr={self.stderr!r})"


SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:exitcode=86",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87",
}


def run_probe(binary, args, env=None, timeout=30, prefix=()):
    """Runs the probe with a clean environment plus env; measures wall time around the process."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full_env.update(SANITIZER_ENV)
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.run(list(prefix) + [binary] + list(args), env=full_env, capture_output=True,
                          timeout=timeout)
    elapsed = time.monotonic() - start
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "AddressSanitizer" not in stderr and "runtime error:" not in stderr, stderr
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), stderr, elapsed)


def probe_binaries():
    """The static probe, plus the ASan/UBSan host build when the build directory has one."""
    names = ["probe"]
    if os.path.exists(os.path.join(harness.BUILD, "probe-sanitized")):
        names.append("probe-sanitized")
    return names
