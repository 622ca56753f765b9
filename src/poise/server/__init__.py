"""``poise serve``: an OpenAI-compatible gateway in front of any model.

Point the official ``openai`` client at it and every request goes through a persona, dynamic
instructions, input and output rails, per-key and per-tenant rate limits and the audit trail::

    from poise.server import create_app, load_gateway_config
    config, base = load_gateway_config("examples/gateway.yaml")
    app = create_app(config, base_dir=base)          # an ASGI app: uvicorn.run(app)

See ``docs/design/gateway.md``.
"""

from poise.server.app import create_app
from poise.server.auth import KeyRing, Principal, hash_key, new_key
from poise.server.config import GatewayConfig, default_gateway_config, load_gateway_config
from poise.server.errors import APIError
from poise.server.gateway import Gateway, build_gateway

__all__ = [
    "APIError",
    "Gateway",
    "GatewayConfig",
    "KeyRing",
    "Principal",
    "build_gateway",
    "create_app",
    "default_gateway_config",
    "hash_key",
    "load_gateway_config",
    "new_key",
]
