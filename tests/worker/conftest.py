"""Fixtures for `bollard worker`: a per-test stack (the webhook receiver is tests/conftest.py's)."""
import pytest

import workerlib


@pytest.fixture
def stack(pg, request):
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    s = workerlib.Stack(pg, name)
    yield s
    s.stop()
