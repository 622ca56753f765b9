"""Model specs and the backend listing behind ``poise models``."""

from __future__ import annotations

import pytest

from poise.errors import ConfigError, ModelAuthError, ModelFileMissingError
from poise.models import (
    AnthropicModel,
    LocalModel,
    OpenAICompatibleModel,
    ScriptedModel,
    available_backends,
    resolve_model,
)
from poise.models.registry import ModelSpec


@pytest.mark.parametrize(
    ("spec", "scheme", "target"),
    [
        ("local", "local", ""),
        ("local:/m/x.gguf", "local", "/m/x.gguf"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("OpenAI:llama3.1:8b", "openai", "llama3.1:8b"),
        ("anthropic:claude-x", "anthropic", "claude-x"),
        ("scripted", "scripted", ""),
    ],
)
def test_parse(spec: str, scheme: str, target: str) -> None:
    assert ModelSpec.parse(spec) == ModelSpec(scheme, target)


def test_unknown_scheme_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_model("gemini:pro")
    message = str(caught.value)
    assert "'gemini'" in message
    for form in ("local", "openai:<model>", "anthropic:<model>", "scripted"):
        assert form in message


@pytest.mark.parametrize("spec", ["openai:", "anthropic: "])
def test_missing_model_name(spec: str) -> None:
    with pytest.raises(ConfigError, match="names no model"):
        resolve_model(spec)


def test_unknown_option_is_rejected_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="no option 'temprature'") as caught:
        resolve_model("scripted", temprature=0.1)
    assert "context_window" in str(caught.value)


def test_scripted() -> None:
    model = resolve_model("scripted", replies=["x"], context_window=10)
    assert isinstance(model, ScriptedModel)
    assert model.context_window == 10


def test_openai_from_options_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = resolve_model("openai:qwen2.5", context_window=32768)
    assert isinstance(model, OpenAICompatibleModel)
    assert (model.model_id, model.base_url, model.context_window) == (
        "qwen2.5",
        "http://localhost:8000/v1",
        32768,
    )
    other = resolve_model("openai:gpt-4o", base_url="https://api.openai.com/v1", api_key="sk-x")
    assert isinstance(other, OpenAICompatibleModel)
    assert other.base_url == "https://api.openai.com/v1"


def test_openai_without_key_fails_at_resolve_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelAuthError, match="OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o-mini")


def test_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    model = resolve_model("anthropic:claude-x")
    assert isinstance(model, AnthropicModel)
    assert model.base_url == "https://api.anthropic.com/v1"


def test_local_spec_with_missing_file(tmp_path) -> None:
    with pytest.raises(ModelFileMissingError, match="no GGUF model file"):
        resolve_model(f"local:{tmp_path / 'nope.gguf'}")


def test_local_spec_does_not_load_the_model() -> None:
    model = resolve_model("local", n_ctx=1024)
    assert isinstance(model, LocalModel)
    assert model.context_window == 1024
    assert model._loaded is None


def test_available_backends_reports_what_is_configured() -> None:
    env = {"OPENAI_BASE_URL": "http://localhost:11434/v1"}
    infos = {info.name: info for info in available_backends(env)}
    assert list(infos) == ["local", "openai", "anthropic", "scripted"]
    assert infos["openai"].configured
    assert "localhost:11434" in infos["openai"].detail
    assert not infos["anthropic"].configured
    assert "ANTHROPIC_API_KEY" in infos["anthropic"].detail
    assert infos["scripted"].configured
    assert infos["local"].configured
    assert infos["local"].detail.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_available_backends_never_shows_keys() -> None:
    infos = available_backends({"OPENAI_API_KEY": "sk-hidden-1", "ANTHROPIC_API_KEY": "sk-hidden-2"})
    assert all(info.configured for info in infos)
    assert not any("sk-hidden" in f"{info!r}" for info in infos)
