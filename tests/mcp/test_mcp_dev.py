"""/mcp under `bollard dev` (SQLite, no LLM_PROVIDER: MCP needs none): the same tools through the
official client, in the handshake era and in 2026-07-28, on the SQLite store."""
import asyncio
import os
import tempfile

import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from devlib import dev_env, start_dev, stop, wait_ready
from taskclient import signup


@pytest.fixture(scope="module")
def dev():
    d = tempfile.mkdtemp(prefix="bollard-mcp-dev-")
    b = start_dev(dev_env(os.path.join(d, "dev.db"), ACCESS_LOG="false"))
    try:
        wait_ready(b)
        yield b
    finally:
        assert stop(b) == 0


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_tools_on_sqlite(dev, mode):
    user, _ = signup(dev.url(""))

    async def go():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {user.token}"}, timeout=10)
        async with Client(streamable_http_client(dev.url("/mcp"), http_client=http), mode=mode,
                          raise_exceptions=True) as c:
            assert len((await c.list_tools()).tools) == 5
            r = await c.call_tool("add_task", {"title": f"dev {mode}"})
            tid = r.structured_content["task"]["id"]
            listed = await c.call_tool("list_tasks", {})
            assert [t["id"] for t in listed.structured_content["tasks"]] == [tid]
            done = await c.call_tool("complete_task", {"task_id": tid})
            assert done.is_error is False and done.structured_content["task"]["completed"] is True
            return tid

    tid = asyncio.run(go())
    assert user.get(f"/api/tasks/{tid}").json()["completed"] is True  # the same SQLite store as REST
    r = requests.post(dev.url("/mcp"), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
    assert r.status_code == 401 and "resource_metadata=" in r.headers["www-authenticate"]
