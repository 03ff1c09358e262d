"""/metrics on its own port (CONTRACT §4, issue 18 item 1): METRICS_PORT serves GET/HEAD /metrics and
nothing else, PORT never serves it (so neither does the public Service), the two ports must differ,
and each has a connection cap of its own, so a scrape gets in while the API's MAX_CONNECTIONS is
full and idle scrapers cannot take the API's connections."""
import json
import signal
import socket

import pytest

import harness


def problem(status, headers, body, code):
    assert status == code, (status, body[:200])
    assert headers["content-type"].startswith("application/problem+json"), headers
    assert json.loads(body)["status"] == code


def test_metrics_on_metrics_port_and_nowhere_else(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis))
    try:
        status, headers, body = harness.get(b.metrics_url())
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4"), headers
        assert b"\nbollard_build_info{" in body and b"\nbollard_queue_up 1\n" in body
        # HEAD: the same answer without a body
        head = harness.urllib.request.Request(b.metrics_url(), method="HEAD")
        with harness.urllib.request.urlopen(head, timeout=5) as r:
            assert r.status == 200 and r.read() == b""
        # the API port: /metrics is an unknown path like any other
        problem(*harness.get(b.url("/metrics")), 404)
        assert harness.get(b.url("/health/live"))[0] == 200
        # the metrics port: nothing but /metrics, whatever the Host header says
        for path in ("/health/live", "/health/ready", "/openapi.json", "/", "/metrics/x", "/api/tasks"):
            problem(*harness.get(b.metrics_url(path)), 404)
        problem(*harness.get(b.metrics_url("/health/live"), headers={"Host": f"127.0.0.1:{b.port}"}), 404)
        post = harness.urllib.request.Request(b.metrics_url(), data=b"{}", method="POST")
        try:
            harness.urllib.request.urlopen(post, timeout=5)
            raise AssertionError("POST /metrics answered 2xx")
        except harness.urllib.error.HTTPError as e:
            assert e.code == 405 and e.headers["allow"] == "GET"
        # scrapes are not API requests: the per-route request counters never name /metrics
        _, _, body = harness.get(b.metrics_url())
        assert b'route="/metrics"' not in body
        assert "listening" in [l.get("msg") for l in b.log_lines()]
        listening = next(l for l in b.log_lines() if l.get("msg") == "listening")
        assert listening["metrics_port"] == b.metrics_port and listening["port"] == b.port
    finally:
        b.stop_clean()


@pytest.mark.parametrize("role", ["api", "dev"])
def test_metrics_port_equal_to_port_exits_78_naming_it(tmp_path, role):
    env = harness.base_env(PORT="9200", METRICS_PORT="9200")
    if role == "dev":
        env.update(ENVIRONMENT="dev", DATABASE_URL=f"sqlite:{tmp_path}/d.db")
        del env["REDIS_URL"]
    out = harness.run([role], env, timeout=10)
    assert out.returncode == 78, out
    lines = [l for l in out.stderr.splitlines() if l.startswith("config: ")]
    assert lines == ["config: METRICS_PORT: must differ from PORT (/metrics has a listener of its own)"], out.stderr


@pytest.mark.parametrize("value", ["0", "65536", "-1", "90x", "9090.5"])
def test_invalid_metrics_port_exits_78(value):
    out = harness.run(["api"], harness.base_env(METRICS_PORT=value), timeout=10)
    assert out.returncode == 78, out
    lines = [l for l in out.stderr.splitlines() if l.startswith("config: ")]
    assert lines == ["config: METRICS_PORT: must be an integer from 1 to 65535"], out.stderr
    assert value not in out.stderr.replace("65535", "")


def test_taken_metrics_port_exits_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", harness.free_port()))
        busy.listen()
        taken = busy.getsockname()[1]
        out = harness.run(["api"], harness.base_env(PORT=harness.free_port(), METRICS_PORT=taken), timeout=20)
    assert out.returncode == 1, (out.returncode, out.stdout[-800:], out.stderr[-800:])
    assert f"cannot bind port {taken}" in out.stdout


def closed_at_once(port):
    """A new connection to port that the server accepts and closes without reading (over its cap)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True


def kept_alive(port, path):
    """A connection with one answered keep-alive request on it, left open (counted by the server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(65536).startswith(b"HTTP/1.1 200"), path
    return s


def test_caps_are_apart_scrape_while_api_full_and_scrapers_cannot_starve_it(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis, API_THREADS="1", MAX_CONNECTIONS="1"))
    held = []
    try:
        held.append(kept_alive(b.port, "/health/live"))  # the API's whole share
        assert closed_at_once(b.port)
        status, _, body = harness.get(b.metrics_url())  # while the API port is full
        assert status == 200 and b"\nbollard_connections_max 1\n" in body
        harness.wait_until(lambda: b"\nbollard_connections_refused_total 1\n" in harness.get(b.metrics_url())[2],
                           timeout=5, what="the refused API connection counted")
        held.pop().close()
        # idle scrapers up to the metrics listener's cap (4 per loop): one more is closed at once,
        # and the API keeps its connection
        held += [kept_alive(b.metrics_port, "/metrics") for _ in range(4)]
        assert closed_at_once(b.metrics_port)
        harness.wait_until(lambda: harness.get(b.url("/health/live"))[0] == 200, timeout=5,
                           what="the API port served once its connection is closed")
    finally:
        for s in held:
            s.close()
        b.stop_clean()


def test_metrics_port_serves_through_the_drain_and_closes_with_the_api_port(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis, SHUTDOWN_DRAIN_SECONDS="2"))
    b.signal(signal.SIGTERM)
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 503, timeout=5, what="not ready")
    status, _, body = harness.get(b.metrics_url())  # still scraped while draining
    assert status == 200 and b"\nbollard_shutting_down 1\n" in body
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()
    assert not harness.port_open(b.metrics_port) and not harness.port_open(b.port)
