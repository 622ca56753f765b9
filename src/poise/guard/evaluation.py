"""Measure a guard pipeline on a labelled JSONL file: ``poise guard eval``.

Each line is one case, and its shape is told by its keys:

* **input detection** ``{"text", "label": "attack"|"benign", "category"?, "lang"?, "system_prompt"?}``:
  a case is predicted an attack when the pipeline blocks it (``block``/``escalate``), or when ``rail``
  is given, when that one rail flags it; with a ``system_prompt`` the text is checked against it.
  Precision, recall, F1 and FPR overall, per category and per language, plus latency percentiles.
* **leak detection** ``{"system_prompt", "output", "leaked": bool}``: the output is checked at the
  output stage with the system prompt in the context; predicted leaked when the pipeline blocks it
  (or ``rail`` flags it).
* **PII** ``{"text", "entities": [{"start", "end", "type"}]}``: the spans the ``pii`` rail finds
  against the gold spans, per type and overall, matched exactly and by overlap (same type).

Ratios follow :mod:`poise.guard.metrics` (nothing predicted: precision 1.0; no negatives: FPR 0.0).
A malformed line is a :class:`~poise.errors.DatasetError` naming the file, the line and what is
missing or wrong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from poise.errors import PolicyError
from poise.guard.eval_cases import Case, InputCase, LeakCase, PIICase, Shape
from poise.guard.metrics import Confusion, LatencySummary, confusion, summarize_latency
from poise.guard.pipeline import GuardPipeline, GuardVerdict
from poise.guard.policy import Stage
from poise.guard.rails import GuardContext, Rail, Tier
from poise.guard.types import DetectionContext

__all__ = [
    "DetectionReport",
    "EvalReport",
    "PIIReport",
    "Prediction",
    "confusion_dict",
    "evaluate_cases",
    "format_eval_report",
    "match_spans",
]

# --- scoring ---------------------------------------------------------------------------------------

SpanKey = tuple[int, int, str]


def match_spans(
    gold: Iterable[SpanKey], predicted: Iterable[SpanKey]
) -> tuple[dict[str, Confusion], dict[str, Confusion]]:
    """Per-type span confusion of one text, matched exactly and by overlap with a span of the same type.

    A gold span is a true positive if a predicted span matches it (else a false negative); a
    predicted span that matches no gold span is a false positive.
    """
    gold, pred = set(gold), set(predicted)
    exact: dict[str, Confusion] = defaultdict(Confusion)
    overlap: dict[str, Confusion] = defaultdict(Confusion)

    def near(a: SpanKey, others: set[SpanKey]) -> bool:
        return any(o[2] == a[2] and o[0] < a[1] and a[0] < o[1] for o in others)

    for g in gold:
        exact[g[2]] += Confusion(tp=1) if g in pred else Confusion(fn=1)
        overlap[g[2]] += Confusion(tp=1) if near(g, pred) else Confusion(fn=1)
    for p in pred - gold:
        exact[p[2]] += Confusion(fp=1)
        if not near(p, gold):
            overlap[p[2]] += Confusion(fp=1)
    return dict(exact), dict(overlap)


def confusion_dict(c: Confusion) -> dict[str, float | int]:
    """Counts and ratios of ``c`` as JSON-ready data."""
    return {
        "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn, "support": c.support,
        "precision": round(c.precision, 4), "recall": round(c.recall, 4), "f1": round(c.f1, 4),
        "fpr": round(c.fpr, 4),
    }  # fmt: skip


def _latency_dict(s: LatencySummary) -> dict[str, float | int]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.__dict__.items()}


@dataclass(frozen=True)
class Prediction:
    """What the guard said about one case (written by ``--predictions``)."""

    line: int
    shape: Shape
    action: str
    truth: bool | list[dict[str, Any]]
    predicted: bool | list[dict[str, Any]]
    score: float
    categories: tuple[str, ...]
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "categories": list(self.categories), "latency_ms": round(self.latency_ms, 3)}


@dataclass
class DetectionReport:
    """Binary detection figures (input and leak shapes)."""

    decided_by: str
    overall: Confusion = field(default_factory=Confusion)
    by_category: dict[str, Confusion] = field(default_factory=dict)
    by_lang: dict[str, Confusion] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decided_by": self.decided_by, "overall": confusion_dict(self.overall)}
        for name, group in (("by_category", self.by_category), ("by_lang", self.by_lang)):
            if group:
                out[name] = {k: confusion_dict(v) for k, v in sorted(group.items())}
        out["latency_ms"] = _latency_dict(summarize_latency(self.latencies))
        return out


@dataclass
class PIIReport:
    """Span-level figures per entity type."""

    rail: str
    texts: int = 0
    exact: dict[str, Confusion] = field(default_factory=dict)
    overlap: dict[str, Confusion] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rail": self.rail, "texts": self.texts}
        for name, group in (("exact", self.exact), ("overlap", self.overlap)):
            out[name] = {
                "overall": confusion_dict(sum(group.values(), Confusion())),
                "by_type": {k: confusion_dict(v) for k, v in sorted(group.items())},
            }
        out["latency_ms"] = _latency_dict(summarize_latency(self.latencies))
        return out


@dataclass
class EvalReport:
    """Every shape's figures for one dataset; a shape with no cases is ``None``."""

    input: DetectionReport | None = None
    leak: DetectionReport | None = None
    pii: PIIReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v.to_dict() for k, v in (("input", self.input), ("leak", self.leak), ("pii", self.pii)) if v
        }


