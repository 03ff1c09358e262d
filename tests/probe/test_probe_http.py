"""`probe http|live|ready` against real local servers and misbehaving ones.

Every case checks the exit code, the one-line output rule, and that the run ended within
--timeout-ms + 100 ms (the default timeout is 1000 ms).
"""
import os
import socket

import pytest

import harness
from probe_servers import (HttpServer, RawServer, close_at_once, hang, huge_headers, probe_binaries, respond,
                           run_probe, trickle)

MARGIN = 0.100  # seconds allowed beyond --timeout-ms
VERSION = open(os.path.join(harness.REPO, "VERSION")).read().strip()


@pytest.fixture(params=probe_binaries())
def probe(request):
    return harness.binary(request.param)


@pytest.fixture
def http_server():
    server = HttpServer()
    yield server
    server.stop()


def check(result, code, timeout_ms=1000, says=None):
    assert result.code == code, result
    assert result.elapsed < timeout_ms / 1000 + MARGIN, result
    assert result.stdout == "", result
    if code == 0:
        assert result.stderr == "", result
    else:
        assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result
        if says:
            assert says in result.stderr, result


@pytest.mark.parametrize("status,code", [(200, 0), (204, 0), (301, 0), (404, 1), (500, 1), (503, 1)])
def test_status_codes(probe, http_server, status, code):
    r = run_probe(probe, ["http", f"{http_server.url}/status/{status}"])
    check(r, code, says=None if code == 0 else f"status {status} (expected 200-399)")


def test_port_form_and_request_shape(probe, http_server):
    r = run_probe(probe, ["http", str(http_server.port), "--path", "/x?y=1", "--header", "X-Probe: yes"])
    check(r, 0)
    requestline, headers = http_server.seen[-1]
    assert requestline == "GET /x?y=1 HTTP/1.1"
    assert headers["Host"] == f"127.0.0.1:{http_server.port}"
    assert headers["User-Agent"] == f"bollard-probe/{VERSION}"
    assert headers["Connection"] == "close"
    assert headers["X-Probe"] == "yes"


def test_header_overrides_defaults(probe, http_server):
    r = run_probe(probe, ["http", http_server.url, "--header", "User-Agent: mine", "--header", "Host:vhost"])
    check(r, 0)
    _, headers = http_server.seen[-1]
    assert headers["User-Agent"] == "mine"
    assert headers["Host"] == "vhost"


def test_expect_list(probe, http_server):
    check(run_probe(probe, ["http", f"{http_server.url}/status/404", "--expect", "200,404"]), 0)
    check(run_probe(probe, ["http", f"{http_server.url}/status/301", "--expect=200-299"]), 1,
          says="status 301 (expected 200-299)")


def test_live_and_ready_use_port_from_environment(probe, http_server):
    env = {"PORT": str(http_server.port)}
    check(run_probe(probe, ["live"], env=env), 0)
    check(run_probe(probe, ["ready"], env=env), 0)
    assert [line for line, _ in http_server.seen[-2:]] == ["GET /health/live HTTP/1.1", "GET /health/ready HTTP/1.1"]


def test_every_http_option_from_environment(probe, http_server):
    env = {
        "PROBE_URL": f"http://localhost:{http_server.port}",
        "PROBE_PATH": "/status/503",
        "PROBE_EXPECT": "503",
        "PROBE_HEADERS": "X-One: 1\nX-Two: 2",
        "PROBE_HOST": "127.0.0.1",
        "PROBE_TIMEOUT_MS": "500",
    }
    check(run_probe(probe, ["http"], env=env), 0, timeout_ms=500)
    requestline, headers = http_server.seen[-1]
    assert requestline == "GET /status/503 HTTP/1.1"
    assert headers["X-One"] == "1" and headers["X-Two"] == "2"
    assert headers["Host"] == f"localhost:{http_server.port}"  # the URL's authority, not --host


def test_command_line_wins_over_environment(probe, http_server):
    env = {"PROBE_EXPECT": "404", "PROBE_PATH": "/status/404"}
    check(run_probe(probe, ["http", http_server.url, "--expect", "200"], env=env), 1, says="status 404")
    check(run_probe(probe, ["http", http_server.url, "--path", "/"], env=env), 1, says="status 200")


def test_ipv6_literal(probe):
    server = HttpServer(family=socket.AF_INET6)
    try:
        check(run_probe(probe, ["http", f"http://[::1]:{server.port}/status/204"]), 0)
        check(run_probe(probe, ["http", str(server.port), "--host", "::1"]), 0)
        check(run_probe(probe, ["http", str(server.port), "--host", "[::1]"]), 0)
        assert server.seen[-1][1]["Host"] == f"[::1]:{server.port}"
    finally:
        server.stop()


def test_localhost_tries_ipv4_then_ipv6(probe):
    server = HttpServer(family=socket.AF_INET6)  # nothing on 127.0.0.1 at this port
    try:
        check(run_probe(probe, ["http", f"http://localhost:{server.port}/"]), 0)
    finally:
        server.stop()


def test_server_that_hangs(probe):
    with RawServer(hang) as server:
        r = run_probe(probe, ["http", server.url])
    check(r, 2, says="no response within 1000 ms")
    assert r.elapsed >= 0.95, r


def test_hang_honours_timeout_from_environment(probe):
    with RawServer(hang) as server:
        r = run_probe(probe, ["http", server.url], env={"PROBE_TIMEOUT_MS": "300"})
    check(r, 2, timeout_ms=300)


