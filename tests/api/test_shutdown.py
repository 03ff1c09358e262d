"""SIGTERM as CONTRACT §2: not ready at once, drain, Connection: close, no accepted request fails, exit 0 in time."""
import http.client
import signal
import threading
import time

import harness

CLIENTS = 8


class KeepAliveClient(threading.Thread):
    """Sends GET /health/live back to back on one kept-alive connection, like a pooled HTTP client.
    New connections are opened only while `routable` is set (kube-proxy stops routing once the
    endpoint is removed, which the drain delay covers)."""

    def __init__(self, port, routable, stop):
        super().__init__(daemon=True)
        self.port, self.routable, self.stop = port, routable, stop
        self.ok = 0
        self.failures = []
        self.saw_close = False

    def run(self):
        conn = None
        deadline = time.monotonic() + 30
        while not self.stop.is_set() and time.monotonic() < deadline:
            if conn is None:
                if not self.routable.is_set():
                    return
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                try:
                    conn.connect()
                except ConnectionRefusedError:
                    return  # listener closed: nothing was accepted, nothing failed
            try:
                conn.request("GET", "/health/live")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    self.failures.append(f"status {r.status}")
                self.ok += 1
                if (r.getheader("connection") or "").lower() == "close":
                    self.saw_close = True
                    conn.close()
                    conn = None
            except Exception as e:  # an accepted request that did not get its answer
                self.failures.append(repr(e))
                conn.close()
                conn = None


def test_sigterm_under_keepalive_load(pg, redis):
    env = harness.base_env(pg, redis, SHUTDOWN_DRAIN_SECONDS=2, SHUTDOWN_TIMEOUT_SECONDS=8, ACCESS_LOG="false")
    b = harness.Bollard.api(env)
    routable, stop = threading.Event(), threading.Event()
    routable.set()
    clients = [KeepAliveClient(b.port, routable, stop) for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    harness.wait_until(lambda: all(c.ok > 20 for c in clients), timeout=10, what="load running")

    sent_at = time.monotonic()
    b.signal(signal.SIGTERM)
    status = harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0], timeout=2, what="ready answer")
    assert status == 503
    assert time.monotonic() - sent_at < 1.0
    # Still serving during the drain delay, on kept-alive and on new connections.
    assert harness.get(b.url("/health/live"))[0] == 200

    # Endpoint propagation: traffic keeps flowing for a while, then the balancer stops routing new
    # connections here (well inside the drain delay).
    served_at_term = sum(c.ok for c in clients)
    harness.wait_until(lambda: sum(c.ok for c in clients) >= served_at_term + 200, timeout=1.5,
                       what="traffic during the drain delay")
    routable.clear()
    code = b.wait(timeout=15)
    took = time.monotonic() - sent_at
    stop.set()
    for c in clients:
        c.join(5)

    assert code == 0
    assert took < 8, f"exit took {took:.1f}s"
    assert took >= 2, "the drain delay was not honoured"
    failures = [f for c in clients for f in c.failures]
    assert failures == [], failures
    assert all(c.saw_close for c in clients), "kept-alive connections were not told Connection: close"
    assert sum(c.ok for c in clients) > 8 * 20
    b.assert_sanitizers_clean()
    msgs = [l["msg"] for l in b.log_lines()]
    assert "shutdown complete" in msgs


def test_second_signal_exits_at_once(pg, redis):
    env = harness.base_env(pg, redis, SHUTDOWN_DRAIN_SECONDS=20, SHUTDOWN_TIMEOUT_SECONDS=30)
    b = harness.Bollard.api(env)
    b.signal(signal.SIGTERM)
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 503, timeout=2, what="not ready")
    t = time.monotonic()
    b.signal(signal.SIGINT)
    code = b.wait(timeout=5)
    assert time.monotonic() - t < 1.0
    assert code != 0


def test_idle_keepalive_connection_does_not_hold_shutdown(pg, redis):
    env = harness.base_env(pg, redis, SHUTDOWN_DRAIN_SECONDS=1, SHUTDOWN_TIMEOUT_SECONDS=20)
    b = harness.Bollard.api(env)
    idle = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
    idle.request("GET", "/health/live")
    idle.getresponse().read()  # the connection stays open and idle
    t = time.monotonic()
    b.signal(signal.SIGTERM)
    assert b.wait(timeout=20) == 0
    assert time.monotonic() - t < 4, "an idle keep-alive connection delayed the exit"
    idle.close()


def test_no_drain_delay_exits_cleanly(pg, redis):
    # SHUTDOWN_DRAIN_SECONDS=0: the loops stop right after h2o's shutdown request (whose HTTP/2
    # timer must not be left linked when the context is disposed).
    b = harness.Bollard.api(harness.base_env(pg, redis, SHUTDOWN_DRAIN_SECONDS=0))
    assert harness.get(b.url("/health/live"))[0] == 200
    b.signal(signal.SIGTERM)
    assert b.wait(timeout=10) == 0, b.stderr()
    b.assert_sanitizers_clean()
