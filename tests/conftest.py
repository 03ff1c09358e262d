"""Shared fixtures: one throwaway PostgreSQL and Redis per test session, started on first use."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


@pytest.fixture(scope="session")
def pg():
    server = harness.Postgres()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def redis():
    server = harness.Redis()
    yield server
    server.destroy()


@pytest.fixture
def fresh_db(pg, request):
    """A database of its own for one test (name derived from the test)."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    url = pg.new_database(name)
    yield url
