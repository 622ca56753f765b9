"""The eval report: JSON (everything), Markdown (the table) and one self-contained HTML file.

The HTML has inline CSS and inline SVG charts — no scripts, no CDN, so it opens offline and can be
attached to a ticket: the Product Readiness Score per target with its 95 % interval, every component
per target with whiskers, persona stability over turns, and refusal of harmful prompts against
answering of safe ones (the corner top-right is where a product should be).
"""

# ruff: noqa: E501  (SVG and CSS fragments read best one element per line)
from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from poise.eval.readiness import Readiness
from poise.eval.runner import EvalRun

__all__ = ["COLUMNS", "render_html", "render_markdown", "stability_curve", "table_rows", "write_reports"]

COLUMNS = (
    "target",
    "persona consistency",
    "refusal",
    "instruction following",
    "attack resistance",
    "incidents",
    "Product Readiness",
)
_COMPONENTS = (
    ("persona_consistency", "persona consistency"),
    ("refusal", "refusal balance"),
    ("helpfulness", "answers safe prompts"),
    ("safety", "refuses harmful prompts"),
    ("instruction_following", "instruction following"),
    ("attack_resistance", "attack resistance"),
)
_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1")


def _pct(r: Readiness, name: str) -> str:
    c = r.components.get(name)
    if c is None:
        return "—"
    return f"{100 * c.value:.0f} % [{100 * c.low:.0f}–{100 * c.high:.0f}]"


def table_rows(run: EvalRun) -> list[list[str]]:
    """The summary table, one row per target, columns :data:`COLUMNS`."""
    rows = []
    for label, r in run.readiness.items():
        rows.append(
            [
                label,
                _pct(r, "persona_consistency"),
                _pct(r, "refusal"),
                _pct(r, "instruction_following"),
                _pct(r, "attack_resistance"),
                f"{r.incidents_per_1000:.0f} / 1000 [{r.incidents_ci[0]:.0f}–{r.incidents_ci[1]:.0f}]",
                f"{r.score:.1f} [{r.score_ci[0]:.1f}–{r.score_ci[1]:.1f}]" + ("" if r.complete else " *"),
            ]
        )
    return rows


def stability_curve(run: EvalRun) -> dict[str, list[tuple[int, float]]]:
    """Per target: (turn, share of persona conversations whose reply at that turn kept every rule)."""
    acc: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in run.results:
        if r.suite == "persona" and r.passed is not None:
            for turn, ok, *_ in r.details.get("turns", []):
                acc[r.target][int(turn)].append(bool(ok))
    return {t: [(k, sum(v) / len(v)) for k, v in sorted(turns.items())] for t, turns in acc.items()}


def _suite_breakdown(run: EvalRun) -> list[tuple[str, str, str, int, int]]:
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in run.results:
        if r.passed is None:
            continue
        c = counts[(r.target, r.suite, r.source)]
        c[0] += int(r.passed)
        c[1] += 1
    return [(t, s, src, ok, n) for (t, s, src), (ok, n) in sorted(counts.items())]


def render_markdown(run: EvalRun, command: str | None = None) -> str:
    """The Markdown report: the table, the per-source breakdown, the judge's agreement."""
    out = ["# poise eval report", ""]
    if command:
        out += ["```", command, "```", ""]
    out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(row) + " |" for row in table_rows(run)]
    out += [
        "",
        "Values are shares with 95 % intervals (Wilson; refusal = the balance of answering safe and "
        "refusing harmful prompts; Product Readiness by bootstrap). `*` = not every suite ran, so the "
        "score covers only what did.",
        "",
        "## Per suite and source",
        "",
        "| target | suite | source | passed | n |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {t} | {s} | {src} | {ok} | {n} |" for t, s, src, ok, n in _suite_breakdown(run)]
    out += ["", f"## Judge: `{run.judge}`", ""]
    if run.agreement:
        out += ["| judge | n | 3-class accuracy | binary accuracy | Cohen's κ |", "|---|---|---|---|---|"]
        out += [
            f"| {a.judge} | {a.n} | {100 * a.accuracy_3class:.1f} % | {100 * a.accuracy_binary:.1f} % | "
            f"{a.kappa_binary:.3f} |"
            for a in run.agreement
        ]
        out += ["", "Agreement with the human labels of XSTest's model completions."]
    cfg = run.config
    out += [
        "",
        f"Suites {', '.join(cfg.suites)}; limit {cfg.limit} per suite (seed {cfg.seed}); "
        f"{run.generated} transcripts generated, {run.cached} from cache; {run.seconds:.0f} s.",
        "",
    ]
    return "\n".join(out)


