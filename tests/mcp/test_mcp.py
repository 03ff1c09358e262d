"""POST /mcp through the official `mcp` Python client (pinned in .ci/install-deps) in the handshake
era ("legacy") and the 2026-07-28 revision: every tool listed and called, results with
structuredContent matching outputSchema, tool failures isError, an unknown tool −32602; the bearer
token (401 with RFC 9728 metadata), Origin (403), GET/DELETE 405, batches refused, header checks."""
import asyncio
import json
import uuid

import httpx2
import jsonschema
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

import harness
from taskclient import signup


def run(coro):
    return asyncio.run(coro)


def client(api, token, mode, headers=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    transport = streamable_http_client(api.url("/mcp"), http_client=httpx2.AsyncClient(headers=h, timeout=10))
    return Client(transport, mode=mode, raise_exceptions=True)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_list_and_call_every_tool(api, user, mode):
    async def go():
        async with client(api, user.token, mode) as c:
            tools = (await c.list_tools()).tools
            by_name = {t.name: t for t in tools}
            assert list(by_name) == ["add_task", "list_tasks", "complete_task", "update_task", "delete_task"]
            assert all(t.output_schema and t.input_schema["type"] == "object" for t in tools)
            assert "user_id" not in json.dumps([t.input_schema for t in tools])
            results = {}
            r = await c.call_tool("add_task", {"title": f"mcp {mode}"})
            results["add_task"] = r
            tid = r.structured_content["task"]["id"]
            results["list_tasks"] = await c.call_tool("list_tasks", {"status": "pending"})
            results["complete_task"] = await c.call_tool("complete_task", {"task_id": tid})
            results["update_task"] = await c.call_tool("update_task", {"task_id": tid, "title": "renamed"})
            results["delete_task"] = await c.call_tool("delete_task", {"task_id": tid})
            for name, r in results.items():
                assert r.is_error is False, (name, r)
                jsonschema.validate(r.structured_content, by_name[name].output_schema)
                assert json.loads(r.content[0].text) == r.structured_content
            assert results["complete_task"].structured_content["task"]["completed"] is True
            missing = await c.call_tool("delete_task", {"task_id": tid})
            assert missing.is_error is True and "no such task" in missing.content[0].text
            return tid

    tid = run(go())
    assert user.get(f"/api/tasks/{tid}").status_code == 404  # the same store as REST


def rpc(api, token, body, headers=None):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    return requests.post(api.url("/mcp"), data=json.dumps(body), headers=h, timeout=10)


def modern(method, params=None, version="2026-07-28"):
    p = dict(params or {})
    p["_meta"] = {"io.modelcontextprotocol/protocolVersion": version,
                  "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": p}


def test_unknown_tool_and_protocol_errors(api, user):
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}})
    assert r.status_code == 200 and r.json()["error"]["code"] == -32602
    r = rpc(api, user.token, modern("tools/call", {"name": "nope"}),
            {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "nope"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602
    # header checks
    r = rpc(api, user.token, modern("tools/list"), {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = rpc(api, user.token, modern("tools/call", {"name": "list_tasks"}),
            {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "add_task"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = rpc(api, user.token, modern("tools/list", version="2099-01-01"),
            {"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32022
    assert r.json()["error"]["data"]["supported"] == ["2026-07-28"]
    r = rpc(api, user.token, modern("nope/nope"), {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "nope/nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == -32601
    r = rpc(api, user.token, modern("server/discover"),
            {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"})
    assert r.status_code == 200 and r.json()["result"]["supportedVersions"] == ["2026-07-28"]
    # notifications, ping, batches, not JSON, GET/DELETE
    r = rpc(api, user.token, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert r.status_code == 202 and r.content == b""
    assert rpc(api, user.token, {"jsonrpc": "2.0", "id": "p", "method": "ping"}).json() == \
        {"jsonrpc": "2.0", "id": "p", "result": {}}
    r = rpc(api, user.token, [{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = requests.post(api.url("/mcp"), data="{", headers={"Authorization": f"Bearer {user.token}"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    for m in ("GET", "DELETE"):
        assert requests.request(m, api.url("/mcp"), headers={"Authorization": f"Bearer {user.token}"},
                                timeout=10).status_code == 405


def test_token_required_with_protected_resource_metadata(api, user):
    for token in (None, "not-a-jwt"):
        r = rpc(api, token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401
        origin = api.url("")
        assert r.headers["www-authenticate"] == \
            f'Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource"'
    meta = requests.get(api.url("/.well-known/oauth-protected-resource"), timeout=10).json()
    assert meta["resource"] == api.url("/mcp") and meta["bearer_methods_supported"] == ["header"]

    async def no_token():
        async with client(api, None, "legacy") as c:
            await c.list_tools()

    with pytest.raises(Exception):
        run(no_token())


def test_origin_checked(api, user):
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"Origin": "http://console.example"})  # FRONTEND_URL
    assert r.status_code == 200

    async def evil():
        async with client(api, user.token, "2026-07-28", {"Origin": "http://evil.example"}) as c:
            await c.list_tools()

    with pytest.raises(Exception):
        run(evil())
