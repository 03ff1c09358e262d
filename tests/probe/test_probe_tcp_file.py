"""`probe tcp` and `probe file` (the worker's heartbeat)."""
import json
import os
import shutil
import socket
import tempfile
import time

import pytest

import harness
from probe_servers import RawServer, hang, probe_binaries, run_probe

MARGIN = 0.100


@pytest.fixture(params=probe_binaries())
def probe(request):
    return harness.binary(request.param)


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="bollard-probe-")
    os.chmod(path, 0o755)  # traversable by the unprivileged user of the unreadable-file case
    yield path
    shutil.rmtree(path, ignore_errors=True)


def check(result, code, says=None, timeout_ms=1000):
    assert result.code == code, result
    assert result.elapsed < timeout_ms / 1000 + MARGIN, result
    assert result.stdout == "", result
    if code == 0:
        assert result.stderr == "", result
    else:
        assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result
        if says:
            assert says in result.stderr, result


# ---- tcp ----

def test_tcp_open_port(probe):
    with RawServer(hang) as server:
        check(run_probe(probe, ["tcp", f"127.0.0.1:{server.port}"]), 0)
        check(run_probe(probe, ["tcp", str(server.port)]), 0)
        check(run_probe(probe, ["tcp", f"localhost:{server.port}"]), 0)


def test_tcp_ipv6(probe):
    with RawServer(hang, family=socket.AF_INET6) as server:
        check(run_probe(probe, ["tcp", f"[::1]:{server.port}"]), 0)


def test_tcp_closed_port(probe):
    check(run_probe(probe, ["tcp", f"127.0.0.1:{harness.free_port()}"]), 2, says="Connection refused")


def test_tcp_address_from_environment(probe):
    with RawServer(hang) as server:
        check(run_probe(probe, ["tcp"], env={"PROBE_ADDRESS": f"127.0.0.1:{server.port}"}), 0)


def test_tcp_connect_timeout(probe):
    with RawServer(None, backlog=0, accept=False) as server:
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
                fillers.append(s)
            r = run_probe(probe, ["tcp", str(server.port)], env={"PROBE_TIMEOUT_MS": "300"})
        finally:
            for s in fillers:
                s.close()
    check(r, 2, says="connect timed out after 300 ms", timeout_ms=300)


@pytest.mark.parametrize("args", [["tcp"], ["tcp", "host-without-port"], ["tcp", "::1:80"],
                                  ["tcp", "127.0.0.1:0"], ["tcp", "80", "--path", "/"]])
def test_tcp_usage_errors(probe, args):
    check(run_probe(probe, args), 3, says="usage")


# ---- file ----

def write_heartbeat(path, content='{"status":"ok","pid":7}', age=0.0):
    with open(path, "w") as f:
        f.write(content)
    if age:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def test_file_fresh(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"))
    check(run_probe(probe, ["file", path, "--max-age", "30"]), 0)


def test_file_missing(probe, workdir):
    check(run_probe(probe, ["file", os.path.join(workdir, "nope"), "--max-age", "30"]), 1, says="missing")


def test_file_stale(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"), age=120)
    check(run_probe(probe, ["file", path, "--max-age", "30"]), 1, says="stale: modified 120 s ago (max 30 s)")


def test_file_in_the_future(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"), age=-3600)
    check(run_probe(probe, ["file", path, "--max-age", "30"]), 1, says="in the future")


def test_file_is_a_directory(probe, workdir):
    path = os.path.join(workdir, "hb")
    os.mkdir(path)
    check(run_probe(probe, ["file", path, "--max-age", "30"]), 1, says="not a regular file")


def test_file_unreadable(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"))
    os.chmod(path, 0)
    prefix = []
    if os.geteuid() == 0:  # root reads anything: run the probe as an unprivileged user instead
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    check(run_probe(probe, ["file", path, "--max-age", "30"], prefix=prefix), 2,
          says="cannot open: Permission denied")


def test_file_fifo_does_not_hang(probe, workdir):
    path = os.path.join(workdir, "hb")
    os.mkfifo(path)
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "status=ok"]), 1,
          says="not a regular file")


def test_file_json_field(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"),
                           json.dumps({"status": "ok", "pid": 7, "nested": {"status": "bad"}, "ok": True}))
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "status=ok"]), 0)
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "pid=7",
                            "--json-field", "ok=true"]), 0)
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "status=draining"]), 1,
          says='field status is "ok", expected draining')
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "pid=8"]), 1,
          says="field pid is 7, expected 8")
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "absent=1"]), 1,
          says="no field absent")


def test_file_invalid_json(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"), '{"status":"ok"')  # a half-written file
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "status=ok"]), 1,
          says="not a valid JSON object")


def test_file_too_large_for_a_heartbeat(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"), '{"status":"ok","pad":"' + "x" * 70000 + '"}')
    check(run_probe(probe, ["file", path, "--max-age", "30", "--json-field", "status=ok"]), 1,
          says="larger than 65536 bytes")


def test_file_everything_from_environment(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"))
    env = {"PROBE_FILE": path, "PROBE_MAX_AGE": "30", "PROBE_JSON_FIELD": "status=ok\npid=7"}
    check(run_probe(probe, ["file"], env=env), 0)
    env["PROBE_JSON_FIELD"] = "status=ok\npid=9"
    check(run_probe(probe, ["file"], env=env), 1, says="field pid is 7")


def test_file_defaults_to_the_worker_heartbeat_variable(probe, workdir):
    path = write_heartbeat(os.path.join(workdir, "hb"))
    check(run_probe(probe, ["file", "--max-age", "30"], env={"WORKER_HEARTBEAT_FILE": path}), 0)


@pytest.mark.parametrize("args", [["file", "/tmp/x"], ["file", "/tmp/x", "--max-age", "0"],
                                  ["file", "/tmp/x", "--max-age", "1.5"],
                                  ["file", "/tmp/x", "--max-age", "5", "--json-field", "novalue"],
                                  ["file", "/tmp/x", "--max-age", "5", "--json-field", "=x"],
                                  ["file", "/tmp/x", "--max-age", "5", "--expect", "200"]])
def test_file_usage_errors(probe, args):
    check(run_probe(probe, args), 3, says="usage")