def test_server_that_trickles_one_byte_per_100ms(probe):
    with RawServer(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0.1)) as server:
        r = run_probe(probe, ["http", server.url])
    check(r, 2, says="response incomplete after 1000 ms")


def test_slow_but_in_time_response_is_healthy(probe):
    with RawServer(trickle(b"HTTP/1.1 200 OK\r\n\r\n", 0.01)) as server:
        check(run_probe(probe, ["http", server.url]), 0)


def test_server_that_closes_at_once(probe):
    with RawServer(close_at_once) as server:
        r = run_probe(probe, ["http", server.url])
    check(r, 2)
    # Whether the close arrives as FIN or, with our request unread, as RST depends on timing.
    assert "closed without a response" in r.stderr or "reset by peer" in r.stderr, r


def test_closed_port(probe):
    port = harness.free_port()
    r = run_probe(probe, ["http", str(port)])
    check(r, 2, says="Connection refused")
    assert r.elapsed < 0.5, r


def test_connect_that_never_completes(probe):
    # A listener whose accept queue is full drops further SYNs, so connect() itself hangs.
    with RawServer(None, backlog=0, accept=False) as server:
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
                fillers.append(s)
            r = run_probe(probe, ["http", server.url, "--timeout-ms", "400"])
        finally:
            for s in fillers:
                s.close()
    check(r, 2, timeout_ms=400)
    assert "timed out" in r.stderr or "no response" in r.stderr, r


GARBAGE = [
    b"garbage\r\n\r\n",
    b"\x00\x01\x02\x03\xff\xfe",
    b"SSH-2.0-OpenSSH_9.2\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 999 Whatever\r\n\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # then the server closes: truncated
    b"HTTP/1.1 200",
]


@pytest.mark.parametrize("payload", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_responses(probe, payload):
    with RawServer(respond(payload)) as server:
        r = run_probe(probe, ["http", server.url])
    check(r, 1)
    assert "invalid response" in r.stderr or "truncated" in r.stderr, r


def test_garbage_is_reported_without_waiting_for_the_timeout(probe):
    with RawServer(trickle(b"NOT HTTP AT ALL, AND NEVER ENDING", 0.02)) as server:
        r = run_probe(probe, ["http", server.url])
    check(r, 1, says="not an HTTP/1.x response")
    assert r.elapsed < 0.5, r


def test_interim_1xx_is_skipped(probe):
    with RawServer(respond(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\n\r\n")) as server:
        check(run_probe(probe, ["http", server.url]), 1, says="status 503")


def test_huge_headers(probe):
    with RawServer(huge_headers(1 << 20)) as server:
        check(run_probe(probe, ["http", server.url]), 1, says="longer than 16384 bytes")


def test_headers_just_under_the_limit_are_fine(probe):
    with RawServer(huge_headers(15000)) as server:
        check(run_probe(probe, ["http", server.url]), 0)


def test_bare_lf_line_ends_are_accepted(probe):
    with RawServer(respond(b"HTTP/1.0 204 No Content\nServer: x\n\n")) as server:
        check(run_probe(probe, ["http", server.url]), 0)


@pytest.mark.parametrize("args", [
    [],
    ["nonsense"],
    ["http", "--bogus"],
    ["http", "-x"],
    ["http", "https://127.0.0.1/"],
    ["http", "ftp://127.0.0.1/"],
    ["http", "http://user@127.0.0.1/"],
    ["http", "::1:80"],
    ["http", "http://127.0.0.1:99999/"],
    ["http", "80", "81"],
    ["http", "80", "--expect", "2xx"],
    ["http", "80", "--expect", "399-200"],
    ["http", "80", "--timeout-ms", "0"],
    ["http", "80", "--timeout-ms", "abc"],
    ["http", "80", "--timeout-ms"],
    ["http", "80", "--path", "no-slash"],
    ["http", "80", "--path", "/a b"],
    ["http", "80", "--header", "NoColon"],
    ["http", "80", "--header", "Bad Name: x"],
    ["http", "80", "--host", "a b"],
    ["http", "80", "--max-age", "3"],
    ["live", "8000"],
])
def test_usage_errors(probe, args):
    r = run_probe(probe, args)
    check(r, 3, says="usage")


def test_bad_port_environment_is_a_usage_error(probe):
    check(run_probe(probe, ["live"], env={"PORT": "http"}), 3, says="PORT")


def test_help_lists_every_option_with_its_variable(probe):
    r = run_probe(probe, ["--help"])
    assert r.code == 0 and r.stderr == ""
    options = {
        "--timeout-ms": "PROBE_TIMEOUT_MS", "--path": "PROBE_PATH", "--expect": "PROBE_EXPECT",
        "--header": "PROBE_HEADERS", "--host": "PROBE_HOST", "--max-age": "PROBE_MAX_AGE",
        "--json-field": "PROBE_JSON_FIELD",
    }
    lines = r.stdout.splitlines()
    for option, variable in options.items():
        assert any(line.split()[:1] == [option] and variable in line for line in lines), (option, r.stdout)
    for word in ["http", "live", "ready", "tcp", "file", "PROBE_URL", "PROBE_ADDRESS", "PROBE_FILE", "--help",
                 "--version"]:
        assert word in r.stdout
    assert run_probe(probe, ["http", "--help"]).stdout == r.stdout


def test_version(probe):
    r = run_probe(probe, ["--version"])
    assert r.code == 0 and r.stdout == f"probe (bollard) {VERSION}\n" and r.stderr == ""
