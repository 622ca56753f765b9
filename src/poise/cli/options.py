"""Option parsing shared by the CLI commands."""

from __future__ import annotations

from typing import get_args

from pydantic import ValidationError

from poise.config import validation_to_config_error
from poise.errors import ConfigError
from poise.guard.rails import Tier
from poise.instructions.types import UserProfile


def user_profile(expertise: str | None, locale: str | None) -> UserProfile:
    """Build the user profile from ``--expertise``/``--locale``; a bad value is a ConfigError."""
    try:
        return UserProfile.model_validate({"expertise": expertise, "locale": locale})
    except ValidationError as exc:
        raise validation_to_config_error(exc, None) from None


def trust_tier(value: str) -> Tier:
    """Check ``--tier`` against the policy's trust tiers."""
    tiers: tuple[Tier, ...] = get_args(Tier)
    for tier in tiers:
        if value == tier:
            return tier
    raise ConfigError(f"unknown trust tier {value!r}", field="--tier", expected=" | ".join(tiers))
