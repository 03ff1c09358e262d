"""Fixtures for PostgreSQL as production runs it: behind a transaction-pooling PgBouncer."""
import pytest

import harness


@pytest.fixture(scope="module")
def bouncer(pg):
    """A real pgbouncer in transaction pooling mode (otherwise its defaults) in front of `pg`."""
    b = harness.PgBouncer(pg)
    yield b
    b.destroy()
