"""POST /mcp through the official `mcp` Python client (pinned in .ci/install-deps) in the handshake
era ("legacy") and the 2026-07-28 revision: every tool listed and called, results with
structuredContent matching outputSchema, tool failures isError, an unknown tool −32602; the bearer
token (401 with RFC 9728 metadata), Origin (403), GET/DELETE 405, batches refused, header checks."""
import asyncio
import base64
import json
import socket

import httpx2
import jsonschema
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client



def run(coro):
    return asyncio.run(coro)


def client(api, token, mode, headers=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    transport = streamable_http_client(api.url("/mcp"), http_client=httpx2.AsyncClient(headers=h, timeout=10))
    return Client(transport, mode=mode, raise_exceptions=True)


# legacy: the initialize handshake; auto: server/discover first (the client adopts 2026-07-28 from
# its answer); 2026-07-28: the version pinned, no discovery.
@pytest.mark.parametrize("mode", ["legacy", "auto", "2026-07-28"])
def test_list_and_call_every_tool(api, user, mode):
    async def go():
        async with client(api, user.token, mode) as c:
            assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            if mode != "2026-07-28":  # a pinned client never asks who the server is
                assert c.server_info.name == "bollard" and "list_tasks" in c.instructions
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
    # NUL in the method or the id, an id beyond 64 bits: not a request; NUL in an argument: the tool's
    for body in ('{"jsonrpc":"2.0","id":1,"method":"tools/list\\u0000x"}',
                 '{"jsonrpc":"2.0","id":"a\\u0000","method":"tools/list"}',
                 '{"jsonrpc":"2.0\\u0000","id":1,"method":"tools/list"}',
                 '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"tools/list"}',
                 '{"jsonrpc":"2.0","id":1.5,"method":"tools/list","x":123456789012345678901234567890}'):
        r = requests.post(api.url("/mcp"), data=body, headers={"Authorization": f"Bearer {user.token}"}, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == -32600, body
    r = requests.post(api.url("/mcp"), headers={"Authorization": f"Bearer {user.token}"}, timeout=10,
                      data='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_task",'
                           '"arguments":{"title":"a\\u0000b"}}}')
    assert r.status_code == 200 and r.json()["result"]["isError"] is True
    # a tool name with a NUL is no tool's name
    r = requests.post(api.url("/mcp"), headers={"Authorization": f"Bearer {user.token}"}, timeout=10,
                      data='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks\\u0000x"}}')
    assert r.status_code == 200 and r.json()["error"]["code"] == -32602
    # a number beyond 64 bits elsewhere than the id is no reason to refuse the request
    r = requests.post(api.url("/mcp"), headers={"Authorization": f"Bearer {user.token}"}, timeout=10,
                      data='{"jsonrpc":"2.0","id":42,"method":"ping","x":{"y":523124609309911678976}}')
    assert r.status_code == 200 and r.json() == {"jsonrpc": "2.0", "id": 42, "result": {}}
    # an integer id written as a real is JSON Schema's integer (the document's type for the id): it is
    # answered as that integer; a fractional id or one beyond 2^53 - 1 is refused
    for raw, answered in (("-1791031.0", -1791031), ("1e3", 1000), ("0.0", 0)):
        r = requests.post(api.url("/mcp"), headers={"Authorization": f"Bearer {user.token}"}, timeout=10,
                          data='{"jsonrpc":"2.0","id":%s,"method":"ping"}' % raw)
        assert r.status_code == 200 and r.json() == {"jsonrpc": "2.0", "id": answered, "result": {}}, raw
    for raw in ("1.5", "9007199254740992.0", "-1e300"):
        r = requests.post(api.url("/mcp"), headers={"Authorization": f"Bearer {user.token}"}, timeout=10,
                          data='{"jsonrpc":"2.0","id":%s,"method":"ping"}' % raw)
        assert r.status_code == 400 and r.json()["error"]["code"] == -32600, raw
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


def test_origin_checked(api, user, frontend):
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"Origin": frontend})
    assert r.status_code == 200

    async def evil():
        async with client(api, user.token, "2026-07-28", {"Origin": "http://evil.example"}) as c:
            await c.list_tools()

    with pytest.raises(Exception):
        run(evil())


def test_accept_must_allow_json(api, user):
    """Replies are JSON: an Accept that rules JSON out is 406; what real clients send, and no Accept
    at all, are served."""
    req = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    for accept in ("text/event-stream", "text/html", "image/png, text/plain"):
        r = rpc(api, user.token, req, {"Accept": accept})
        assert r.status_code == 406, accept
        assert r.json()["error"]["code"] == -32600 and "application/json" in r.json()["error"]["message"]
    for accept in ("application/json, text/event-stream", "application/json", "*/*", "application/*"):
        assert rpc(api, user.token, req, {"Accept": accept}).status_code == 200, accept
    r = requests.post(api.url("/mcp"), json=req, timeout=10,
                      headers={"Authorization": f"Bearer {user.token}", "Accept": None})
    assert r.status_code == 200


MODERN_HEADERS = {"MCP-Protocol-Version": "2026-07-28"}


