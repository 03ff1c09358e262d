"""Fixtures for the audit findings: a migrated database and a `bollard api` per module."""
import pytest

import harness


def start_api(pg, redis, name, **env_extra):
    url = pg.new_database("audit_" + name)
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", **env_extra)
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    b = harness.Bollard.api(env)
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 200, timeout=15, what="ready")
    b.db_url = url
    return b


def stop_api(b):
    b.signal()
    assert b.wait(20) == 0
    b.assert_sanitizers_clean()


@pytest.fixture(scope="module")
def api(pg, redis, request):
    # Sign-in counters of other modules (all from 127.0.0.1) must not leak into this one.
    redis.cli("FLUSHDB")
    b = start_api(pg, redis, request.module.__name__.split(".")[-1][:40])
    yield b
    stop_api(b)
