"""Rails: crash and timeout are errors (never decisions), on_error, concurrency, thread/inline."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from poise.guard.pipeline import GuardPipeline
from poise.guard.policy import Policy, PolicySpec
from poise.guard.rails import (
    DetectorRail,
    GuardContext,
    RailResult,
    build_rail,
    rail_names,
    run_rail,
    runs_inline,
)
from poise.guard.types import DetectionContext, DetectorResult


class Crash:
    name = "crash"

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        raise RuntimeError("boom")


class Slow:
    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        time.sleep(self.seconds)
        return DetectorResult(self.name, False, 0.0)


class Garbage:
    name = "garbage"

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        return "not a result"  # type: ignore[return-value]


class Hang:
    name = "hang"
    timeout = 0.05
    on_error = "fail_closed"

    async def check(self, text: str, ctx: GuardContext) -> RailResult:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")


def _pipeline(*rails: object) -> GuardPipeline:
    return GuardPipeline(list(rails), [], Policy(PolicySpec()))  # type: ignore[arg-type]


async def test_rail_crash_fails_closed_by_default():
    verdict = await _pipeline(DetectorRail(Crash())).check_input("hi")
    assert verdict.action == "block"
    assert [r.code for r in verdict.reasons] == ["rail_error:crash"]
    (result,) = verdict.results
    assert result.status == "error" and result.result is None
    assert result.error is not None and (result.error.type, result.error.message) == ("RuntimeError", "boom")


@pytest.mark.parametrize(
    ("rail", "error_type"),
    [
        pytest.param(
            DetectorRail(Slow("slow", 0.2), timeout=0.02, mode="thread"), "TimeoutError", id="thread-timeout"
        ),
        pytest.param(
            DetectorRail(Slow("slow", 0.05), timeout=0.01, mode="inline"), "TimeoutError", id="inline-overrun"
        ),
        pytest.param(Hang(), "TimeoutError", id="async-hang"),
        pytest.param(DetectorRail(Garbage()), "TypeError", id="wrong-return-type"),
    ],
)
async def test_timeout_and_bad_result_are_errors_not_decisions(rail, error_type):
    result = await run_rail(rail, "hi", GuardContext())
    assert result.status == "error" and result.result is None
    assert result.error is not None and result.error.type == error_type
    verdict = await _pipeline(rail).check_input("hi")
    assert verdict.action == "block"
    assert all(r.code.startswith("rail_error:") for r in verdict.reasons)


async def test_fail_open_logs_and_allows():
    verdict = await _pipeline(DetectorRail(Crash(), on_error="fail_open")).check_input("hi")
    assert verdict.action == "log"
    assert verdict.reasons[0].code == "rail_error:crash" and "fail_open" in verdict.reasons[0].detail
    assert not verdict.blocked


async def test_two_slow_rails_run_concurrently():
    rails = [DetectorRail(Slow(f"s{i}", 0.2), mode="thread", timeout=2) for i in range(2)]
    started = time.perf_counter()
    verdict = await _pipeline(*rails).check_input("hi")
    elapsed = time.perf_counter() - started
    assert verdict.action == "allow"
    assert elapsed < 0.35, f"took {elapsed:.2f}s: rails ran one after the other"
    assert [r.rail for r in verdict.results] == ["s0", "s1"]


def test_registry_builds_by_name_and_rejects_bad_args():
    assert {"injection", "pii", "leak", "persona_rules", "refusal", "topic"} <= set(rail_names())
    rail = build_rail("pii", {"types": ["EMAIL"]}, timeout=0.1, on_error="fail_open")
    assert rail.name == "pii" and rail.on_error == "fail_open" and rail.timeout == 0.1
    with pytest.raises(TypeError):
        build_rail("pii", {"bogus": 1})
    with pytest.raises(KeyError, match="unknown rail"):
        build_rail("nope")


def test_detector_rail_validates_settings():
    with pytest.raises(ValueError, match="on_error"):
        DetectorRail(Crash(), on_error="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        DetectorRail(Crash(), timeout=0)
    with pytest.raises(ValueError, match="inline_chars"):
        DetectorRail(Crash(), mode="thread", inline_chars=-1)


class WhereRan:
    name = "where"

    def __init__(self) -> None:
        self.threads: list[str] = []

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        self.threads.append(threading.current_thread().name)
        return DetectorResult(self.name, False, 0.0)


async def test_thread_rail_checks_short_texts_inline_and_long_ones_on_the_pool():
    detector = WhereRan()
    rail = DetectorRail(detector, mode="thread", inline_chars=10)
    assert runs_inline(rail, "short") and not runs_inline(rail, "much longer than ten")
    for text in ("short", "much longer than ten"):
        assert (await run_rail(rail, text, GuardContext())).status == "ok"
    loop_thread = threading.current_thread().name
    assert detector.threads[0] == loop_thread
    assert detector.threads[1] != loop_thread and detector.threads[1].startswith("poise-rail")


async def test_short_text_on_a_thread_rail_still_times_out_as_an_error():
    rail = DetectorRail(Slow("slow", 0.05), timeout=0.01, mode="thread", inline_chars=100)
    result = await run_rail(rail, "hi", GuardContext())
    assert result.status == "error" and result.error is not None and result.error.type == "TimeoutError"
    assert (await _pipeline(rail).check_input("hi")).action == "block"


def test_injection_rail_keeps_long_texts_on_a_thread():
    rail = build_rail("injection", {"classifier": True})
    assert isinstance(rail, DetectorRail) and rail.mode == "thread"
    assert runs_inline(rail, "x" * 2000) and not runs_inline(rail, "x" * 2001)
    assert not runs_inline(build_rail("injection", {"classifier": True, "inline_chars": 0}), "x")
