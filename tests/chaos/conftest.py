"""Fixtures for the chaos tests: a PostgreSQL of their own (they stop, crash and freeze it), a
webhook receiver (tests/conftest.py's), and a per-test stack on a fresh database and a fresh Redis."""
import pytest

import chaoslib


@pytest.fixture(scope="package")
def chaos_pg():
    """Not the session's shared PostgreSQL: these tests take theirs down."""
    server = chaoslib.CrashSafePostgres()
    yield server
    if getattr(server, "frozen", False):
        server.thaw()
    server.destroy()


def _healthy(pg):
    if getattr(pg, "frozen", False):
        pg.thaw()
    if not pg.running():
        pg.stop("immediate")  # a stale postmaster.pid, if any
        pg.start()


@pytest.fixture
def cpg(chaos_pg):
    """The chaos PostgreSQL, running and answering when a test starts and after it ends."""
    _healthy(chaos_pg)
    yield chaos_pg
    _healthy(chaos_pg)


@pytest.fixture
def make_stack(cpg, receiver, request):
    """make_stack(apis=1, **env) -> a ChaosStack named after the test; stopped afterwards."""
    stacks = []
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()

    def make(apis=1, **env):
        s = chaoslib.ChaosStack(cpg, f"{name}{len(stacks) or ''}", receiver, apis=apis, **env)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()
