"""API keys: hashed at rest, looked up by hash, resolved to a :class:`Principal`.

The configuration stores only ``sha256(key)`` in hex, so a leaked config file leaks no key. A
request's bearer key is hashed and looked up; the matching key gives the tenant, the trust tier,
the allowed models and the limits. Keys are high-entropy random strings (:func:`new_key`), so an
unsalted fast hash is enough: there is nothing to brute-force. Audit records and metrics name a
key by its configured ``id``, never by the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from poise.guard.rails import Tier
from poise.server.config import GatewayConfig, LimitsConfig
from poise.server.errors import APIError

__all__ = ["KEY_PREFIX", "KeyRing", "Principal", "hash_key", "new_key"]

KEY_PREFIX = "sk-poise-"


def hash_key(key: str) -> str:
    """The hex SHA-256 the configuration stores for ``key``."""
    return hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from an API key, or the anonymous caller on loopback.

    Attributes:
        tenant: whose audit chain, policy overrides and limits apply.
        key_id: the configured key name (``None`` for anonymous callers).
        tier: the trust tier that selects policy thresholds.
        models: allowed model ids (``None``: all of them).
        key_limits / tenant_limits: the rate limits of the key and of its tenant.
    """

    tenant: str
    key_id: str | None
    tier: Tier
    models: frozenset[str] | None
    key_limits: LimitsConfig
    tenant_limits: LimitsConfig

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    @property
    def rate_key(self) -> str:
        return f"key:{self.key_id}" if self.key_id else f"anon:{self.tenant}"


class KeyRing:
    """Resolves ``Authorization`` headers to principals.

    Args:
        config: the gateway configuration (tenants and keys).
        require_keys: whether a request without a key is refused (401).
    """

    def __init__(self, config: GatewayConfig, *, require_keys: bool) -> None:
        self.require_keys = require_keys
        self._by_hash: dict[str, Principal] = {}
        for name, tenant in config.tenants.items():
            for key in tenant.keys:
                models = key.models if key.models is not None else (tenant.models or None)
                self._by_hash[key.sha256] = Principal(
                    tenant=name,
                    key_id=key.id,
                    tier=key.tier or tenant.tier,
                    models=frozenset(models) if models is not None else None,
                    key_limits=key.limits,
                    tenant_limits=tenant.limits,
                )
        auth = config.auth
        self.anonymous = Principal(
            tenant=auth.anonymous_tenant,
            key_id=None,
            tier=auth.anonymous_tier,
            models=None,
            key_limits=auth.anonymous_limits,
            tenant_limits=LimitsConfig(),
        )

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal for an ``Authorization`` header value.

        Raises:
            APIError: 401 when the key is missing (and required) or unknown.
        """
        if not authorization:
            if self.require_keys:
                raise APIError(
                    401,
                    "missing API key: send it as 'Authorization: Bearer <key>'",
                    type="invalid_request_error",
                    code="missing_api_key",
                )
            return self.anonymous
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            if not self.require_keys:
                return self.anonymous
            raise APIError(
                401,
                "malformed Authorization header: expected 'Bearer <key>'",
                type="invalid_request_error",
                code="invalid_api_key",
            )
        digest = hash_key(token)
        principal = self._by_hash.get(digest)
        if principal is None:
            if not self.require_keys:
                # Keys are optional here (loopback): clients that must send *some* key, like the
                # official openai client, get the anonymous principal with whatever they send.
                return self.anonymous
            # Same answer and (near) same time whether or not a similar key exists.
            hmac.compare_digest(digest, "0" * 64)
            raise APIError(401, "invalid API key", type="invalid_request_error", code="invalid_api_key")
        return principal
