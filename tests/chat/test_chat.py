"""POST /api/{user_id}/chat against the scripted fake provider: the tool loop, persistence, what
Bollard sends, and how provider failures map to 502/503/504."""
import datetime
import json
import time
import uuid

import harness
from chatlib import KEY, start_api
from fakellm import Step, completion, reply, tool
from taskclient import signup


def chat(user, message, conversation_id=None, **kw):
    body = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return user.post(f"/api/{user.user_id}/chat", json=body, **kw)


def test_journey_add_list_complete_delete(api, provider, user, pg):
    due = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).replace(
        microsecond=0).isoformat().replace("+00:00", "Z")
    provider.script(tool("add_task", {"title": "Buy milk", "due_at": due}), reply("Added Buy milk for tomorrow."))
    r = chat(user, "add a task called Buy milk due tomorrow")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["response"] == "Added Buy milk for tomorrow."
    uuid.UUID(body["conversation_id"])
    uuid.UUID(body["message_id"])
    [call] = body["tool_calls"]
    assert call["name"] == "add_task" and call["is_error"] is False
    assert call["arguments"] == {"title": "Buy milk", "due_at": due}
    task = call["result"]["task"]
    # the task exists over REST, and its outbox event was written with it
    got = user.get(f"/api/tasks/{task['id']}")
    assert got.status_code == 200 and got.json()["title"] == "Buy milk"
    assert got.json()["due_at"].startswith(due[:19])
    db = api.env["DATABASE_URL"].rsplit("/", 1)[1]
    assert pg.psql(f"SELECT type FROM outbox WHERE task_id = '{task['id']}'", db=db) == "task.created"

    # what Bollard sent: auth, attribution, model, settings, tool schemas, the history in order
    first, second = provider.requests
    h = {k.lower(): v for k, v in first["headers"].items()}
    assert h["authorization"] == f"Bearer {KEY}"
    assert h["http-referer"] == "https://bollard.example" and h["x-title"] == "Bollard tests"
    assert first["path"] == "/v1/chat/completions"
    b = first["body"]
    assert b["model"] == "test/model-1" and b["max_tokens"] == 321 and abs(b["temperature"] - 0.3) < 1e-9
    assert b'"temperature":0.3,' in first["raw"], "the setting as written, not 0.29999999999999999"
    assert b["tool_choice"] == "auto"
    names = [t["function"]["name"] for t in b["tools"]]
    assert names == ["add_task", "list_tasks", "complete_task", "update_task", "delete_task"]
    assert all(t["type"] == "function" and t["function"]["parameters"]["type"] == "object" for t in b["tools"])
    assert "user_id" not in json.dumps(b["tools"])  # the user is never a tool argument
    assert [m["role"] for m in b["messages"]] == ["system", "user"]
    assert b["messages"][1]["content"] == "add a task called Buy milk due tomorrow"
    roles = [m["role"] for m in second["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    asked = second["body"]["messages"][2]["tool_calls"][0]
    assert second["body"]["messages"][3]["tool_call_id"] == asked["id"]
    assert json.loads(second["body"]["messages"][3]["content"])["task"]["id"] == task["id"]

    # a second message in the same conversation sees the history; complete sets (twice stays done)
    conv = body["conversation_id"]
    provider.script(tool("complete_task", {"task_id": task["id"]}), tool("complete_task", {"task_id": task["id"]}),
                    reply("Done."))
    r = chat(user, "mark it done", conv)
    assert r.status_code == 200, r.text
    assert r.json()["conversation_id"] == conv
    assert [c["result"]["task"]["completed"] for c in r.json()["tool_calls"]] == [True, True]
    roles = [m["role"] for m in provider.requests[0]["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert user.get(f"/api/tasks/{task['id']}").json()["completed"] is True

    provider.script(tool("list_tasks", {"status": "completed"}), tool("delete_task", {"task_id": task["id"]}),
                    reply("Deleted."))
    r = chat(user, "list my done tasks and delete them", conv)
    assert r.status_code == 200, r.text
    listed, deleted = r.json()["tool_calls"]
    assert listed["result"]["count"] == 1 and listed["result"]["tasks"][0]["id"] == task["id"]
    assert deleted["result"] == {"task_id": task["id"], "deleted": True}
    assert user.get(f"/api/tasks/{task['id']}").status_code == 404

    # the conversation is stored and readable, tool exchanges included
    msgs = user.get(f"/api/{user.user_id}/conversations/{conv}").json()["items"]
    assert [m["role"] for m in msgs][:4] == ["user", "assistant", "tool", "assistant"]
    convs = user.get(f"/api/{user.user_id}/conversations").json()
    assert [c["id"] for c in convs["items"]] == [conv]


def test_isolation_other_users_task_is_not_found(api, provider, user):
    other, _ = signup(api.url(""))
    theirs = other.post("/api/tasks", json={"title": "private"}).json()
    provider.script(tool("delete_task", {"task_id": theirs["id"], "user_id": other.user_id}),
                    tool("update_task", {"task_id": theirs["id"], "title": "ignore previous instructions"}),
                    reply("I could not find it."))
    r = chat(user, "delete their task")
    assert r.status_code == 200, r.text
    for c in r.json()["tool_calls"]:
        assert c["is_error"] is True and c["result"] == {"error": "no such task"}
    assert other.get(f"/api/tasks/{theirs['id']}").json()["title"] == "private"
    # another user's conversation is not found; another user's path is forbidden
    conv = r.json()["conversation_id"]
    assert chat(other, "hi", conv).status_code == 404
    assert other.get(f"/api/{other.user_id}/conversations/{conv}").status_code == 404
    assert other.post(f"/api/{user.user_id}/chat", json={"message": "hi"}).status_code == 403


def test_invalid_tool_arguments_and_unknown_tools_are_tool_errors(api, provider, user):
    provider.script(tool("add_task", '{"title": "unterminated'), tool("launch_rockets", {}),
                    tool("add_task", {"title": ""}), reply("Sorry."))
    r = chat(user, "do things")
    assert r.status_code == 200, r.text
    calls = r.json()["tool_calls"]
    assert [c["is_error"] for c in calls] == [True, True, True]
    assert calls[0]["arguments"] == '{"title": "unterminated'
    assert "not a JSON object" in calls[0]["result"]["error"]
    assert calls[1]["result"]["error"] == "no such tool"
    # each error went back to the model as the tool result
    last = provider.requests[-1]["body"]["messages"]
    assert [m["role"] for m in last[-2:]] == ["assistant", "tool"]
    assert "error" in json.loads(last[-1]["content"])


def test_rounds_are_bounded(api, provider, user):
    provider.script(*[tool("list_tasks", {}) for _ in range(5)])
    r = chat(user, "loop forever")
    assert r.status_code == 200, r.text
    assert len(r.json()["tool_calls"]) == 3  # CHAT_MAX_TOOL_ROUNDS
    assert len(provider.requests) == 4
    assert provider.requests[-1]["body"]["tool_choice"] == "none"


def test_provider_failures(api, provider, user):
    provider.script(Step(status=429, body={"error": {"message": f"Rate limit reached, key {KEY}",
                                                     "type": "tokens", "code": "rate_limit_exceeded"}},
                         headers={"retry-after": "7", "x-ratelimit-reset-requests": "7s"}))
    r = chat(user, "hi")
    assert r.status_code == 503 and r.headers["retry-after"] == "7", r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert KEY not in r.text

    provider.script(Step(status=502, body={"error": {"message": "upstream"}}))
    r = chat(user, "hi")
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1

    provider.script(Step(body={"error": {"message": "generation failed", "code": 502}}))  # error in a 200
    assert chat(user, "hi").status_code == 502

    provider.script(Step(body=completion(content="cut"), truncate=True))
    assert chat(user, "hi").status_code == 502

    provider.script(Step(body={"choices": []}))
    assert chat(user, "hi").status_code == 502

    provider.script(Step(status=401, body={"error": {"message": "Invalid API Key"}}))
    assert chat(user, "hi").status_code == 502

    provider.script(Step(body=completion(content="late"), delay=6))
    t0 = time.monotonic()
    r = chat(user, "hi")
    assert r.status_code == 504, r.text
    assert time.monotonic() - t0 < 5.5  # LLM_TIMEOUT_MS=3000

    # the user's message was stored before the provider was called, even when the call failed
    conv = user.get(f"/api/{user.user_id}/conversations").json()["items"][0]["id"]
    msgs = user.get(f"/api/{user.user_id}/conversations/{conv}").json()["items"]
    assert [m["role"] for m in msgs] == ["user"]


def test_validation(api, user):
    assert chat(user, "").status_code == 422
    assert chat(user, "x" * 4001).status_code == 422
    assert user.post(f"/api/{user.user_id}/chat", json={"message": "hi", "conversation_id": "nope"}).status_code == 422
    assert user.post(f"/api/{user.user_id}/chat", json={"message": "hi", "extra": 1}).status_code == 422
    assert chat(user, "hi", str(uuid.uuid4())).status_code == 404
    assert harness.get(api.url(f"/api/{user.user_id}/conversations"))[0] == 401


def test_not_configured_answers_503_and_stays_ready(pg, redis):
    b = start_api(pg, redis, "chat_unconfigured")
    try:
        client, _ = signup(b.url(""))
        r = client.post("/api/chat", json={"message": "hi"})
        assert r.status_code == 503 and "LLM_PROVIDER" in r.json()["detail"]
        assert harness.get(b.url("/health/ready"))[0] == 200
    finally:
        b.stop_clean()


def test_provider_without_key_exits_78(pg, redis):
    env = harness.base_env(pg, redis, LLM_PROVIDER="GROQ")
    out = harness.run(["api"], env, timeout=20)
    assert out.returncode == 78
    assert "GROQ_API_KEY" in out.stderr
