"""Fixtures for `bollard dev`: `api` and `user` as tests/tasks has them, but on an embedded SQLite file."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The tasks API helpers (and the journey this directory re-runs on SQLite).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tasks"))
from devlib import dev_env, start_dev, stop, wait_ready  # noqa: E402
from taskclient import signup  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A `bollard dev` on a fresh SQLite file (what the tasks tests call `api`)."""
    db = tmp_path_factory.mktemp("dev") / "bollard.db"
    b = start_dev(dev_env(db, ACCESS_LOG="false", MAX_BODY_BYTES=65536))
    wait_ready(b)
    yield b
    assert stop(b) == 0


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client
