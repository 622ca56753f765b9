"""Pin the public API of ``poise.models``."""

from __future__ import annotations

import poise.models


def test_exported_members() -> None:
    assert sorted(poise.models.__all__) == [
        "AnthropicModel",
        "BackendInfo",
        "ChatChunk",
        "ChatMessage",
        "ChatModel",
        "ChatResponse",
        "Credentials",
        "FinishReason",
        "GenerationParams",
        "HttpSettings",
        "LocalModel",
        "ModelSpec",
        "OpenAICompatibleModel",
        "RetryPolicy",
        "Role",
        "ScriptedCall",
        "ScriptedModel",
        "Usage",
        "available_backends",
        "embedded_model_path",
        "resolve_anthropic_credentials",
        "resolve_model",
        "resolve_openai_credentials",
    ]
    for name in poise.models.__all__:
        assert getattr(poise.models, name) is not None
