"""What the image does: every role started from it, hardened the way the chart runs it (read-only root,
tmpfs /tmp, no capabilities, no privilege escalation, user 65532), against throwaway PostgreSQL and
Redis on the host network."""
import os
import tempfile
import time

import pytest

import harness
import imagetool

pytestmark = pytest.mark.starts_image


def container_env(pg, redis, db_url=None, **extra):
    env = harness.base_env(pg, redis, **extra)
    for k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS"):  # the image has its own PATH and no sanitizers
        env.pop(k, None)
    if db_url:
        env["DATABASE_URL"] = db_url
    return env


def test_version():
    r = imagetool.run(["--version"])
    assert r.returncode == 0, r.stderr
    want = f"bollard {os.environ['BOLLARD_VERSION']} (git {os.environ['BOLLARD_GIT_REV']})"
    assert r.stdout.strip() == want


def test_missing_database_url_exits_78(pg, redis):
    env = container_env(pg, redis)
    del env["DATABASE_URL"]
    r = imagetool.run(["api"], env=env, network_host=True, timeout=60)
    assert r.returncode == 78, (r.returncode, r.stdout, r.stderr)
    assert "DATABASE_URL" in r.stderr
    assert env["SECRET_KEY"] not in r.stdout + r.stderr


def test_migrate_twice(pg, redis):
    env = container_env(pg, redis, db_url=pg.new_database("image_migrate"))
    first = imagetool.run(["migrate"], env=env, network_host=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    second = imagetool.run(["migrate"], env=env, network_host=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr


@pytest.fixture(scope="module")
def api(pg, redis):
    """`bollard api` in a container, on a migrated database, with a heartbeat-like file mounted at
    /hb/heartbeat (for `probe file`). Records the cold start: from `run` to the first ready 200."""
    env = container_env(pg, redis, db_url=pg.new_database("image_api"))
    migrated = imagetool.run(["migrate"], env=env, network_host=True, timeout=120)
    hb_dir = tempfile.mkdtemp(prefix="bollard-image-hb-")
    os.chmod(hb_dir, 0o755)
    hb = os.path.join(hb_dir, "heartbeat")
    with open(hb, "w") as f:
        f.write('{"status":"ok"}\n')
    os.chmod(hb, 0o644)
    port = harness.free_port()
    env["PORT"] = str(port)
    t0 = time.monotonic()
    c = imagetool.Container(["api"], env=env, extra=["-v", f"{hb_dir}:/hb:ro"])
    c.port, c.t0, c.hb, c.migrated = port, t0, hb, migrated
    yield c
    c.stop()
    os.unlink(hb)
    os.rmdir(hb_dir)


def wait_status(c, path, want, timeout):
    def check():
        if not c.running():
            raise imagetool.Exited(f"container exited {c.state()[1]}:\n{c.logs()}")
        return harness.get(f"http://127.0.0.1:{c.port}{path}", timeout=2)[0] == want
    imagetool.poll(check, timeout=timeout, what=f"{path} {want}")
    return time.monotonic()


def test_api_live_and_ready(api):
    t_live = wait_status(api, "/health/live", 200, timeout=60)
    assert api.migrated.returncode == 0, "migrate before the api failed:\n" + api.migrated.stdout + api.migrated.stderr
    try:
        t_ready = wait_status(api, "/health/ready", 200, timeout=60)
    except TimeoutError:
        status, _, body = harness.get(f"http://127.0.0.1:{api.port}/health/ready")
        raise AssertionError(f"/health/ready stayed {status}: {body[:400]!r}\n{api.logs()}")
    # A baseline: what the engine itself costs to start a container of this image and wait for it.
    t = time.monotonic()
    imagetool.run(["--version"])
    engine_s = time.monotonic() - t
    print(f"\nimage: cold start in the container: live after {t_live - api.t0:.2f} s, ready after "
          f"{t_ready - api.t0:.2f} s (from `{imagetool.ENGINE} run -d`; a whole `run --rm … --version` "
          f"takes {engine_s:.2f} s here)")


def test_api_runs_hardened(api):
    """uid/gid 65532, no capabilities, no_new_privs, read-only root, /tmp a tmpfs: read from the host."""
    wait_status(api, "/health/live", 200, timeout=60)
    pid = api.state()[2]
    assert pid > 0
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    assert status["Uid"].split() == ["65532"] * 4
    assert status["Gid"].split() == ["65532"] * 4
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    mounts = {}
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            mounts[fields[4]] = (fields[5], right.split()[0])
    assert "ro" in mounts["/"][0].split(","), mounts["/"]
    assert mounts["/tmp"][1] == "tmpfs", mounts.get("/tmp")


def test_probe_in_the_api_container(api):
    wait_status(api, "/health/live", 200, timeout=60)
    live = api.exec("/probe", "live")
    assert live.returncode == 0, live.stderr
    # ready only once the api is (see test_api_live_and_ready); the probe must agree with it.
    try:
        wait_status(api, "/health/ready", 200, timeout=30)
        ready_now = True
    except (TimeoutError, imagetool.Exited):
        ready_now = False
    ready = api.exec("/probe", "ready")
    assert ready.returncode == (0 if ready_now else 1), ready.stderr
    assert ready_now, "the api never became ready; probe ready agreed (exit 1)"


def test_probe_file_in_the_api_container(api):
    ok = api.exec("/probe", "file", "/hb/heartbeat", "--max-age", "60")
    assert ok.returncode == 0, ok.stderr
    past = time.time() - 3600
    os.utime(api.hb, (past, past))
    stale = api.exec("/probe", "file", "/hb/heartbeat", "--max-age", "60")
    assert stale.returncode == 1, stale.stderr
    missing = api.exec("/probe", "file", "/tmp/no-such-heartbeat", "--max-age", "60")
    assert missing.returncode == 1, missing.stderr


def test_worker_writes_heartbeat(pg, redis):
    env = container_env(pg, redis, db_url=pg.new_database("image_worker"))
    migrated = imagetool.run(["migrate"], env=env, network_host=True, timeout=120)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    c = imagetool.Container(["worker"], env=env)
    try:
        def beating():
            if not c.running():
                raise imagetool.Exited(f"worker exited {c.state()[1]}:\n{c.logs()}")
            return c.exec("/probe", "file", "/tmp/bollard-worker.heartbeat", "--max-age", "30").returncode == 0
        imagetool.poll(beating, timeout=60, interval=0.2, what="worker heartbeat")
    finally:
        c.stop()
