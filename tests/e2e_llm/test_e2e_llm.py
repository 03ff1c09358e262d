"""One non-streaming chat turn through POST /api/chat against a real model (SmolLM2-135M-Instruct
behind llama-cpp-python's OpenAI-compatible server): the model calls add_task, Bollard runs it, and
the task is there over REST. What the fake-provider suite (tests/chat) cannot show: that a real
server's requests and answers — its tool-call ids, its argument strings, its finish reasons — go
through Bollard's client and tool loop. No retry: the model decodes greedily (TEMPERATURE=0) with a
fixed seed, so the same request gets the same answer; a failure is a real one."""
import time

from e2ellm import report
from taskclient import signup


def test_add_task_round_trip(api):
    user, _ = signup(api.url(""))
    started = time.monotonic()
    r = user.s.post(api.url("/api/chat"), json={"message": "add a task called buy milk"}, headers=user.h(),
                    timeout=180)
    round_trip_s = time.monotonic() - started
    report(step="chat_round_trip", seconds=round(round_trip_s, 2), status=r.status_code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["response"], str)
    calls = body["tool_calls"]
    assert calls, f"the model answered without calling a tool: {body['response']!r}"
    call = calls[0]
    assert call["name"] == "add_task", calls
    assert call["is_error"] is False, call
    assert "milk" in call["arguments"]["title"].lower(), call
    task = call["result"]["task"]

    # the task exists over REST, the token's user's, with the title the model gave it
    got = user.get(f"/api/tasks/{task['id']}")
    assert got.status_code == 200, got.text
    assert got.json()["title"] == call["arguments"]["title"]
    listed = user.get("/api/tasks")
    assert listed.status_code == 200, listed.text
    assert task["id"] in [t["id"] for t in listed.json()["items"]]

    # the turn is stored: user message, the tool round, the answer
    conv = user.get(f"/api/{user.user_id}/conversations/{body['conversation_id']}")
    assert conv.status_code == 200, conv.text
