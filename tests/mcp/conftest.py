"""Fixtures for MCP: a `bollard api` (with a fake chat provider, for the agent test), per module."""
import os
import sys

import pytest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "chat"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tasks"))
from fakellm import FakeProvider  # noqa: E402
from taskclient import signup  # noqa: E402

KEY = "sk-or-test-SECRETKEY-0123456789"


@pytest.fixture(scope="module")
def provider():
    p = FakeProvider()
    yield p
    p.stop()


def start_api(pg, redis, name, **extra):
    url = pg.new_database(name)
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", **extra)
    redis.cli("FLUSHDB")
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    b = harness.Bollard.api(env)
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 200, timeout=15, what="ready")
    return b


@pytest.fixture(scope="module")
def api(pg, redis, provider, request):
    name = "mcp_" + request.module.__name__.split(".")[-1][:40]
    b = start_api(pg, redis, name, LLM_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                  OPENROUTER_BASE_URL=provider.base_url, OPENROUTER_MODEL="test/model-1",
                  OPENROUTER_REFERER="https://bollard.example", OPENROUTER_TITLE="Bollard tests",
                  MAX_TOKENS="321", TEMPERATURE="0.25", LLM_TIMEOUT_MS="3000", CHAT_MAX_TOOL_ROUNDS="3",
                  CHAT_HISTORY_MESSAGES="20", FRONTEND_URL="http://console.example")
    yield b
    b.signal()
    assert b.wait(20) == 0
    b.assert_sanitizers_clean()
    assert KEY not in b.stdout() and KEY not in b.stderr()


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client
