"""The fake provider stays faithful: the official `openai` SDK parses everything it sends."""
import openai
import pytest

from fakellm import Step, completion, stream_chunks


@pytest.fixture
def client(provider):
    return openai.OpenAI(base_url=provider.base_url, api_key="sk-test", max_retries=0, timeout=5)


def test_sdk_parses_completions_and_tool_calls(provider, client):
    provider.script(Step(body=completion(tool_calls=[("add_task", '{"title":"x"}')])),
                    Step(body=completion(content="hello")))
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "add_task" and call.function.arguments == '{"title":"x"}'
    assert r.choices[0].finish_reason == "tool_calls"
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "hello"


@pytest.mark.parametrize("repeat_ids", [False, True])
def test_sdk_parses_streams_with_split_tool_deltas(provider, client, repeat_ids):
    chunks = stream_chunks(["Hel", "lo"], [("add_task", '{"title": "Buy milk"}')], repeat_ids=repeat_ids)
    provider.script(Step(kind="sse", chunks=chunks, comments=True))
    text, args, names = "", "", set()
    for ev in client.chat.completions.create(model="m", messages=[], stream=True):
        d = ev.choices[0].delta
        text += d.content or ""
        for tc in d.tool_calls or []:
            names.add(tc.function.name) if tc.function and tc.function.name else None
            args += (tc.function.arguments or "") if tc.function else ""
    assert text == "Hello" and names == {"add_task"}
    if not repeat_ids:
        assert args == '{"title": "Buy milk"}'


def test_sdk_sees_errors(provider, client):
    provider.script(Step(status=429, body={"error": {"message": "slow down", "type": "tokens"}},
                         headers={"retry-after": "3"}))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[])
    provider.script(Step(kind="sse", chunks=stream_chunks(["a"]), error_in_stream={"message": "boom", "code": 502}))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="m", messages=[], stream=True):
            pass
