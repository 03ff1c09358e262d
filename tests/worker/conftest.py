"""Fixtures for `bollard worker`: a local webhook receiver and a per-test stack."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workerlib  # noqa: E402


@pytest.fixture
def receiver():
    r = workerlib.Receiver()
    yield r
    r.stop()


@pytest.fixture
def stack(pg, request):
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    s = workerlib.Stack(pg, name)
    yield s
    s.stop()
