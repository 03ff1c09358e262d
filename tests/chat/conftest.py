"""Fixtures for the assistant: a fake provider and a `bollard api` pointed at it, per module."""
import pytest

from chatlib import KEY, start_api
from taskclient import signup


@pytest.fixture(scope="module")
def api(pg, redis, provider, request):
    name = "chat_" + request.module.__name__.split(".")[-1][:40]
    b = start_api(pg, redis, name, LLM_PROVIDER="openrouter", OPENROUTER_API_KEY=KEY,
                  OPENROUTER_BASE_URL=provider.base_url, OPENROUTER_MODEL="test/model-1",
                  OPENROUTER_REFERER="https://bollard.example", OPENROUTER_TITLE="Bollard tests",
                  MAX_TOKENS="321", TEMPERATURE="0.3", LLM_TIMEOUT_MS="3000", CHAT_MAX_TOOL_ROUNDS="3",
                  CHAT_HISTORY_MESSAGES="20")
    yield b
    b.stop_clean()
    assert KEY not in b.stdout() and KEY not in b.stderr()


@pytest.fixture
def user(api):
    client, _ = signup(api.url(""))
    return client
