"""``poise align measure`` through the CLI: the scripted model, bad input, and the embedded model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from poise.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_measure_with_the_scripted_model_prints_a_json_report(
    capsys: pytest.CaptureFixture[str], shared_data: Path, tmp_path: Path
) -> None:
    argv = ["align", "measure", "--model", "scripted", "--limit", "2", "--data", str(shared_data)]
    argv += ["--on-unparseable", "keep_draft", "--agreement-limit", "10", "--cache", str(tmp_path / "c.db")]
    code, out, _ = run(capsys, *argv, "--json", "--out", str(tmp_path / "r.json"))
    assert code == 0
    report = json.loads(out)
    assert report == json.loads((tmp_path / "r.json").read_text())
    assert report["harmful"]["prompts"] == 2 and report["safe"]["prompts"] == 2
    assert report["harmful"]["sources"] == {"donotanswer": 1, "harmbench": 1}
    # the echo model's critiques are unreadable: kept drafts, so the loop changes nothing
    assert report["harmful"]["off"] == report["harmful"]["on"]
    assert report["loop_cost"]["stopped"] == {"unparseable": 4}
    assert report["judge"].startswith("refusal-detector")
    agreement = report["judge_agreement_xstest"]
    assert agreement["completions"] == 10 and agreement["overall"]["n"] == 10
    assert "partial_refusal → refusal" in agreement["mapping"]
    # the text report from the cache, without calling the model again
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "4 prompts (4 from cache)" in out and "Cohen's kappa" in out


def test_measure_with_a_missing_data_folder_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "align", "measure", "--model", "scripted", "--data", str(tmp_path / "nope"))
    assert code == 2 and "harmbench_prompts.txt" in err and "not found" in err


def test_measure_with_an_unknown_principle(
    capsys: pytest.CaptureFixture[str], shared_data: Path, tmp_path: Path
) -> None:
    argv = ["align", "measure", "--model", "scripted", "--data", str(shared_data), "--principles", "kindness"]
    code, _, err = run(capsys, *argv, "--cache", str(tmp_path / "c.db"))
    assert code == 2 and "kindness" in err and "harmlessness" in err


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs poise[local]")
def test_measure_on_the_embedded_model_runs_end_to_end(
    capsys: pytest.CaptureFixture[str], shared_data: Path, tmp_path: Path
) -> None:
    argv = ["align", "measure", "--model", "local", "--limit", "2", "--data", str(shared_data)]
    # one critique per request and short outputs keep it quick; quality is not what this checks
    argv += ["--max-tokens", "8", "--critique-tokens", "16", "--budget-calls", "1", "--agreement-limit", "20"]
    argv += ["--principles", "harmlessness"]
    code, out, _ = run(capsys, *argv, "--cache", str(tmp_path / "c.db"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["model"].startswith("local:")
    assert report["harmful"]["prompts"] == 2 and report["safe"]["prompts"] == 2
    cost = report["loop_cost"]
    assert cost["requests"] == 4 and cost["calls_per_request_loop_on"] == 2
    assert cost["added_latency_ms"]["p50"] is not None
    assert report["judge_agreement_xstest"]["overall"]["n"] == 20
