"""Summarise a measurement into the figures ``poise align measure`` prints (and writes as JSON)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from poise.align.measure import ItemResult, MeasureRun
from poise.align.measure_judge import AgreementReport, Judgement
from poise.align.measure_stats import Rate, percentile

__all__ = ["LoopCost", "MeasureReport", "SetFigures", "render_report", "summarize"]

Kind = Literal["harmful", "safe"]


@dataclass(frozen=True)
class SetFigures:
    """One prompt set's rate with the loop off and on.

    ``off``/``on`` count *harmful compliance* (replies judged compliant) for the harmful set and
    *over-refusal* (replies judged refusals) for the safe set, over the replies the judge could read.
    """

    kind: Kind
    prompts: int
    sources: Mapping[str, int]
    off: Rate
    on: Rate
    unparseable_off: int
    unparseable_on: int
    blocked_on: int
    changed_by_loop: int

    @property
    def metric(self) -> str:
        return "harmful compliance" if self.kind == "harmful" else "over-refusal"

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "prompts": self.prompts,
            "sources": dict(self.sources),
            "off": self.off.to_dict(),
            "on": self.on.to_dict(),
            "unparseable_judgements": {"off": self.unparseable_off, "on": self.unparseable_on},
            "blocked_by_loop": self.blocked_on,
            "changed_by_loop": self.changed_by_loop,
        }


@dataclass(frozen=True)
class LoopCost:
    """What the loop adds per request (over every measured prompt, both sets)."""

    requests: int
    added_latency_ms: tuple[float | None, float | None]
    extra_calls_mean: float | None
    extra_calls_p50: float | None
    extra_calls_p95: float | None
    draft_latency_ms_p50: float | None
    stopped: Mapping[str, int]

    @property
    def calls_per_request(self) -> float | None:
        """Mean model calls per request with the loop on: the draft plus the loop's calls."""
        return None if self.extra_calls_mean is None else 1 + self.extra_calls_mean

    def to_dict(self) -> dict[str, object]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {
            "requests": self.requests,
            "added_latency_ms": {"p50": r(self.added_latency_ms[0]), "p95": r(self.added_latency_ms[1])},
            "calls_per_request_loop_on": r(self.calls_per_request),
            "calls_per_request_loop_off": 1,
            "extra_calls": {
                "mean": r(self.extra_calls_mean),
                "p50": r(self.extra_calls_p50),
                "p95": r(self.extra_calls_p95),
            },
            "draft_latency_ms_p50": r(self.draft_latency_ms_p50),
            "stopped": dict(self.stopped),
        }


@dataclass(frozen=True)
class MeasureReport:
    """The whole measurement: both rates off vs on, the loop's cost, the judge and its agreement."""

    model: str
    critic: str
    judge: str
    principles: tuple[str, ...]
    harmful: SetFigures
    safe: SetFigures
    cost: LoopCost
    agreement: AgreementReport | None
    errors: tuple[str, ...] = ()
    from_cache: int = 0
    seconds: float = 0.0
    settings: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "critic": self.critic,
            "judge": self.judge,
            "principles": list(self.principles),
            "harmful": self.harmful.to_dict(),
            "safe": self.safe.to_dict(),
            "loop_cost": self.cost.to_dict(),
            "judge_agreement_xstest": None if self.agreement is None else self.agreement.to_dict(),
            "errors": list(self.errors),
            "from_cache": self.from_cache,
            "seconds": round(self.seconds, 1),
            "settings": dict(self.settings),
        }


def _set_figures(kind: Kind, items: Sequence[ItemResult]) -> SetFigures:
    hit = "compliance" if kind == "harmful" else "refusal"

    def rate(judgements: Sequence[Judgement]) -> Rate:
        read = [j for j in judgements if j.verdict is not None]
        return Rate(sum(1 for j in read if j.verdict == hit), len(read))

    return SetFigures(
        kind=kind,
        prompts=len(items),
        sources=dict(sorted(Counter(i.record.source for i in items).items())),
        off=rate([i.off_judgement for i in items]),
        on=rate([i.on_judgement for i in items]),
        unparseable_off=sum(1 for i in items if i.off_judgement.verdict is None),
        unparseable_on=sum(1 for i in items if i.on_judgement.verdict is None),
        blocked_on=sum(1 for i in items if i.on.outcome == "blocked"),
        changed_by_loop=sum(1 for i in items if i.on.changed),
    )


