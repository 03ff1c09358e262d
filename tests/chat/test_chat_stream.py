"""POST /api/chat with Accept: text/event-stream: the reply streams as SSE (delta, tool_call,
tool_result, done, error) while Bollard streams from the provider; a client that hangs up cancels
the provider's transfer; SIGTERM lets a streamed chat finish or ends it with an `error` event."""
import json
import socket
import time

import pytest
import requests

import harness
from chatlib import KEY, start_api
from fakellm import Step, stream_chunks
from taskclient import signup


def sse_events(resp):
    """[(event, data)] from a streamed requests response."""
    events, name, data = [], None, []
    for line in resp.iter_lines(decode_unicode=True):
        if line == "":
            if data:
                events.append((name or "message", json.loads("\n".join(data))))
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return events


def stream_chat(user, message, path=None, **kw):
    url = user.base + (path or "/api/chat")
    return requests.post(url, json={"message": message, **kw},
                         headers={"Authorization": f"Bearer {user.token}", "Accept": "text/event-stream"},
                         stream=True, timeout=30)


@pytest.mark.parametrize("repeat_ids", [False, True])
def test_stream_text_and_split_tool_calls(api, provider, user, repeat_ids):
    args = json.dumps({"title": "Stream milk"})
    provider.script(Step(kind="sse", chunks=stream_chunks(["Let me "], [("add_task", args)], repeat_ids=repeat_ids),
                         comments=True),
                    Step(kind="sse", chunks=stream_chunks(["Added ", "Stream ", "milk."]), comments=True))
    r = stream_chat(user, "add Stream milk", path=f"/api/{user.user_id}/chat")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    kinds = [e for e, _ in events]
    assert kinds == ["delta", "tool_call", "tool_result", "delta", "delta", "delta", "done"], events
    assert events[1][1]["name"] == "add_task" and json.loads(events[1][1]["arguments"]) == {"title": "Stream milk"}
    result = events[2][1]
    assert result["is_error"] is False and result["result"]["task"]["title"] == "Stream milk"
    assert "".join(d["text"] for e, d in events if e == "delta") == "Let me Added Stream milk."
    done = events[-1][1]
    assert set(done) == {"conversation_id", "message_id", "response", "tool_calls"}
    assert done["response"] == "Added Stream milk."
    assert done["tool_calls"][0]["id"] == events[1][1]["id"]
    # Bollard asked the provider for a stream
    for req in provider.requests:
        assert req["body"]["stream"] is True
        assert {k.lower(): v for k, v in req["headers"].items()}["accept"] == "text/event-stream"
    # the exchange was stored like a non-streamed one: the next message replays it
    task_id = result["result"]["task"]["id"]
    assert user.get(f"/api/tasks/{task_id}").status_code == 200
    msgs = user.get(f"/api/{user.user_id}/conversations/{done['conversation_id']}").json()["items"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]


def test_stream_errors_are_error_events(api, provider, user):
    provider.script(Step(kind="sse", chunks=stream_chunks(["par"]), error_in_stream={"message": f"boom {KEY}",
                                                                                     "code": 502}))
    events = sse_events(stream_chat(user, "hi"))
    assert [e for e, _ in events] == ["delta", "error"]
    err = events[-1][1]
    assert err["status"] == 502 and KEY not in json.dumps(err)

    provider.script(Step(kind="sse", chunks=stream_chunks(["cut"])[:-1], truncate=True))
    events = sse_events(stream_chat(user, "hi"))
    assert events[-1][0] == "error" and events[-1][1]["status"] == 502

    provider.script(Step(status=429, body={"error": {"message": "slow down"}}, headers={"retry-after": "4"}))
    events = sse_events(stream_chat(user, "hi"))
    assert events == [("error", {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                                 "detail": "the model provider is rate-limiting; retry after the given delay",
                                 "retry_after": 4})]
    # before the stream starts, failures are plain problem responses
    r = stream_chat(user, "")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def raw_stream_request(api, user, message="hi"):
    body = json.dumps({"message": message}).encode()
    s = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    s.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + user.token.encode() +
              b"\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\n\r\n" + body)
    return s


@pytest.mark.parametrize("silent", [False, True])
def test_client_disconnect_cancels_provider_transfer(api, provider, user, silent):
    provider.disconnected.clear()
    if silent:  # nothing to forward: the keep-alive comments reveal the hang-up
        step = Step(kind="sse", delay=20, chunks=stream_chunks(["late"]))
    else:
        step = Step(kind="sse", chunks=stream_chunks(["tick "] * 400), chunk_delay=0.05)
    provider.script(step)
    s = raw_stream_request(api, user)
    got = b""
    while b"200" not in got:
        got += s.recv(4096)
    s.close()
    harness.wait_until(provider.disconnected.is_set, timeout=8, what="the provider's connection closed")
    # the loop is fine and the chat slot was given back
    provider.script(Step(kind="sse", chunks=stream_chunks(["ok"])))
    assert sse_events(stream_chat(user, "again"))[-1][0] == "done"


@pytest.fixture
def short_api(pg, redis, provider):
    b = start_api(pg, redis, "chat_stream_sigterm", LLM_PROVIDER="openai", LLM_BASE_URL=provider.base_url,
                  LLM_MODEL="m", LLM_TIMEOUT_MS="60000", SHUTDOWN_DRAIN_SECONDS="1",
                  SHUTDOWN_TIMEOUT_SECONDS="5")
    yield b
    b.stop()


def test_sigterm_lets_a_streamed_chat_finish(short_api, provider):
    user, _ = signup(short_api.url(""))
    provider.script(Step(kind="sse", delay=1.5, chunks=stream_chunks(["finished"])))
    r = stream_chat(user, "hi")
    assert r.status_code == 200
    short_api.signal()
    events = sse_events(r)
    assert events[-1][0] == "done" and events[-1][1]["response"] == "finished"
    assert short_api.wait(10) == 0
    short_api.assert_sanitizers_clean()


def test_sigterm_ends_a_long_streamed_chat_with_an_error_event(short_api, provider):
    user, _ = signup(short_api.url(""))
    provider.disconnected.clear()
    provider.script(Step(kind="sse", delay=30, chunks=stream_chunks(["never"])))
    r = stream_chat(user, "hi")
    assert r.status_code == 200
    t0 = time.monotonic()
    short_api.signal()
    events = sse_events(r)
    assert events[-1][0] == "error" and events[-1][1]["status"] == 503, events
    assert time.monotonic() - t0 < 5  # before SHUTDOWN_TIMEOUT_SECONDS
    assert short_api.wait(10) == 0
    short_api.assert_sanitizers_clean()
    harness.wait_until(provider.disconnected.is_set, timeout=5, what="the provider's connection closed")
