"""The scripted test double."""

from __future__ import annotations

import asyncio

import pytest

from poise.errors import ModelError, ModelRateLimitError
from poise.models import ChatMessage, ChatModel, GenerationParams, ScriptedModel, Usage

HI = [ChatMessage("system", "be kind"), ChatMessage("user", "hi there")]


def test_is_a_chat_model() -> None:
    assert isinstance(ScriptedModel(), ChatModel)


async def test_replies_in_order_and_records_calls() -> None:
    model = ScriptedModel(["one", "two"])
    params = GenerationParams(temperature=0.0)
    assert (await model.generate(HI, params)).text == "one"
    assert (await model.generate(HI)).text == "two"
    assert [c.messages for c in model.calls] == [tuple(HI), tuple(HI)]
    assert model.calls[0].params is params
    assert model.last_call.params == GenerationParams()
    with pytest.raises(ModelError, match="2 replies but was called 3 times"):
        await model.generate(HI)


async def test_default_reply_echoes_the_last_user_message() -> None:
    assert (await ScriptedModel().generate(HI)).text == "echo: hi there"


async def test_reply_function_sync_and_async() -> None:
    def shout(messages, params):
        return messages[-1].content.upper()

    async def later(messages, params):
        await asyncio.sleep(0)
        return f"{len(messages)} messages"

    assert (await ScriptedModel(shout).generate(HI)).text == "HI THERE"
    assert (await ScriptedModel(later).generate(HI)).text == "2 messages"


async def test_raises_the_given_error_on_the_given_call() -> None:
    error = ModelRateLimitError("slow down", retry_after=1.0)
    model = ScriptedModel(["a", "b"], errors={1: error})
    assert (await model.generate(HI)).text == "a"
    with pytest.raises(ModelRateLimitError):
        await model.generate(HI)
    assert len(model.calls) == 2


async def test_usage_counts_words() -> None:
    response = await ScriptedModel(["three word reply"]).generate(HI)
    assert response.usage == Usage(prompt_tokens=4, completion_tokens=3)
    assert response.finish_reason == "stop"
    assert response.model == "scripted"


async def test_max_tokens_and_stop_shape_the_reply() -> None:
    model = ScriptedModel(["one two three four", "keep this STOP not this"])
    cut = await model.generate(HI, GenerationParams(max_tokens=2))
    assert (cut.text, cut.finish_reason, cut.usage.completion_tokens) == ("one two", "length", 2)
    stopped = await model.generate(HI, GenerationParams(stop=("STOP",)))
    assert stopped.text == "keep this "


async def test_streams_word_by_word() -> None:
    model = ScriptedModel(["Hello  brave new\nworld"], context_window=99)
    chunks = [c async for c in model.stream(HI)]
    assert [c.delta for c in chunks] == ["Hello  ", "brave ", "new\n", "world", ""]
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(4, 4)
    assert model.calls[0].streamed
    assert model.context_window == 99


async def test_stream_can_be_cancelled() -> None:
    model = ScriptedModel(["a b c d e f"], stream_delay=10)
    stream = model.stream(HI)
    task = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await stream.aclose()


def test_count_tokens() -> None:
    assert ScriptedModel().count_tokens("  a b\tc\n") == 3
    assert ScriptedModel().count_tokens("") == 0
