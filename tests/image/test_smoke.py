"""A short run of the image on every architecture: the one `make image-test` gives a foreign-arch
image (under qemu) beside its structure tests, where the whole of test_runtime.py would cost too much.
Each binary starts, and `migrate` + `check` reach the host's throwaway PostgreSQL and Redis, so the
libpq/OpenSSL/hiredis linkage of that architecture's closure is exercised, not only listed."""
import os
import time

import pytest

import harness
import imagetool

pytestmark = pytest.mark.starts_image


def test_bollard_version_and_help():
    t = time.monotonic()
    r = imagetool.run(["--version"])
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"bollard {os.environ['BOLLARD_VERSION']} (git {os.environ['BOLLARD_GIT_REV']})"
    h = imagetool.run(["--help"])
    assert h.returncode == 0, h.stderr
    for role in ("api", "worker", "migrate", "check"):
        assert role in h.stdout, h.stdout
    print(f"\nimage ({imagetool.ARCH}{', qemu' if imagetool.FOREIGN else ''}): `run --rm … --version` "
          f"took {took:.2f} s")


def test_probe_help():
    r = imagetool.run(["--help"], entrypoint="/probe")
    assert r.returncode == 0, r.stderr
    assert "live" in r.stdout and "ready" in r.stdout, r.stdout


def test_migrate_then_check(pg, redis):
    env = harness.base_env(pg, redis)
    for k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS"):  # the image has its own PATH and no sanitizers
        env.pop(k, None)
    env["DATABASE_URL"] = pg.new_database("image_smoke")
    migrated = imagetool.run(["migrate"], env=env, network_host=True, timeout=180)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    checked = imagetool.run(["check"], env=env, network_host=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert env["SECRET_KEY"] not in checked.stdout + checked.stderr