def _pick(pipeline: GuardPipeline, stage: Stage, name: str) -> Rail:
    rails = pipeline.input_rails if stage == "input" else pipeline.output_rails
    for rail in rails:
        if rail.name == name:
            return rail
    raise PolicyError(
        f"rail {name!r} is not among the policy's {stage} rails",
        path=pipeline.policy.path,
        field=f"rails.{stage}",
        expected=f"one of {', '.join(r.name for r in rails) or '(none)'}",
    )


async def _verdict(
    pipeline: GuardPipeline, stage: Stage, rail: Rail | None, text: str, ctx: GuardContext
) -> GuardVerdict:
    if rail is not None:
        return await pipeline.check_rails([rail], stage, text, ctx)
    if stage == "input":
        return await pipeline.check_input(text, ctx)
    return await pipeline.check_output(text, ctx)


def _decided(v: GuardVerdict, rail: Rail | None) -> bool:
    if rail is None:
        return v.blocked
    return any(r.flagged for r in v.results)


async def evaluate_cases(
    pipeline: GuardPipeline,
    cases: Sequence[Case],
    *,
    stage: Stage = "input",
    rail: str | None = None,
    pii_rail: str = "pii",
    tier: Tier = "anonymous",
    tenant: str | None = None,
    on_prediction: Callable[[Prediction], None] | None = None,
) -> EvalReport:
    """Run ``pipeline`` over ``cases`` one at a time (so latencies are not contended) and score it.

    Args:
        stage: the stage input-detection and PII cases are checked at (leak cases: always output).
        rail: decide input and leak cases by this one rail's flag instead of the pipeline's verdict.
        pii_rail: the rail whose spans PII cases are scored on.
    """
    detect_rail = (
        _pick(pipeline, stage, rail) if rail and any(isinstance(c, InputCase) for c in cases) else None
    )
    leak_rail = (
        _pick(pipeline, "output", rail) if rail and any(isinstance(c, LeakCase) for c in cases) else None
    )
    span_rail = _pick(pipeline, stage, pii_rail) if any(isinstance(c, PIICase) for c in cases) else None
    how = f"rail {rail!r} flags" if rail else "the pipeline blocks"
    report = EvalReport()
    base = GuardContext(tier=tier, tenant=tenant)
    for case in cases:
        if isinstance(case, InputCase):
            ctx = replace(base, detection=DetectionContext(system_prompt=case.system_prompt or None))
            v = await _verdict(pipeline, stage, detect_rail, case.text, ctx)
            got = _decided(v, detect_rail)
            rep = report.input = report.input or DetectionReport(f"attack when {how} ({stage} stage)")
            hit = confusion([case.attack], [got])
            rep.overall += hit
            rep.by_category[case.category] = rep.by_category.get(case.category, Confusion()) + hit
            rep.by_lang[case.lang] = rep.by_lang.get(case.lang, Confusion()) + hit
            rep.latencies.append(v.latency_ms)
            truth: bool | list[dict[str, Any]] = case.attack
            predicted: bool | list[dict[str, Any]] = got
        elif isinstance(case, LeakCase):
            ctx = GuardContext(DetectionContext(system_prompt=case.system_prompt), tier=tier, tenant=tenant)
            v = await _verdict(pipeline, "output", leak_rail, case.output, ctx)
            got = _decided(v, leak_rail)
            rep = report.leak = report.leak or DetectionReport(f"leaked when {how} (output stage)")
            rep.overall += confusion([case.leaked], [got])
            rep.latencies.append(v.latency_ms)
            truth, predicted = case.leaked, got
        else:
            assert span_rail is not None
            v = await pipeline.check_rails([span_rail], stage, case.text, base)
            found = {
                (s.start, s.end, s.label)
                for r in v.results
                if r.result is not None
                for f in r.result.findings
                for s in f.spans
            }
            exact, overlap = match_spans(((g.start, g.end, g.type) for g in case.entities), found)
            pii = report.pii = report.pii or PIIReport(pii_rail)
            pii.texts += 1
            for mine, theirs in ((pii.exact, exact), (pii.overlap, overlap)):
                for label, c in theirs.items():
                    mine[label] = mine.get(label, Confusion()) + c
            pii.latencies.append(v.latency_ms)
            truth = [g.__dict__ for g in case.entities]
            predicted = [{"start": s, "end": e, "type": t} for s, e, t in sorted(found)]
        if on_prediction is not None:
            shape: Shape = (
                "input" if isinstance(case, InputCase) else "leak" if isinstance(case, LeakCase) else "pii"
            )
            score = max((r.score for r in v.results if r.status == "ok"), default=0.0)
            cats = tuple(dict.fromkeys(c for r in v.results for c in r.categories))
            on_prediction(Prediction(case.line, shape, v.action, truth, predicted, score, cats, v.latency_ms))
    return report


