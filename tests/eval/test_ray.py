"""``--ray``: cases as Ray tasks on a local Ray instance give the same results as a local run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from poise.eval.cases import parse_suites
from poise.eval.runner import RunConfig, run_eval
from poise.eval.targets import parse_target
from poise.models.scripted import ScriptedModel
from poise.models.types import ChatModel

ray = pytest.importorskip("ray", reason="ray not installed (pip install 'poise[ray]')")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def make_model(spec: str) -> ChatModel:
    # deterministic, and picklable by Ray's cloudpickle: a function of the conversation
    return ScriptedModel(lambda messages, params: f"Sure. You said {len(messages[-1].content)} characters.")


def test_ray_run_equals_local_run(local_ray: None, shared_data: Path) -> None:
    from poise.eval.ray_exec import RayExecutor

    config = RunConfig(
        parse_suites("over-refusal,harmful,attacks,persona"), shared_data, limit=3, persona_turns=6
    )
    specs = [parse_target("raw:m", persona="bank-support"), parse_target("poise:m", persona="bank-support")]
    local = asyncio.run(run_eval(specs, config, model_factory=make_model))
    remote = asyncio.run(
        run_eval(specs, config, model_factory=make_model, executor=RayExecutor(num_cpus=0.5))
    )
    assert remote.generated == local.generated == len(local.results)
    # A rail that timed out under CPU load decided by its on_error policy, which can differ between
    # two runs; every other case must score identically.
    timing = {r.case_id for r in (*local.results, *remote.results) if r.details.get("guard_errors")}
    same = [(a.to_dict(), b.to_dict()) for a, b in zip(local.results, remote.results, strict=True)]
    assert all(a == b for a, b in same if a["case_id"] not in timing)
    assert len(timing) < len(local.results) / 4
    raw = "raw:m[bank-support]"
    assert remote.readiness[raw].to_dict() == local.readiness[raw].to_dict()
