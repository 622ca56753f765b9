"""Option parsing shared by the CLI commands."""

from __future__ import annotations

from pydantic import ValidationError

from poise.config import validation_to_config_error
from poise.instructions.types import UserProfile


def user_profile(expertise: str | None, locale: str | None) -> UserProfile:
    """Build the user profile from ``--expertise``/``--locale``; a bad value is a ConfigError."""
    try:
        return UserProfile.model_validate({"expertise": expertise, "locale": locale})
    except ValidationError as exc:
        raise validation_to_config_error(exc, None) from None