# --- text report -----------------------------------------------------------------------------------


def _row(name: str, c: Confusion) -> str:
    # A ratio with nothing to count is shown as "-" here (the JSON keeps metrics.py's convention).
    def cell(value: float, defined: bool) -> str:
        return f"{value:.3f}" if defined else "-"

    pos, neg, predicted = c.tp + c.fn, c.fp + c.tn, c.tp + c.fp
    return (
        f"| {name} | {pos} | {neg} | {cell(c.precision, predicted > 0)} | {cell(c.recall, pos > 0)} | "
        f"{cell(c.f1, pos > 0 and predicted > 0)} | {cell(c.fpr, neg > 0)} |"
    )


def _lat(values: list[float]) -> str:
    s = summarize_latency(values)
    return (
        f"latency per case (ms): p50 {s.p50_ms:.2f}, p95 {s.p95_ms:.2f}, p99 {s.p99_ms:.2f}, "
        f"max {s.max_ms:.2f}"
    )


def format_eval_report(report: EvalReport) -> str:
    """Markdown tables: detection per group, leak, PII per type (exact and overlap), with latency."""
    out: list[str] = []
    head = "| group | positives | negatives | precision | recall | F1 | FPR |\n" + "|---" + "|---:" * 6 + "|"
    for title, rep in (("input detection", report.input), ("leak detection", report.leak)):
        if rep is None:
            continue
        out += [f"## {title}: {rep.decided_by}", "", head, _row("**overall**", rep.overall)]
        for kind, group in (("category", rep.by_category), ("lang", rep.by_lang)):
            out += [_row(f"{kind}={k}", v) for k, v in sorted(group.items())]
        out += ["", _lat(rep.latencies), ""]
    if report.pii is not None:
        p = report.pii
        out += [
            f"## PII spans: rail {p.rail!r}, {p.texts} texts",
            "",
            "| type | gold | P exact | R exact | F1 exact | P overlap | R overlap | F1 overlap |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        types = sorted(set(p.exact) | set(p.overlap))
        rows = [(t, p.exact.get(t, Confusion()), p.overlap.get(t, Confusion())) for t in types]
        rows.append(("**overall**", sum(p.exact.values(), Confusion()), sum(p.overlap.values(), Confusion())))
        for t, e, o in rows:
            out.append(
                f"| {t} | {e.support} | {e.precision:.3f} | {e.recall:.3f} | {e.f1:.3f} | "
                f"{o.precision:.3f} | {o.recall:.3f} | {o.f1:.3f} |"
            )
        out += ["", _lat(p.latencies), ""]
    return "\n".join(out).rstrip() + "\n"
