"""Shared fixtures: one throwaway PostgreSQL and Redis per test session, started on first use, a
webhook receiver and a fake chat provider. The helpers come from tests/lib (on sys.path through pytest.ini)."""
import pytest

# The shared journey holds test functions: its asserts are rewritten as a test file's are. Registered
# before anything imports it.
pytest.register_assert_rewrite("journey")

import harness  # noqa: E402
import workerlib  # noqa: E402
from fakellm import FakeProvider  # noqa: E402


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


@pytest.fixture
def receiver():
    """A local webhook receiver that verifies signatures (workerlib.Receiver); stopped afterwards."""
    r = workerlib.Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def provider():
    """A scripted fake OpenAI-compatible provider on loopback (tests/lib/fakellm.py), per module."""
    p = FakeProvider()
    yield p
    p.stop()