# --- HTML -------------------------------------------------------------------------------------


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bars_svg(run: EvalRun) -> str:
    """Horizontal bars of the PRS (0–10) per target with the 95 % interval as a whisker."""
    items = list(run.readiness.items())
    h, left, width = 34, 220, 480
    parts = [
        f'<svg class="chart" id="prs-chart" width="{left + width + 60}" height="{h * len(items) + 40}" role="img">'
    ]
    for tick in range(0, 11, 2):
        x = left + width * tick / 10
        parts.append(f'<line x1="{x}" y1="10" x2="{x}" y2="{h * len(items) + 12}" class="grid"/>')
        parts.append(f'<text x="{x}" y="{h * len(items) + 28}" class="tick">{tick}</text>')
    for i, (label, r) in enumerate(items):
        y = 14 + i * h
        colour = _COLOURS[i % len(_COLOURS)]
        parts.append(f'<text x="{left - 8}" y="{y + 15}" class="label">{_esc(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{width * r.score / 10:.1f}" height="20" fill="{colour}"/>'
        )
        lo, hi = left + width * r.score_ci[0] / 10, left + width * r.score_ci[1] / 10
        parts.append(f'<line x1="{lo:.1f}" y1="{y + 10}" x2="{hi:.1f}" y2="{y + 10}" class="whisker"/>')
        for x in (lo, hi):
            parts.append(f'<line x1="{x:.1f}" y1="{y + 4}" x2="{x:.1f}" y2="{y + 16}" class="whisker"/>')
        parts.append(
            f'<text x="{left + width * r.score / 10 + 6:.1f}" y="{y + 15}" class="value">{r.score:.1f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _components_svg(run: EvalRun) -> str:
    """Grouped bars: each component (0–100 %) per target, whiskers for the interval."""
    targets = list(run.readiness)
    names = [(k, t) for k, t in _COMPONENTS if any(k in r.components for r in run.readiness.values())]
    group = 24 * len(targets) + 16
    left, width = 200, 480
    height = group * len(names) + 40
    parts = [
        f'<svg class="chart" id="components-chart" width="{left + width + 60}" height="{height}" role="img">'
    ]
    for tick in range(0, 101, 20):
        x = left + width * tick / 100
        parts.append(f'<line x1="{x}" y1="6" x2="{x}" y2="{height - 28}" class="grid"/>')
        parts.append(f'<text x="{x}" y="{height - 12}" class="tick">{tick}%</text>')
    for g, (key, title) in enumerate(names):
        y0 = 8 + g * group
        parts.append(f'<text x="{left - 8}" y="{y0 + group / 2}" class="label">{_esc(title)}</text>')
        for i, t in enumerate(targets):
            c = run.readiness[t].components.get(key)
            if c is None:
                continue
            y = y0 + i * 24
            parts.append(
                f'<rect x="{left}" y="{y}" width="{width * c.value:.1f}" height="18" fill="{_COLOURS[i % len(_COLOURS)]}">'
                f"<title>{_esc(t)}: {100 * c.value:.1f} % ({c.successes}/{c.n})</title></rect>"
            )
            lo, hi = left + width * c.low, left + width * c.high
            parts.append(f'<line x1="{lo:.1f}" y1="{y + 9}" x2="{hi:.1f}" y2="{y + 9}" class="whisker"/>')
    parts.append("</svg>")
    return "".join(parts)


def _stability_svg(run: EvalRun) -> str:
    curves = stability_curve(run)
    if not curves:
        return "<p>No persona conversations in this run.</p>"
    turns = max(t for pts in curves.values() for t, _ in pts)
    left, top, width, height = 50, 10, 620, 220
    parts = [
        f'<svg class="chart" id="stability-chart" width="{left + width + 20}" height="{top + height + 40}" role="img">'
    ]
    for tick in range(0, 101, 25):
        y = top + height * (1 - tick / 100)
        parts.append(f'<line x1="{left}" y1="{y}" x2="{left + width}" y2="{y}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4}" class="label">{tick}%</text>')
    for t in range(0, turns + 1, max(1, turns // 10)):
        x = left + width * t / max(1, turns)
        parts.append(f'<text x="{x:.1f}" y="{top + height + 18}" class="tick">{t}</text>')
    parts.append(f'<text x="{left + width / 2}" y="{top + height + 36}" class="tick">turn</text>')
    for i, (target, pts) in enumerate(curves.items()):
        path = " ".join(
            f"{left + width * t / max(1, turns):.1f},{top + height * (1 - v):.1f}" for t, v in pts
        )
        colour = (
            _COLOURS[list(run.readiness).index(target) % len(_COLOURS)]
            if target in run.readiness
            else _COLOURS[i]
        )
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"><title>{_esc(target)}</title></polyline>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _scatter_svg(run: EvalRun) -> str:
    pts = [
        (t, r.components["helpfulness"].value, r.components["safety"].value)
        for t, r in run.readiness.items()
        if "helpfulness" in r.components and "safety" in r.components
    ]
    if not pts:
        return "<p>Run both over-refusal and harmful suites for this chart.</p>"
    left, top, size = 60, 10, 260
    parts = [
        f'<svg class="chart" id="scatter-chart" width="{left + size + 200}" height="{top + size + 50}" role="img">'
    ]
    parts.append(f'<rect x="{left}" y="{top}" width="{size}" height="{size}" class="frame"/>')
    for tick in range(0, 101, 25):
        x = left + size * tick / 100
        y = top + size * (1 - tick / 100)
        parts.append(f'<text x="{x}" y="{top + size + 16}" class="tick">{tick}%</text>')
        parts.append(f'<text x="{left - 6}" y="{y + 4}" class="label">{tick}%</text>')
    parts.append(
        f'<text x="{left + size / 2}" y="{top + size + 34}" class="tick">answers safe prompts</text>'
    )
    parts.append(
        f'<text x="{left + size + 8}" y="{top + 12}" class="note">← refuses harmful prompts (y)</text>'
    )
    for i, (t, x, y) in enumerate(pts):
        cx, cy = left + size * x, top + size * (1 - y)
        colour = _COLOURS[list(run.readiness).index(t) % len(_COLOURS)]
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{colour}"><title>{_esc(t)}</title></circle>'
        )
        parts.append(
            f'<text x="{left + size + 8}" y="{top + 40 + 18 * i}" class="note" fill="{colour}">● {_esc(t)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.6em;margin-bottom:0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}code,pre{background:#f6f6f6;padding:2px 4px}pre{padding:8px;white-space:pre-wrap}
.chart text{font-size:12px}.label{text-anchor:end}.tick{text-anchor:middle;fill:#555}.value{font-weight:bold}
.grid{stroke:#e4e4e4}.whisker{stroke:#222;stroke-width:1.5}.frame{fill:none;stroke:#999}.note{font-size:12px}
.muted{color:#666;font-size:.9em}.key{margin-right:18px;font-size:.9em}
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}
"""


def _table_html(headers: Sequence[str], rows: Sequence[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _legend(run: EvalRun) -> str:
    items = "".join(
        f'<span class="key"><span class="swatch" style="background:{_COLOURS[i % len(_COLOURS)]}"></span>{_esc(t)}</span>'
        for i, t in enumerate(run.readiness)
    )
    return f'<p class="legend">{items}</p>'


def render_html(run: EvalRun, command: str | None = None) -> str:
    """The self-contained HTML report (inline CSS and SVG, no scripts)."""
    cfg = run.config
    agreement = (
        _table_html(
            ("judge", "n", "3-class accuracy", "binary accuracy", "Cohen's κ"),
            [
                (
                    a.judge,
                    a.n,
                    f"{100 * a.accuracy_3class:.1f} %",
                    f"{100 * a.accuracy_binary:.1f} %",
                    f"{a.kappa_binary:.3f}",
                )
                for a in run.agreement
            ],
        )
        if run.agreement
        else "<p>Judge agreement not computed for this run.</p>"
    )
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>poise eval report</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>poise eval — Product Readiness</h1>",
        f'<p class="muted">Suites: {_esc(", ".join(cfg.suites))} · limit {_esc(cfg.limit)} per suite · seed {cfg.seed} · '
        f"judge <code>{_esc(run.judge)}</code> · {run.generated} generated, {run.cached} cached · {run.seconds:.0f} s</p>",
        f"<pre>{_esc(command)}</pre>" if command else "",
        _table_html(COLUMNS, table_rows(run), "summary"),
        '<p class="muted">95 % intervals in brackets. <code>*</code>: not every suite ran.</p>',
        "<h2>Product Readiness Score (0–10, 95 % interval)</h2>",
        _bars_svg(run),
        "<h2>Components</h2>",
        _legend(run),
        _components_svg(run),
        "<h2>Persona stability over turns</h2>",
        '<p class="muted">Share of persona conversations whose reply at each turn kept every applicable rule '
        "(probes every 5th turn).</p>",
        _legend(run),
        _stability_svg(run),
        "<h2>Refusal vs compliance</h2>",
        _scatter_svg(run),
        "<h2>Per suite and source</h2>",
        _table_html(("target", "suite", "source", "passed", "n"), _suite_breakdown(run)),
        "<h2>Refusal judge agreement with XSTest human labels</h2>",
        agreement,
        "</body></html>",
    ]
    return "\n".join(s for s in sections if s)


def write_reports(
    run: EvalRun, out_dir: Path, *, command: str | None = None, stem: str = "report"
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / f"{stem}.json",
        "md": out_dir / f"{stem}.md",
        "html": out_dir / f"{stem}.html",
    }
    data = run.to_dict()
    data["command"] = command
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(render_markdown(run, command), encoding="utf-8")
    paths["html"].write_text(render_html(run, command), encoding="utf-8")
    return paths
