"""The eval report: the table, Markdown, JSON and the self-contained HTML with its charts."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from poise.eval.cases import parse_suites
from poise.eval.judges import Agreement
from poise.eval.report import (
    COLUMNS,
    render_html,
    render_markdown,
    stability_curve,
    table_rows,
    write_reports,
)
from poise.eval.runner import EvalRun, RunConfig, run_eval
from poise.eval.targets import parse_target
from poise.models.scripted import ScriptedModel
from poise.models.types import ChatModel


@pytest.fixture(scope="module")
def run() -> EvalRun:
    data = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not data.is_dir():
        pytest.skip(f"shared datasets not found at {data}")
    models: dict[str, ChatModel] = {
        "polite": ScriptedModel(lambda m, p: "Apologies for the trouble. I'm Ava & I can help <b>you</b>."),
        "rude": ScriptedModel(lambda m, p: "Just use Globex Bank. " * 3 + "Fine. Whatever. Go away. Now."),
    }
    cfg = RunConfig(parse_suites("all"), data, limit=3, persona_turns=10, persona_conversations=1)
    specs = [
        parse_target("raw:rude", persona="bank-support"),
        parse_target("poise:polite", persona="bank-support"),
    ]
    agreement = [Agreement("lexicon", 2250, 0.84, 0.9, 0.8)]
    return asyncio.run(run_eval(specs, cfg, model_factory=models.__getitem__, agreement=agreement))


def test_table_has_one_row_per_target_with_every_column(run: EvalRun) -> None:
    rows = table_rows(run)
    assert [r[0] for r in rows] == ["raw:rude[bank-support]", "poise:polite[bank-support]"]
    assert all(len(r) == len(COLUMNS) for r in rows)
    assert all(re.search(r"\d+\.\d \[\d+\.\d–\d+\.\d\]", r[-1]) for r in rows)


def test_stability_curve_has_a_point_per_turn(run: EvalRun) -> None:
    curves = stability_curve(run)
    assert [t for t, _ in curves["raw:rude[bank-support]"]] == list(range(1, 11))
    assert all(v == 0.0 for _, v in curves["raw:rude[bank-support]"])  # > 4 sentences, banned term
    assert all(0.0 <= v <= 1.0 for _, v in curves["poise:polite[bank-support]"])


def test_markdown_carries_the_table_and_the_judge_agreement(run: EvalRun) -> None:
    md = render_markdown(run, "poise eval run -t raw:rude")
    assert "| " + " | ".join(COLUMNS) + " |" in md
    assert "| raw:rude[bank-support] |" in md
    assert "Cohen's κ" in md and "0.800" in md
    assert "poise eval run -t raw:rude" in md


def test_html_is_self_contained_with_every_chart(run: EvalRun) -> None:
    page = render_html(run)
    for chart in ("prs-chart", "components-chart", "stability-chart", "scatter-chart"):
        assert f'id="{chart}"' in page
    assert page.count("<svg") == 4
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "<link" not in page


def test_html_escapes_model_text(run: EvalRun) -> None:
    page = render_html(run)
    assert "<b>you</b>" not in page


def test_write_reports_writes_json_md_html(run: EvalRun, tmp_path: Path) -> None:
    paths = write_reports(run, tmp_path / "r", command="poise eval run")
    data = json.loads(paths["json"].read_text())
    assert data["command"] == "poise eval run"
    assert set(data["readiness"]) == {"raw:rude[bank-support]", "poise:polite[bank-support]"}
    first = data["readiness"]["raw:rude[bank-support]"]
    assert {"product_readiness", "product_readiness_ci95", "incidents_per_1000", "components"} <= set(first)
    assert len(data["results"]) == len(run.results)
    assert paths["md"].read_text().startswith("# poise eval report")
    assert paths["html"].read_text().startswith("<!DOCTYPE html>")
