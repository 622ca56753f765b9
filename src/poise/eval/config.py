"""The eval config file: one YAML file → :class:`EvalConfigFile` (unknown keys rejected).

.. code-block:: yaml

    targets:
      - raw:local
      - {mode: poise, model: local, persona: bank-support, guard: policy.yaml, name: poise-v2}
    persona: bank-support        # default for targets without one
    suites: [over-refusal, harmful, ifeval, attacks, persona]
    limit: 10
    seed: 0
    turns: 50
    conversations: 1
    max_tokens: 96

Command-line options given next to ``--config`` override the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from poise.config import load_yaml, validate_model
from poise.eval.cases import SUITES, SuiteName
from poise.eval.targets import TargetSpec, parse_target

__all__ = ["EvalConfigFile", "TargetEntry", "load_eval_config"]


class TargetEntry(BaseModel):
    """A target written out in full."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["raw", "poise"]
    model: str
    persona: str | None = None
    guard: str | None = None
    name: str | None = None


class EvalConfigFile(BaseModel):
    """``poise eval run --config FILE``."""

    model_config = ConfigDict(extra="forbid")

    targets: list[str | TargetEntry] = Field(min_length=1)
    persona: str | None = None
    suites: list[SuiteName] = Field(default_factory=lambda: list(SUITES))
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    turns: int = Field(default=50, ge=1)
    conversations: int = Field(default=4, ge=1)
    max_tokens: int = Field(default=256, ge=1)
    concurrency: int = Field(default=4, ge=1)
    data: str | None = None

    def target_specs(self) -> list[TargetSpec]:
        out = []
        for t in self.targets:
            if isinstance(t, str):
                out.append(parse_target(t, persona=self.persona))
            else:
                out.append(TargetSpec(t.mode, t.model, t.persona or self.persona, t.guard, t.name))
        return out


def load_eval_config(path: Path) -> EvalConfigFile:
    """Load and validate an eval config; errors name the file and the field."""
    return validate_model(EvalConfigFile, load_yaml(path), path)
