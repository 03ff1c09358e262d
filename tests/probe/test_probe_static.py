"""The probe binary itself: static, small, spawns nothing, runs with nothing else around it."""
import os
import shutil
import subprocess
import tempfile

import pytest

import harness
from probe_servers import HttpServer, run_probe

MAX_SIZE = 100 * 1024


@pytest.fixture
def static_probe():
    return harness.binary("probe")


def test_ldd_reports_not_dynamic(static_probe):
    out = subprocess.run(["ldd", static_probe], capture_output=True, text=True, timeout=10)
    assert "not a dynamic executable" in out.stdout + out.stderr, out


def test_no_program_interpreter(static_probe):
    out = subprocess.run(["readelf", "-l", static_probe], capture_output=True, text=True, timeout=10, check=True)
    assert "INTERP" not in out.stdout and "DYNAMIC" not in out.stdout


def test_stripped_size_at_most_100_kb(static_probe):
    assert os.path.getsize(static_probe) <= MAX_SIZE, os.path.getsize(static_probe)
    out = subprocess.run(["file", static_probe], capture_output=True, text=True, timeout=10)
    if out.returncode == 0:  # `file` is optional; size is the requirement
        assert "not stripped" not in out.stdout, out.stdout


def test_nothing_that_spawns_processes_is_linked_in():
    # The static link contains only what the code calls; without these the probe cannot leave a zombie.
    full = os.path.join(harness.BUILD, "probe-obj", "probe.full")
    assert os.path.exists(full), f"{full} is not built; run make"
    out = subprocess.run(["nm", full], capture_output=True, text=True, timeout=10, check=True)
    symbols = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    spawning = {"fork", "vfork", "_Fork", "execve", "execv", "execvp", "posix_spawn", "system", "popen",
                "clone", "__clone", "daemon"}
    assert not symbols & spawning, symbols & spawning


def chroot_prefix():
    """chroot as root; otherwise inside a user namespace where we are root. Never skips."""
    if os.geteuid() == 0:
        return ["chroot"]
    if shutil.which("unshare"):
        return ["unshare", "-r", "chroot"]
    pytest.fail("the empty-chroot test needs root or unshare -r (user namespaces)")


def test_runs_in_an_empty_chroot(static_probe):
    root = tempfile.mkdtemp(prefix="bollard-probe-root-")
    server = HttpServer()
    try:
        shutil.copy(static_probe, os.path.join(root, "probe"))
        assert sorted(os.listdir(root)) == ["probe"]
        prefix = chroot_prefix() + [root]
        r = run_probe("/probe", ["--version"], prefix=prefix)
        assert r.code == 0 and r.stdout.startswith("probe (bollard) "), r
        # No /etc/hosts, no resolv.conf, no libc files: literals and localhost still work.
        r = run_probe("/probe", ["http", f"{server.url}/status/204"], prefix=prefix)
        assert (r.code, r.stderr) == (0, ""), r
        r = run_probe("/probe", ["http", f"http://localhost:{server.port}/"], prefix=prefix)
        assert (r.code, r.stderr) == (0, ""), r
        r = run_probe("/probe", ["tcp", f"127.0.0.1:{server.port}"], prefix=prefix)
        assert (r.code, r.stderr) == (0, ""), r
        r = run_probe("/probe", ["http", f"{server.url}/status/503"], prefix=prefix)
        assert r.code == 1 and "status 503" in r.stderr, r
        # The heartbeat check needs nothing either.
        with open(os.path.join(root, "hb"), "w") as f:
            f.write('{"status":"ok"}')
        r = run_probe("/probe", ["file", "/hb", "--max-age", "10", "--json-field", "status=ok"], prefix=prefix)
        assert (r.code, r.stderr) == (0, ""), r
        # With an /etc/hosts, names resolve from it: the static resolver reads files, not NSS.
        os.mkdir(os.path.join(root, "etc"))
        with open(os.path.join(root, "etc", "hosts"), "w") as f:
            f.write("127.0.0.1 bollard-probe-test.internal\n")
        r = run_probe("/probe", ["http", f"http://bollard-probe-test.internal:{server.port}/"], prefix=prefix)
        assert (r.code, r.stderr) == (0, ""), r
        # Other names go to DNS as resolv.conf says (here: nobody answering, one 1 s try) and then fail
        # cleanly as unreachable. The lookup has its own limits, outside --timeout-ms.
        with open(os.path.join(root, "etc", "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        r = run_probe("/probe", ["http", "http://bollard-no-such-host.invalid/", "--timeout-ms", "100"],
                      prefix=prefix)
        assert r.code == 2 and "cannot resolve" in r.stderr and r.elapsed < 3, r
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
