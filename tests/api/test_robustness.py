"""Malformed HTTP, oversized headers and bodies, slow clients: no crash, no hang, sanitizers clean."""
import socket
import threading
import time

import pytest

import harness


@pytest.fixture(scope="module")
def api(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis, MAX_BODY_BYTES=4096, ACCESS_LOG="false"))
    yield b
    b.stop_clean()


def raw(port, data, read_timeout=3.0):
    """Sends bytes, returns what the server answered before closing or going quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            chunks.append(c)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)
    finally:
        s.close()


def status_of(resp):
    if not resp.startswith(b"HTTP/1."):
        return None
    return int(resp.split(b" ", 2)[1])


def assert_alive(b):
    assert b.proc.poll() is None, b.stderr()
    assert harness.get(b.url("/health/live"))[0] == 200


@pytest.mark.parametrize("payload", [
    b"\x00\x01\x02garbage\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /%00%ff/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\xff" * 10000 + b"\r\n\r\n",
])
def test_malformed_requests_get_4xx_or_close(api, payload):
    resp = raw(api.port, payload)
    st = status_of(resp)
    assert st is None or 400 <= st < 500, resp[:200]
    assert_alive(api)


def test_oversized_header_refused(api):
    # h2o bounds the request head (about 400 KB); past that the request is refused, not buffered.
    resp = raw(api.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1000000 + b"\r\n\r\n")
    st = status_of(resp)
    assert st is None or 400 <= st < 500
    assert_alive(api)


def test_body_over_limit_gets_413(api):
    body = b"x" * 10000
    resp = raw(api.port, b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert status_of(resp) == 413
    resp = raw(api.port, b"POST /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"1000\r\n" + b"y" * 4096 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n")
    assert status_of(resp) == 413
    assert_alive(api)


def test_wrong_method_is_405_with_allow(api):
    resp = raw(api.port, b"DELETE /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(resp) == 405 and b"allow: get" in resp.lower()


def test_slow_clients_do_not_block_others(api):
    stop = threading.Event()
    socks = []

    def slowloris():
        s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
        socks.append(s)
        try:
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            while not stop.is_set():
                s.sendall(b"X-a: b\r\n")
                stop.wait(0.1)
        except OSError:
            pass

    threads = [threading.Thread(target=slowloris, daemon=True) for _ in range(50)]
    for t in threads:
        t.start()
    idle = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(200)]  # connect, say nothing
    try:
        for _ in range(50):
            t0 = time.monotonic()
            assert harness.get(api.url("/health/live"))[0] == 200
            assert time.monotonic() - t0 < 0.5
    finally:
        stop.set()
        for s in idle + socks:
            s.close()
        for t in threads:
            t.join(5)
    assert_alive(api)


def test_client_disconnects_mid_request(api):
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", api.port))
        s.sendall(b"GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()  # gone before the (asynchronous) answer
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", api.port))
        s.sendall(b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        s.close()
    assert_alive(api)
