"""Fixtures for the audit findings: a migrated database and a `bollard api` per module."""
import pytest

# Defined in auditlib: a test module that imports them from `conftest` gets whichever conftest.py
# pytest imported first under that name (tests/tasks/conftest.py in a full run), not this one.
from auditlib import start_api, stop_api  # noqa: F401


@pytest.fixture(scope="module")
def api(pg, redis, request):
    # Sign-in counters of other modules (all from 127.0.0.1) must not leak into this one.
    redis.cli("FLUSHDB")
    b = start_api(pg, redis, request.module.__name__.split(".")[-1][:40])
    yield b
    stop_api(b)
