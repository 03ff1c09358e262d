"""Fixtures for Redis over TLS: a TLS-only redis-server (`--port 0 --tls-port`) with a certificate for
localhost and 127.0.0.1 from a test CA the harness makes, and an ACL user on it."""
import pytest

import harness
from tlsacl import ACL_PASSWORD, ACL_USER


@pytest.fixture(scope="module")
def tls_redis():
    server = harness.Redis(tls=True)
    assert server.cli("ACL", "SETUSER", ACL_USER, "on", ">" + ACL_PASSWORD, "~*", "&*", "+@all") == "OK"
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def db_url(pg):
    """A migrated database of this suite's, so that `bollard check` and readiness pass but for Redis."""
    url = pg.new_database("redis_tls")
    out = harness.run(["migrate"], harness.base_env(pg, None, DATABASE_URL=url), timeout=60)
    assert out.returncode == 0, out.stderr
    return url
