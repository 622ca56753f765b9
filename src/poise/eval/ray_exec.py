"""Run eval cases as Ray tasks (``poise eval run --ray``).

The runner stays the same — sampling, cache, scoring and the report happen in the driver — only
the conversation of each case (the model calls) moves to a Ray task. A task gets the target's
spec, the generation parameters, the model factory (cloudpickled by Ray) and the user turns; each
worker process builds a target once per spec and keeps it. Results are transcripts, so a Ray run
and a local run of the same cases score identically.

``ray.init()`` is left to the caller: ``address="auto"`` joins a cluster, no argument starts a
local instance (the CLI does ``ray.init(address=os.environ.get("RAY_ADDRESS"))``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from poise.errors import OptionalDependencyError
from poise.eval.targets import ModelFactory, Target, TargetSpec, Transcript
from poise.models.types import GenerationParams

__all__ = ["RayExecutor"]

_TARGETS: dict[str, Target] = {}  # per worker process


def _converse(
    spec: TargetSpec, params: GenerationParams, factory: ModelFactory | None, turns: Sequence[str]
) -> dict[str, Any]:
    import asyncio

    key = spec.key() + repr(params)
    target = _TARGETS.get(key)
    if target is None:
        target = _TARGETS[key] = Target.build(spec, params=params, model_factory=factory)
    return asyncio.run(target.converse(turns)).to_dict()


class RayExecutor:
    """Sends each case's conversation to a Ray task (needs ``pip install 'poise[ray]'``).

    Args:
        num_cpus: CPUs each task reserves (a local model wants one per task).
    """

    def __init__(self, num_cpus: float = 1.0) -> None:
        try:
            import ray
        except ImportError:
            raise OptionalDependencyError("ray", "ray") from None
        self._ray = ray
        self._remote = ray.remote(num_cpus=num_cpus, max_retries=0)(_converse)

    async def converse(
        self, spec: TargetSpec, params: GenerationParams, factory: ModelFactory | None, turns: Sequence[str]
    ) -> Transcript:
        data = await self._remote.remote(spec, params, factory, tuple(turns))
        return Transcript.from_dict(data)
