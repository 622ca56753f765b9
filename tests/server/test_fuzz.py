"""Fuzzing the gateway from its own OpenAPI document (schemathesis): no input yields a 5xx.

Every operation in ``/openapi.json`` gets generated requests -- valid ones and, through the
``negative`` mode, ones that break the schema -- against the ASGI app with a scripted backend,
the default guard policy, sessions and an audit store. ``not_a_server_error`` fails on any 5xx.
Examples per operation are bounded so the whole file runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from poise.models.scripted import ScriptedModel  # noqa: E402
from poise.server import GatewayConfig, create_app  # noqa: E402

CONFIG = GatewayConfig.model_validate(
    {
        "backends": {"s": {"model": "scripted"}},
        "models": [
            {"id": "bank", "persona": "bank-support", "backend": "s"},
            {"id": "tutor", "persona": "coding-tutor", "backend": "s"},
        ],
        "audit": {"path": ":memory:"},
    }
)
gateway_app = create_app(CONFIG, models={"s": ScriptedModel()}, host="127.0.0.1")
_started: list[Any] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The gateway with its lifespan started once for the module.

    schemathesis ends an ASGI app's lifespan after every test item (of any module) and starts it
    again for the next; a served gateway starts once and stops once, so that is what this does.
    """
    if scope["type"] != "lifespan":
        await gateway_app(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if not _started:
                lifespan = gateway_app.router.lifespan_context(gateway_app)
                await lifespan.__aenter__()
                _started.append(lifespan)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@pytest.fixture(scope="module", autouse=True)
def _stop_gateway_after_the_module() -> Iterator[None]:
    yield
    if _started:  # on the event loop thread schemathesis runs ASGI apps on, where it started
        from schemathesis.python import asgi

        asgi._get_portal().call(_started.pop().__aexit__, None, None, None)


schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_makes_the_gateway_answer_5xx(case):
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        # A random model id is a 404 before anything interesting runs; aim at a real route so
        # generated messages, parameters and streams go through rails, model and audit.
        messages = body.get("messages")
        if len(body["model"]) % 2 and isinstance(messages, list):
            messages.append({"role": "user", "content": str(body["model"])})  # past the first 400
        body["model"] = "bank" if len(body["model"]) % 4 else "tutor"
    case.call_and_validate(checks=[not_a_server_error])
