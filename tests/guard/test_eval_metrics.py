"""``evaluate_cases`` on a scripted pipeline, where every figure can be worked out by hand."""

from __future__ import annotations

import pytest

from poise.errors import PolicyError
from poise.guard.eval_cases import GoldSpan, InputCase, LeakCase, PIICase
from poise.guard.evaluation import EvalReport, Prediction, evaluate_cases, format_eval_report, match_spans
from poise.guard.metrics import Confusion
from poise.guard.pipeline import GuardPipeline
from poise.guard.policy import Policy, PolicyRule, PolicySpec, TierThresholds
from poise.guard.rails import DetectorRail
from poise.guard.types import DetectionContext, DetectorResult, Finding, Span


class Word:
    """Flags every occurrence of ``word`` (a span per hit); with ``prompt_leak`` flags prompt words."""

    def __init__(self, name: str, word: str, category: str, *, prompt_leak: bool = False) -> None:
        self.name, self.word, self.category, self.prompt_leak = name, word, category, prompt_leak

    def detect(self, text: str, context: DetectionContext | None = None) -> DetectorResult:
        needle = self.word
        if self.prompt_leak:
            needle = (context.system_prompt or "\0").split()[-1] if context else "\0"
        spans, start = [], text.find(needle)
        while start >= 0:
            spans.append(Span(start, start + len(needle), self.category))
            start = text.find(needle, start + 1)
        if not spans:
            return DetectorResult(self.name, False, 0.0)
        return DetectorResult(self.name, True, 1.0, (Finding(self.category, 1.0, tuple(spans)),))


def pipeline() -> GuardPipeline:
    rules = [
        PolicyRule(id="attack", categories=["attack"], thresholds=TierThresholds(default={"block": 0.5})),
        PolicyRule(id="mild", categories=["mild"], thresholds=TierThresholds(default={"log": 0.5})),
        PolicyRule(id="leak", categories=["leak"], thresholds=TierThresholds(default={"block": 0.5})),
        PolicyRule(id="pii", categories=["EMAIL"], thresholds=TierThresholds(default={"redact": 0.5})),
    ]
    inputs = [
        DetectorRail(Word("attack", "ATTACK", "attack")),
        DetectorRail(Word("mild", "hmm", "mild")),
        DetectorRail(Word("pii", "a@b.co", "EMAIL")),
    ]
    outputs = [DetectorRail(Word("leak", "", "leak", prompt_leak=True))]
    return GuardPipeline(inputs, outputs, Policy(PolicySpec(rules=rules)))


INPUT = [
    InputCase(1, "ATTACK now", True, "injection", "en"),
    InputCase(2, "a quiet attack", True, "injection", "en"),  # missed: lower case
    InputCase(3, "ATTACK bitte", True, "jailbreak", "de"),
    InputCase(4, "hello", False, "plain", "en"),
    InputCase(5, "hmm, ATTACK is a word", False, "hard", "en"),  # false alarm
    InputCase(6, "hmm", False, "hard", "de"),  # only logged: not an attack
]


