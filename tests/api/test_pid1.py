"""As PID 1 (a container's init) the api reaps orphaned children, e.g. exec probes that timed out."""
import os
import shutil
import signal
import subprocess

import pytest

import harness


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            out.append((int(entry), fields.get("State", "").strip()))
    return out


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root for a PID namespace")
def test_reaps_orphans_as_pid1(pg, redis):
    port = harness.free_port()
    env = harness.with_metrics_port(harness.base_env(pg, redis, PORT=port))
    # unshare forks; its child (bollard) is PID 1 of the new namespace.
    wrapper = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", harness.binary("bollard"), "api"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    init = None
    try:
        harness.wait_until(lambda: harness.get(f"http://127.0.0.1:{port}/health/live")[0] == 200, timeout=10,
                           what="api in its PID namespace")
        init = harness.wait_until(lambda: [p for p, _ in children_of(wrapper.pid)], timeout=5, what="pid 1")[0]
        # A shell inside the namespace starts a short child and exits: the child is re-parented to
        # bollard, and becomes a zombie when it ends unless bollard reaps it.
        subprocess.run(["nsenter", "--target", str(init), "--pid", "--", "sh", "-c", "sleep 0.2 & exit 0"],
                       check=True, timeout=10)
        harness.wait_until(lambda: any(True for _ in children_of(init)), timeout=5, what="orphan adopted")
        harness.wait_until(lambda: children_of(init) == [], timeout=5, what="orphan reaped (no zombie left)")
        os.kill(init, signal.SIGTERM)  # unshare itself ignores SIGTERM while it waits
        assert wrapper.wait(15) == 0
    finally:
        if wrapper.poll() is None:
            wrapper.kill()  # --kill-child takes bollard down with it
            wrapper.wait(15)
