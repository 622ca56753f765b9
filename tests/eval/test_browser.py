"""The HTML report renders in a real browser (headless Chromium): the table rows and the SVG charts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from poise.eval.cases import parse_suites
from poise.eval.report import write_reports
from poise.eval.runner import RunConfig, run_eval
from poise.eval.targets import parse_target
from poise.models.scripted import ScriptedModel

pytestmark = pytest.mark.integration

CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(shared_data: Path, tmp_path: Path) -> None:
    model = ScriptedModel(lambda m, p: "Apologies for the trouble. I'm Ava, happy to help.")
    cfg = RunConfig(parse_suites("over-refusal,harmful,persona"), shared_data, limit=2, persona_turns=10)
    specs = [parse_target("raw:m", persona="bank-support"), parse_target("poise:m", persona="bank-support")]
    run = asyncio.run(run_eval(specs, cfg, model_factory=lambda _: model))
    html = write_reports(run, tmp_path)["html"]
    assert CHROMIUM is not None
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "<td>raw:m[bank-support]</td>" in dom and "<td>poise:m[bank-support]</td>" in dom
    assert dom.count("<svg") == 4 and "<polyline" in dom and "<circle" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1280,1600",
            html.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert shot.stat().st_size > 10_000
