"""Fixtures for `bollard dev`: `api` and `user` as tests/tasks has them, but on an embedded SQLite file."""
import pytest

from devlib import dev_env, start_dev, stop, wait_ready
from taskclient import signup


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
