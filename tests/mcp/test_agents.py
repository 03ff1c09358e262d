"""An `openai-agents` agent (pinned in .ci/install-deps) with its streamable-HTTP MCP connection
pointed at Bollard's /mcp and its model at the fake provider (tests/lib/fakellm.py): the agent lists
Bollard's tools over MCP, hands them to the model, runs the model's tool call through /mcp and
gives the model the result."""
import asyncio
import json

from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI

from fakellm import reply, tool


def test_agent_uses_bollard_tools_over_mcp(api, user, provider):
    set_tracing_disabled(True)  # no trace export: loopback only
    provider.script(tool("add_task", {"title": "Agent task"}), reply("Added it."))

    async def go():
        model = OpenAIChatCompletionsModel(
            model="test/model-1",
            openai_client=AsyncOpenAI(base_url=provider.base_url, api_key="sk-agent-test", max_retries=0,
                                      timeout=10))
        async with MCPServerStreamableHttp(
                {"url": api.url("/mcp"), "headers": {"Authorization": f"Bearer {user.token}"}, "timeout": 10},
                name="bollard") as server:
            agent = Agent(name="tasks", instructions="Manage the user's tasks.", model=model,
                          mcp_servers=[server])
            return await Runner.run(agent, "add a task called Agent task")

    result = asyncio.run(go())
    assert result.final_output == "Added it."
    first, second = provider.requests[0]["body"], provider.requests[1]["body"]
    names = {t["function"]["name"] for t in first["tools"]}
    assert names == {"add_task", "list_tasks", "complete_task", "update_task", "delete_task"}
    tool_msg = [m for m in second["messages"] if m["role"] == "tool"][0]
    assert "Agent task" in json.dumps(tool_msg["content"])
    items = user.get("/api/tasks").json()["items"]
    assert [t["title"] for t in items] == ["Agent task"]  # written through /mcp into the same store
