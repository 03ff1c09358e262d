"""Fixtures for MCP: a fake chat provider and a `bollard api` pointed at it (the agent test drives
the model through it; /mcp itself needs no provider), per module."""
import pytest

from chatlib import KEY, start_api
from taskclient import signup


@pytest.fixture(scope="module")
def frontend():
    """FRONTEND_URL: the one browser Origin /mcp accepts."""
    return "http://console.example"


@pytest.fixture(scope="module")
def api(pg, redis, provider, frontend, request):
    name = "mcp_" + request.module.__name__.split(".")[-1][:40]
    b = start_api(pg, redis, name, LLM_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                  OPENROUTER_BASE_URL=provider.base_url, OPENROUTER_MODEL="test/model-1",
                  LLM_TIMEOUT_MS="3000", FRONTEND_URL=frontend)
    yield b
    b.stop_clean()
    assert KEY not in b.stdout() and KEY not in b.stderr()


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client
