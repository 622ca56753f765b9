"""Model backends behind one :class:`ChatModel` protocol.

Pick one with :func:`resolve_model` (``"local"``, ``"openai:gpt-4o-mini"``, ``"anthropic:<model>"``,
``"scripted"``) or build a class directly. All of them are async, stream, report usage and stop when
the awaiting task is cancelled. Failures are the typed errors of :mod:`poise.errors`.
"""

from poise.models.anthropic_messages import AnthropicModel
from poise.models.credentials import Credentials, resolve_anthropic_credentials, resolve_openai_credentials
from poise.models.http import HttpSettings, RetryPolicy
from poise.models.local import LocalModel, embedded_model_path
from poise.models.openai_compat import OpenAICompatibleModel
from poise.models.registry import BackendInfo, ModelSpec, available_backends, resolve_model
from poise.models.scripted import ScriptedCall, ScriptedModel
from poise.models.types import (
    ChatChunk,
    ChatMessage,
    ChatModel,
    ChatResponse,
    FinishReason,
    GenerationParams,
    Role,
    Usage,
)

__all__ = [
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
