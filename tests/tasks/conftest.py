"""Fixtures for the tasks API: a migrated database and a running `bollard api` per module."""
import pytest

import harness
from taskclient import signup


@pytest.fixture(scope="module")
def api(pg, redis, request):
    """A `bollard api` on a database of its own, migrated."""
    name = "tasks_" + request.module.__name__.split(".")[-1][:40]
    url = pg.new_database(name)
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", MAX_BODY_BYTES=65536)
    # Every module signs in from 127.0.0.1: start each with no failed-sign-in counters left behind by
    # another module (the body fuzzer fails hundreds), so the per-client slowdown is its own.
    redis.cli("FLUSHDB")
    b = harness.Bollard.migrated_api(env)
    yield b
    b.stop_clean()


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client