def test_modern_results_and_ladder(api, user):
    """2026-07-28 details the client does not show: every result's resultType and serverInfo stamp,
    the list's cache hints, and the order of the checks (envelope, headers, version)."""
    r = rpc(api, user.token, modern("tools/list"), {**MODERN_HEADERS, "Mcp-Method": "tools/list"})
    res = r.json()["result"]
    assert r.status_code == 200 and res["resultType"] == "complete"
    assert res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "bollard"
    assert res["ttlMs"] >= 0 and res["cacheScope"] in ("private", "public")
    r = rpc(api, user.token, modern("tools/call", {"name": "list_tasks", "arguments": {}}),
            {**MODERN_HEADERS, "Mcp-Method": "tools/call", "Mcp-Name": "list_tasks"})
    res = r.json()["result"]
    assert r.status_code == 200 and res["resultType"] == "complete" and res["isError"] is False
    assert res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "bollard"
    # Mcp-Name in the base64 sentinel form clients use for values that are not plain ASCII
    enc = "=?base64?" + base64.b64encode(b"list_tasks").decode() + "?="
    r = rpc(api, user.token, modern("tools/call", {"name": "list_tasks", "arguments": {}}),
            {**MODERN_HEADERS, "Mcp-Method": "tools/call", "Mcp-Name": enc})
    assert r.status_code == 200, r.text
    for bad in ("=?base64?bGlzdF90YXNrcw?=", "=?base64?!!!!?=", "=?base64?bGlzdF90YXNrcx==?="):
        r = rpc(api, user.token, modern("tools/call", {"name": "list_tasks"}),
                {**MODERN_HEADERS, "Mcp-Method": "tools/call", "Mcp-Name": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32020, bad
    # a missing Mcp-Method or Mcp-Name is a mismatch too
    r = rpc(api, user.token, modern("tools/list"), MODERN_HEADERS)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = rpc(api, user.token, modern("tools/call", {"name": "list_tasks"}), {**MODERN_HEADERS, "Mcp-Method": "tools/call"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    # the body says 2026-07-28, no MCP-Protocol-Version header
    r = rpc(api, user.token, modern("tools/list"), {"Mcp-Method": "tools/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020 and r.json()["id"] == 7
    # the header names a 2026 revision, the body has no envelope: the envelope check answers
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 8, "method": "tools/list"},
            {**MODERN_HEADERS, "Mcp-Method": "tools/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 8, "method": "tools/list"}, {"MCP-Protocol-Version": "1999-01-01"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602
    # a routing header twice (raw request: requests folds duplicates)
    raw = json.dumps(modern("tools/list")).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {user.token}\r\n"
            "Content-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            "Mcp-Method: tools/list\r\nMcp-Method: tools/list\r\n"
            f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n").encode()
    status, body = raw_http(api, head + raw)
    assert status == 400 and json.loads(body)["error"]["code"] == -32020
    # handshake-era methods are not 2026-07-28 ones
    for m in ("initialize", "ping"):
        r = rpc(api, user.token, modern(m), {**MODERN_HEADERS, "Mcp-Method": m})
        assert r.status_code == 404 and r.json()["error"]["code"] == -32601
    # notifications: 202, unless the header names a version this server does not serve
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert rpc(api, user.token, note, MODERN_HEADERS).status_code == 202
    assert rpc(api, user.token, note, {"MCP-Protocol-Version": "2025-06-18"}).status_code == 202
    r = rpc(api, user.token, note, {"MCP-Protocol-Version": "2099-01-01"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32022
    assert r.json()["error"]["data"] == {"supported": ["2026-07-28"], "requested": "2099-01-01"}


def raw_http(api, data):
    """(status, body) of one raw HTTP/1.1 exchange (Connection: close)."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_legacy_handshake_raw(api, user):
    """initialize answers the version asked for when it knows it, else its latest; tools/list and
    tools/call in the handshake era carry no 2026 fields."""
    for asked, got in (("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2030-01-01", "2025-11-25")):
        r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                  "params": {"protocolVersion": asked, "capabilities": {},
                                             "clientInfo": {"name": "t", "version": "0"}}})
        res = r.json()["result"]
        assert r.status_code == 200 and res["protocolVersion"] == got
        assert res["capabilities"]["tools"] == {"listChanged": False} and res["serverInfo"]["name"] == "bollard"
        assert "mcp-session-id" not in r.headers  # stateless: no sessions
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"MCP-Protocol-Version": "2025-06-18"})
    res = r.json()["result"]
    assert "resultType" not in res and "ttlMs" not in res and len(res["tools"]) == 5
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                              "params": {"name": "add_task", "arguments": {"title": ""}}})
    res = r.json()["result"]
    assert r.status_code == 200 and res["isError"] is True and "structuredContent" not in res
    r = rpc(api, user.token, {"jsonrpc": "2.0", "id": 4, "method": "nope"})
    assert r.status_code == 200 and r.json()["error"]["code"] == -32601


def test_browser_preflight_allows_the_mcp_headers(api, frontend):
    r = requests.options(api.url("/mcp"), headers={
        "Origin": frontend, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version, mcp-method, mcp-name"},
        timeout=10)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == frontend
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name"} <= allowed
    r = rpc(api, None, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Origin": frontend})
    assert r.status_code == 401 and "www-authenticate" in r.headers["access-control-expose-headers"].lower()
