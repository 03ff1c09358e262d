"""Audit findings 5, 6, 13 and 14: memory held by unfinished requests is bounded, ambiguous framing
is refused (RFC 9112 §6.3), a taken port is an error, and running out of descriptors neither spins
nor stops the connections already open."""
import os
import socket
import subprocess
import time

import pytest

import harness
from auditlib import raw, statuses


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field + " not found")


MEASURE_SECONDS = 1.5


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SMUGGLE = [
    # two different Content-Length values; a request hidden in the body must never be answered
    b"POST /api/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n"
    b"Content-Type: application/json\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
    # one Content-Length header with a list of values
    b"POST /api/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 44\r\n\r\n"
    b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
    # chunked and Content-Length together
    b"POST /api/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
    # obs-fold: a header line continued on the next line
    b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    # bare LF line endings
    b"GET /health/live HTTP/1.1\nHost: x\n\n",
]


@pytest.mark.parametrize("payload", SMUGGLE, ids=["two-lengths", "length-list", "te-and-cl", "obs-fold", "bare-lf"])
def test_ambiguous_framing_is_400_and_closes(api, payload):
    resp, closed = raw(api.port, payload)
    assert statuses(resp) == [400], resp[:400]
    assert closed, "the connection must be closed after an ambiguous request"
    assert b'"status":"ok"' not in resp, "the smuggled request was answered"
    assert harness.get(api.url("/health/live"))[0] == 200


def test_same_length_twice_is_accepted(api):
    """Identical duplicates are one value (RFC 9110 §8.6 allows a recipient to accept them)."""
    resp, _ = raw(api.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n"
                            b"Connection: close\r\n\r\n")
    assert statuses(resp) in ([200], [400])


def test_second_api_on_a_taken_port_exits_1(pg, redis, api):
    env = dict(api.env)
    out = harness.run(["api"], env, timeout=20)
    assert out.returncode == 1, (out.returncode, out.stdout[-800:], out.stderr[-800:])
    assert "cannot bind" in out.stdout + out.stderr
    assert harness.get(api.url("/health/live"))[0] == 200


# One connection holds at worst a 408 KiB request head (h2o's H2O_MAX_REQLEN), MAX_BODY_BYTES (64 KiB)
# and what one read adds (2 x the 64 KiB SO_RCVBUF) plus 32 KiB: 632 KiB (README, "Connections and
# memory"). 128 of them are 79 MiB, within the 96 MiB this test allows (200 would be 123 MiB).
MEMORY_TEST_CONNECTIONS = 128


def test_unfinished_headers_cannot_exhaust_memory(pg, redis):
    """Finding 5: 700 connections each sending headers without end. The connection cap and the header
    bound keep the process far below the chart's 256 MiB limit; it keeps answering once they go."""
    # ASan keeps up to 256 MiB of freed memory resident (its quarantine) by default: memory the
    # service no longer holds, which would swamp the figure measured here; 8 MiB still catches reuse.
    asan = harness.base_env()["ASAN_OPTIONS"] + ":quarantine_size_mb=8"
    b = harness.Bollard.api(harness.base_env(pg, redis, ACCESS_LOG="false", ASAN_OPTIONS=asan,
                                             MAX_CONNECTIONS=str(MEMORY_TEST_CONNECTIONS)))
    try:
        before = rss_kib(b.proc.pid)
        socks = []
        chunk = b"X-Pad: " + b"a" * 4000 + b"\r\n"
        for _ in range(700):
            try:
                s = socket.create_connection(("127.0.0.1", b.port), timeout=2)
                s.setblocking(False)
                s.send(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                pass
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for s in socks:
                try:
                    s.send(chunk * 25)  # up to 100 KB per round per connection
                except (BlockingIOError, OSError):
                    pass
        peak = rss_kib(b.proc.pid, "VmHWM")
        assert peak - before < 96 * 1024, f"RSS grew by {(peak - before) // 1024} MiB"
        for s in socks:
            s.close()
        harness.wait_until(lambda: harness.get(b.url("/health/live"))[0] == 200, timeout=15, what="live again")
        _, _, metrics = harness.get(b.metrics_url())
        assert b"bollard_connections_refused_total" in metrics
        assert b"bollard_connections_max %d" % MEMORY_TEST_CONNECTIONS in metrics
    finally:
        b.signal()
        b.wait(20)
        b.assert_sanitizers_clean()


def test_out_of_descriptors_neither_spins_nor_stops_open_connections(pg, redis):
    """Finding 14: with RLIMIT_NOFILE 64 and 120 idle connections, the loop backs off, logs once,
    and a connection opened earlier is still served."""
    b = harness.Bollard.api(harness.base_env(pg, redis, ACCESS_LOG="false", API_THREADS="1"))
    try:
        keep = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        keep.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in keep.recv(4096)
        subprocess.run(["prlimit", "--pid", str(b.proc.pid), "--nofile=64:64"], check=True)
        idle = []
        for _ in range(120):
            try:
                idle.append(socket.create_connection(("127.0.0.1", b.port), timeout=2))
            except OSError:
                break
        harness.wait_until(lambda: any("descriptor" in line.get("msg", "") for line in b.log_lines()),
                           timeout=10, what="the out-of-descriptors warning")
        cpu0, t0 = cpu_seconds(b.proc.pid), time.monotonic()
        time.sleep(MEASURE_SECONDS)  # not a wait for a condition: the CPU use over this window is measured
        used = (cpu_seconds(b.proc.pid) - cpu0) / (time.monotonic() - t0)
        assert used < 0.5, f"the loop used {used:.0%} of a CPU while out of descriptors"
        keep.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200" in keep.recv(4096)
        warned = [line for line in b.log_lines() if "descriptor" in line.get("msg", "")]
        assert len(warned) == 1, warned
        for s in idle:
            s.close()
        harness.wait_until(lambda: harness.get(b.url("/health/live"), timeout=2)[0] == 200, timeout=15,
                           what="accepting again")
        keep.close()
    finally:
        b.signal()
        b.wait(20)
        b.assert_sanitizers_clean()