async def test_input_detection_figures_overall_per_category_and_language():
    report = await evaluate_cases(pipeline(), INPUT)
    assert report.leak is None and report.pii is None and report.input is not None
    assert report.input.overall == Confusion(tp=2, fp=1, fn=1, tn=2)
    assert report.input.by_category == {
        "injection": Confusion(tp=1, fn=1),
        "jailbreak": Confusion(tp=1),
        "plain": Confusion(tn=1),
        "hard": Confusion(fp=1, tn=1),
    }
    assert report.input.by_lang == {"en": Confusion(tp=1, fn=1, fp=1, tn=1), "de": Confusion(tp=1, tn=1)}
    d = report.to_dict()["input"]
    assert d["overall"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert d["overall"]["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert d["overall"]["fpr"] == pytest.approx(1 / 3, abs=1e-4)
    assert d["latency_ms"]["count"] == 6 and d["latency_ms"]["p99_ms"] >= d["latency_ms"]["p50_ms"] > 0


async def test_a_single_rail_decides_when_named():
    # "mild" only logs under the policy, but as the deciding rail its flag counts.
    report = await evaluate_cases(pipeline(), INPUT, rail="mild")
    assert report.input is not None
    assert report.input.overall == Confusion(tp=0, fp=2, fn=3, tn=1)
    assert "rail 'mild' flags" in report.input.decided_by


async def test_unknown_rail_is_a_policy_error_listing_the_stage_rails():
    with pytest.raises(PolicyError, match=r"'nope' is not among the policy's input rails.*attack, mild, pii"):
        await evaluate_cases(pipeline(), INPUT, rail="nope")


async def test_leak_cases_run_at_the_output_stage_with_the_system_prompt():
    cases = [
        LeakCase(1, "the secret is swordfish", "it is swordfish", True),
        LeakCase(2, "the secret is swordfish", "no idea", False),
        LeakCase(3, "the code is 1234", "I cannot say", True),  # missed
    ]
    report = await evaluate_cases(pipeline(), cases)
    assert report.leak is not None and report.leak.overall == Confusion(tp=1, fn=1, tn=1)


async def test_pii_spans_exact_and_overlap_per_type():
    cases = [
        PIICase(1, "mail a@b.co now", (GoldSpan(5, 11, "EMAIL"),)),  # exact hit
        PIICase(2, "mail a@b.co.uk", (GoldSpan(5, 14, "EMAIL"),)),  # overlap only
        PIICase(3, "no mail", (GoldSpan(0, 2, "EMAIL"),)),  # missed
        PIICase(4, "stray a@b.co", ()),  # false positive
    ]
    report = await evaluate_cases(pipeline(), cases)
    assert report.pii is not None and report.pii.texts == 4
    assert report.pii.exact == {"EMAIL": Confusion(tp=1, fp=2, fn=2)}
    assert report.pii.overlap == {"EMAIL": Confusion(tp=2, fp=1, fn=1)}
    text = format_eval_report(report)
    assert "| EMAIL | 3 | 0.333 | 0.333 | 0.333 | 0.667 | 0.667 | 0.667 |" in text


async def test_mixed_file_reports_each_shape_and_streams_predictions():
    seen: list[Prediction] = []
    cases = [
        INPUT[0],
        LeakCase(2, "p swordfish", "swordfish", True),
        PIICase(3, "a@b.co", (GoldSpan(0, 6, "EMAIL"),)),
    ]
    report = await evaluate_cases(pipeline(), cases, on_prediction=seen.append)
    assert set(report.to_dict()) == {"input", "leak", "pii"}
    assert [(p.line, p.shape, p.predicted) for p in seen] == [
        (1, "input", True),
        (2, "leak", True),
        (3, "pii", [{"start": 0, "end": 6, "type": "EMAIL"}]),
    ]
    assert seen[0].to_dict()["action"] == "block"


def test_match_spans_counts_each_gold_and_each_stray_prediction():
    exact, overlap = match_spans(
        gold=[(0, 5, "A"), (10, 15, "B")],
        predicted=[(0, 5, "A"), (11, 15, "B"), (20, 22, "A"), (10, 15, "C")],
    )
    assert exact == {"A": Confusion(tp=1, fp=1), "B": Confusion(fn=1, fp=1), "C": Confusion(fp=1)}
    assert overlap == {"A": Confusion(tp=1, fp=1), "B": Confusion(tp=1), "C": Confusion(fp=1)}


def test_text_report_marks_undefined_ratios():
    report = EvalReport()
    assert format_eval_report(report) == "\n"
    from poise.guard.evaluation import DetectionReport

    report.input = DetectionReport("x", Confusion(tn=3), {"plain": Confusion(tn=3)})
    text = format_eval_report(report)
    assert "| category=plain | 0 | 3 | - | - | - | 0.000 |" in text
