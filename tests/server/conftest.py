"""Fixtures for the gateway tests: a config builder, an in-process ASGI client, scripted backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from poise.models.scripted import ScriptedModel
from poise.server import GatewayConfig, create_app, hash_key

KEY = "sk-poise-test-acme-0123456789"
OPS_KEY = "sk-poise-test-ops-0123456789"
OTHER_KEY = "sk-poise-test-globex-0123456789"


def gateway_config(tmp_path: Path, **overrides: Any) -> GatewayConfig:
    """A config with a scripted backend, two models and two tenants with keys."""
    data: dict[str, Any] = {
        "backends": {"s": {"model": "scripted"}},
        "models": [
            {"id": "bank", "persona": "bank-support", "backend": "s"},
            {"id": "tutor", "persona": "coding-tutor", "backend": "s"},
        ],
        "audit": {"path": str(tmp_path / "audit.db")},
        "tenants": {
            "acme": {
                "tier": "customer",
                "models": ["bank"],
                "keys": [
                    {"id": "acme-prod", "sha256": hash_key(KEY)},
                    {"id": "acme-ops", "sha256": hash_key(OPS_KEY), "tier": "internal"},
                ],
            },
            "globex": {"keys": [{"id": "globex-web", "sha256": hash_key(OTHER_KEY)}]},
        },
    }
    for key, value in overrides.items():
        if key in ("server", "auth", "guard", "sessions", "audit") and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return GatewayConfig.model_validate(data)


class Gateway:
    """An app plus an httpx client bound to it, lifespan started."""

    def __init__(self, app: Any, client: httpx.AsyncClient, model: Any) -> None:
        self.app = app
        self.client = client
        self.model = model

    async def chat(self, text: str = "hello", *, key: str | None = KEY, **body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(body.pop("headers", {}))
        payload = {"model": "bank", "messages": [{"role": "user", "content": text}], **body}
        return await self.client.post("/v1/chat/completions", json=payload, headers=headers)


MakeGateway = Callable[..., Any]


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[MakeGateway]:
    """``await make_gateway(model=..., host=..., **config overrides)`` → a running :class:`Gateway`."""
    stack: list[Any] = []

    async def make(
        model: Any = None, *, host: str = "127.0.0.1", pipeline: Any = None, **overrides: Any
    ) -> Gateway:
        backend = model if model is not None else ScriptedModel()
        app = create_app(
            gateway_config(tmp_path, **overrides), models={"s": backend}, host=host, pipeline=pipeline
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway")
        stack.append((lifespan, client))
        return Gateway(app, client, backend)

    yield make
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def sse_events(text: str) -> list[Any]:
    """The JSON payloads of an SSE body (``[DONE]`` as the string)."""
    import json

    out: list[Any] = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out
