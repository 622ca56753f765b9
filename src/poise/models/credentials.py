"""Where remote backends get their API key and base URL from.

Kept apart from the adapters (as in pydantic-ai): an adapter takes ``api_key`` and ``base_url`` as
plain arguments, and these resolvers fill in what the caller left out from the environment. One
OpenAI-compatible adapter thus serves OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio and hosted
providers alike -- only the credentials differ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"


@dataclass(frozen=True)
class Credentials:
    """An API key (possibly none, for local servers) and the base URL it is for.

    Attributes:
        base_url: the API root, without a trailing slash.
        api_key: the secret; never shown by ``repr``.
        key_env: the environment variable a user should set to provide the key.
        source: where ``api_key`` came from (``"argument"``, ``"env:OPENAI_API_KEY"`` or ``"none"``).
    """

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    key_env: str = ""
    source: str = "none"

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        return f"Credentials(base_url={self.base_url!r}, api_key={key}, source={self.source!r})"


def _resolve(
    api_key: str | None,
    base_url: str | None,
    env: Mapping[str, str] | None,
    key_env: str,
    url_env: str,
    default_url: str,
) -> Credentials:
    environ = os.environ if env is None else env
    source = "argument"
    if api_key is None:
        api_key = environ.get(key_env) or None
        source = f"env:{key_env}" if api_key else "none"
    url = base_url or environ.get(url_env) or default_url
    return Credentials(base_url=url.rstrip("/"), api_key=api_key, key_env=key_env, source=source)


def resolve_openai_credentials(
    api_key: str | None = None, base_url: str | None = None, env: Mapping[str, str] | None = None
) -> Credentials:
    """Fill in the key from ``OPENAI_API_KEY`` and the URL from ``OPENAI_BASE_URL`` (default OpenAI)."""
    return _resolve(api_key, base_url, env, "OPENAI_API_KEY", "OPENAI_BASE_URL", OPENAI_DEFAULT_BASE_URL)


def resolve_anthropic_credentials(
    api_key: str | None = None, base_url: str | None = None, env: Mapping[str, str] | None = None
) -> Credentials:
    """Fill in the key from ``ANTHROPIC_API_KEY`` and the URL from ``ANTHROPIC_BASE_URL``."""
    return _resolve(
        api_key, base_url, env, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ANTHROPIC_DEFAULT_BASE_URL
    )
