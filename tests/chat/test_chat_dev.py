"""The assistant under `bollard dev` (SQLite): the same tool loop and stored conversation."""
import os
import tempfile

from devlib import dev_env, start_dev, stop, wait_ready
from fakellm import reply, tool
from taskclient import signup


def test_chat_on_sqlite(provider):
    d = tempfile.mkdtemp(prefix="bollard-chat-dev-")
    env = dev_env(os.path.join(d, "dev.db"), LLM_PROVIDER="OPENAI", LLM_BASE_URL=provider.base_url,
                  LLM_MODEL="local", ACCESS_LOG="false")
    b = start_dev(env)
    try:
        wait_ready(b)
        user, _ = signup(b.url(""))
        provider.script(tool("add_task", {"title": "Water plants"}), reply("Added."))
        r = user.post("/api/chat", json={"message": "add a task called Water plants"})
        assert r.status_code == 200, r.text
        task = r.json()["tool_calls"][0]["result"]["task"]
        assert user.get(f"/api/tasks/{task['id']}").json()["title"] == "Water plants"
        assert "authorization" not in {k.lower() for k in provider.requests[0]["headers"]}  # no key: none sent
        conv = r.json()["conversation_id"]
        provider.script(tool("complete_task", {"task_id": task["id"], "completed": True}), reply("Done."))
        r = user.post("/api/chat", json={"message": "done", "conversation_id": conv})
        assert r.status_code == 200, r.text
        roles = [m["role"] for m in provider.requests[0]["body"]["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
        msgs = user.get(f"/api/{user.user_id}/conversations/{conv}").json()["items"]
        assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"] * 2
        assert msgs[1]["tool_calls"][0]["name"] == "add_task"
        page = user.get(f"/api/{user.user_id}/conversations?limit=1").json()
        assert [c["id"] for c in page["items"]] == [conv] and page["next_cursor"] is None
        assert user.delete(f"/api/{user.user_id}/conversations/{conv}").status_code == 204
        assert user.get(f"/api/{user.user_id}/conversations/{conv}").status_code == 404
    finally:
        assert stop(b) == 0
