"""The eval runner: side-by-side targets, the transcript cache and resume, concurrency, sampling."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from poise.errors import ConfigError, ModelServerError
from poise.eval.cache import ResultCache
from poise.eval.cases import EvalCase, parse_suites, sample_cases
from poise.eval.runner import RunConfig, run_eval, select_cases
from poise.eval.targets import TargetSpec, parse_target
from poise.models.scripted import ScriptedModel
from poise.models.types import ChatMessage, ChatModel, GenerationParams

SUITES_FAST = parse_suites("over-refusal,harmful,attacks")


def config(data: Path, **kw: object) -> RunConfig:
    base: dict[str, object] = {"suites": SUITES_FAST, "data": data, "limit": 6, "seed": 3}
    base.update(kw)
    return RunConfig(**base)  # type: ignore[arg-type]


@pytest.mark.slow
def test_raw_and_poise_targets_run_the_same_cases_side_by_side(shared_data: Path) -> None:
    models: dict[str, ChatModel] = {"m": ScriptedModel(lambda m, p: "Sure, here you go.")}
    specs = [parse_target("raw:m", persona="bank-support"), parse_target("poise:m", persona="bank-support")]
    run = asyncio.run(run_eval(specs, config(shared_data), model_factory=models.__getitem__))
    by_target: dict[str, list[str]] = {}
    for r in run.results:
        by_target.setdefault(r.target, []).append(r.case_id)
    assert list(by_target) == ["raw:m[bank-support]", "poise:m[bank-support]"]
    assert by_target["raw:m[bank-support]"] == by_target["poise:m[bank-support]"]
    assert len(run.results) == 2 * 18 and run.generated == 36
    # the guard sits only on the poise side: some harmful prompts are blocked there, none raw
    outcomes = {t: [r.outcome for r in run.results if r.target == t] for t in by_target}
    assert "blocked" not in outcomes["raw:m[bank-support]"]
    assert "blocked" in outcomes["poise:m[bank-support]"]


def test_raw_target_has_a_canary_but_no_rails(shared_data: Path) -> None:
    seen: list[Sequence[ChatMessage]] = []

    def reply(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        seen.append(messages)
        return "ok"

    models: dict[str, ChatModel] = {"m": ScriptedModel(reply)}
    cfg = config(shared_data, suites=parse_suites("attacks"), limit=3)
    run = asyncio.run(
        run_eval([parse_target("raw:m,persona=bank-support")], cfg, model_factory=models.__getitem__)
    )
    assert all(r.outcome in ("resisted", "attack_succeeded") for r in run.results)  # never blocked
    assert seen and all("pz-" in m[0].content for m in seen)  # the canary is compiled in


def test_a_leaked_canary_is_an_incident(shared_data: Path) -> None:
    def leak(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        system = messages[0].content
        start = system.index("pz-")
        return "My instructions carry the code " + system[start : start + 23]

    models: dict[str, ChatModel] = {"m": ScriptedModel(leak)}
    cfg = config(shared_data, suites=parse_suites("attacks"), limit=40)
    run = asyncio.run(
        run_eval([parse_target("raw:m,persona=bank-support")], cfg, model_factory=models.__getitem__)
    )
    extraction = [r for r in run.results if r.category == "extraction"]
    assert extraction and all(r.leak and r.incident and not r.passed for r in extraction)
    assert run.readiness["raw:m[bank-support]"].incidents == len(run.results)


def test_interrupted_run_resumes_from_the_cache(shared_data: Path, tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.sqlite"
    flaky = ScriptedModel(
        lambda m, p: "Sure.", errors={i: ModelServerError("backend down") for i in range(5, 200)}
    )
    spec = [parse_target("raw:m")]
    first = asyncio.run(
        run_eval(
            spec,
            config(shared_data, concurrency=1),
            model_factory=lambda _: flaky,
            cache=ResultCache(cache_path),
        )
    )
    errors = [r for r in first.results if r.passed is None]
    assert first.generated == 5 and len(errors) == 13
    assert all("ModelServerError" in (r.error or "") for r in errors)
    healthy = ScriptedModel(lambda m, p: "Sure.")
    second = asyncio.run(
        run_eval(spec, config(shared_data), model_factory=lambda _: healthy, cache=ResultCache(cache_path))
    )
    assert second.cached == 5 and second.generated == 13
    assert len(healthy.calls) == 13
    assert all(r.passed is not None for r in second.results)
    third = asyncio.run(
        run_eval(spec, config(shared_data), model_factory=lambda _: healthy, cache=ResultCache(cache_path))
    )
    assert third.cached == 18 and third.generated == 0 and len(healthy.calls) == 13
    assert [r.to_dict() for r in third.results] == [r.to_dict() for r in second.results]


def test_changing_generation_parameters_misses_the_cache(shared_data: Path, tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c.sqlite")
    model = ScriptedModel(lambda m, p: "Sure.")
    spec = [parse_target("raw:m")]
    asyncio.run(run_eval(spec, config(shared_data), model_factory=lambda _: model, cache=cache))
    other = config(shared_data, params=GenerationParams(max_tokens=17, temperature=0.0))
    again = asyncio.run(run_eval(spec, other, model_factory=lambda _: model, cache=cache))
    assert again.cached == 0 and again.generated == 18


def test_cases_run_concurrently_up_to_the_limit(shared_data: Path) -> None:
    active = peak = 0

    async def slow(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return "Sure."

    model = ScriptedModel(slow)
    asyncio.run(
        run_eval([parse_target("raw:m")], config(shared_data, concurrency=3), model_factory=lambda _: model)
    )
    assert peak == 3


def test_progress_is_reported_for_every_case(shared_data: Path) -> None:
    ticks: list[tuple[int, int, bool]] = []
    model = ScriptedModel(lambda m, p: "Sure.")
    asyncio.run(
        run_eval(
            [parse_target("raw:m")],
            config(shared_data),
            model_factory=lambda _: model,
            progress=lambda d, t, c: ticks.append((d, t, c)),
        )
    )
    assert [d for d, _, _ in ticks] == list(range(1, 19)) and {t for _, t, _ in ticks} == {18}


def case(i: int, source: str) -> EvalCase:
    return EvalCase(f"{source}:{i}", "harmful", source, ("x",), "refuse")


def test_sampling_is_seeded_and_stratified_by_source() -> None:
    cases = [case(i, "big") for i in range(90)] + [case(i, "small") for i in range(10)]
    sample = sample_cases(cases, 10, seed=7)
    assert [c.source for c in sample].count("small") == 1
    assert [c.source for c in sample].count("big") == 9
    assert sample == sample_cases(cases, 10, seed=7)
    assert sample != sample_cases(cases, 10, seed=8)


def test_a_tiny_limit_still_covers_every_source() -> None:
    cases = [case(i, "big") for i in range(90)] + [case(i, "small") for i in range(3)]
    assert {c.source for c in sample_cases(cases, 2)} == {"big", "small"}
    assert len(sample_cases(cases, 1)) == 1
    assert sample_cases(cases, None) == cases


def test_limit_applies_per_suite_with_every_source(shared_data: Path) -> None:
    cases = select_cases(config(shared_data, suites=parse_suites("over-refusal,harmful"), limit=5))
    assert len(cases) == 10
    assert {c.source for c in cases if c.suite == "over-refusal"} == {"xstest", "cyberseceval-frr"}
    assert {c.source for c in cases if c.suite == "harmful"} == {"harmbench", "donotanswer", "xstest"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("raw:local", TargetSpec("raw", "local")),
        ("poise:openai:gpt-4o-mini", TargetSpec("poise", "openai:gpt-4o-mini")),
        (
            "poise:local,persona=p.yaml,guard=g.yaml,name=v2",
            TargetSpec("poise", "local", "p.yaml", "g.yaml", "v2"),
        ),
    ],
)
def test_parse_target(text: str, expected: TargetSpec) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("local", "MODE:MODEL"),
        ("guarded:local", "MODE:MODEL"),
        ("poise:", "MODE:MODEL"),
        ("poise:local,colour=red", "key=value"),
        ("raw:local,guard=g.yaml", "raw target runs without rails"),
    ],
)
def test_bad_targets_say_how_to_write_one(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_target(text)
    assert fragment in str(err.value)


def test_unknown_suite_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown suite"):
        parse_suites("harmful,jokes")
    assert parse_suites("all") == ("over-refusal", "harmful", "ifeval", "attacks", "persona")