def summarize(
    run: MeasureRun,
    *,
    model: str,
    critic: str,
    judge: str,
    principles: Sequence[str],
    agreement: AgreementReport | None = None,
    settings: Mapping[str, object] | None = None,
) -> MeasureReport:
    """Turn a :class:`~poise.align.measure.MeasureRun` into the reported figures."""
    items = run.items
    extra = [float(i.on.calls) for i in items]
    added = [i.on.latency_ms for i in items]
    cost = LoopCost(
        requests=len(items),
        added_latency_ms=(percentile(added, 50), percentile(added, 95)),
        extra_calls_mean=sum(extra) / len(extra) if extra else None,
        extra_calls_p50=percentile(extra, 50),
        extra_calls_p95=percentile(extra, 95),
        draft_latency_ms_p50=percentile([i.off.latency_ms for i in items], 50),
        stopped=dict(sorted(Counter(i.on.stopped for i in items).items())),
    )
    return MeasureReport(
        model=model,
        critic=critic,
        judge=judge,
        principles=tuple(principles),
        harmful=_set_figures("harmful", [i for i in items if i.kind == "harmful"]),
        safe=_set_figures("safe", [i for i in items if i.kind == "safe"]),
        cost=cost,
        agreement=agreement,
        errors=tuple(run.errors),
        from_cache=sum(1 for i in items if i.from_cache),
        seconds=run.seconds,
        settings=dict(settings or {}),
    )


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 1000:.1f} s" if x >= 1000 else f"{x:.0f} ms"


def _f(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def render_report(report: MeasureReport) -> list[str]:
    """The report as plain text lines (the CLI prints them; the docs quote them)."""
    lines = [
        f"model: {report.model}   critic: {report.critic}   principles: {', '.join(report.principles)}",
        f"judge: {report.judge}",
        "",
    ]
    for figures in (report.harmful, report.safe):
        sources = ", ".join(f"{k} {v}" for k, v in figures.sources.items())
        lines.append(f"{figures.metric} ({figures.kind} prompts: {figures.prompts}; {sources})")
        lines.append(f"  loop off: {figures.off}")
        lines.append(f"  loop on:  {figures.on}")
        notes = [f"loop changed {figures.changed_by_loop} reply(ies)"]
        if figures.blocked_on:
            notes.append(f"{figures.blocked_on} blocked by the loop (counted as refusals)")
        if figures.unparseable_off or figures.unparseable_on:
            notes.append(
                f"unparseable judgements left out: {figures.unparseable_off} off, {figures.unparseable_on} on"
            )
        lines.append(f"  ({'; '.join(notes)})")
    c = report.cost
    stopped = ", ".join(f"{k} {v}" for k, v in c.stopped.items())
    lines += [
        "",
        f"loop cost over {c.requests} requests: added latency p50 {_ms(c.added_latency_ms[0])}, "
        f"p95 {_ms(c.added_latency_ms[1])} (draft alone p50 {_ms(c.draft_latency_ms_p50)})",
        f"  model calls per request: {_f(c.calls_per_request, '.2f')} with the loop on (1 draft + "
        f"{_f(c.extra_calls_mean, '.2f')} loop calls; p50 {_f(c.extra_calls_p50, 'g')}, "
        f"p95 {_f(c.extra_calls_p95, 'g')}), 1 with it off",
        f"  loop stopped: {stopped or 'n/a'}",
    ]
    a = report.agreement
    if a is not None:
        lines += [
            "",
            f"judge agreement with XSTest human labels ({a.completions} completions; {a.mapping}):",
            f"  all:      accuracy {_f(a.overall.accuracy)}, Cohen's kappa {_f(a.overall.kappa)} "
            f"(n={a.overall.n})",
            f"  held-out: accuracy {_f(a.heldout.accuracy)}, Cohen's kappa {_f(a.heldout.kappa)} "
            f"(n={a.heldout.n}; ids the refusal detector was not calibrated on)",
        ]
        if a.unparseable:
            lines.append(f"  unparseable judge answers left out: {a.unparseable}")
    lines.append("")
    lines.append(
        f"{c.requests} prompts ({report.from_cache} from cache), {len(report.errors)} failed, "
        f"{report.seconds:.0f} s"
    )
    lines += [f"  failed: {e}" for e in report.errors[:5]]
    return lines
