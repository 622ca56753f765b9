"""``poise eval run`` through Typer's CliRunner with scripted models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poise.cli.eval import app
from poise.cli.main import main

runner = CliRunner()


def test_run_writes_the_three_reports(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", "-t", "raw:scripted", "-t", "poise:scripted", "-p", "bank-support"]
    args += [
        "--suites",
        "over-refusal,harmful",
        "--limit",
        "4",
        "--data",
        str(shared_data),
        "--out",
        str(out),
    ]
    args += ["--cache", str(tmp_path / "c.sqlite"), "--judge-sample", "100"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Product" in result.output and "binary agreement with XSTest" in result.output
    data = json.loads((out / "report.json").read_text())
    assert set(data["readiness"]) == {"raw:scripted[bank-support]", "poise:scripted[bank-support]"}
    assert data["judge_agreement"][0]["n"] == 100
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "| target | persona consistency |" in (out / "report.md").read_text()
    again = runner.invoke(app, args)
    assert "0 generated, 16 from cache" in again.output


def test_run_from_a_yaml_config(shared_data: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "targets:\n  - raw:scripted\n  - {mode: poise, model: scripted, name: guarded}\n"
        f"suites: [attacks]\nlimit: 3\ndata: {shared_data}\n"
    )
    result = runner.invoke(
        app, ["run", "--config", str(cfg), "--out", str(tmp_path), "--no-cache", "--judge-sample", "10"]
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "report.json").read_text())["readiness"]) == {"raw:scripted", "guarded"}


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("targets: [raw:scripted]\nsuites: [attacks]\nlimt: 3\n", "limt"),
        ("targets: []\n", "targets"),
        ("targets: [raw:scripted]\nsuites: [jokes]\n", "suites"),
    ],
)
def test_bad_config_names_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, fragment: str
) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text(config)
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "run", "--config", str(path), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "eval.yaml" in err and fragment in err and "Traceback" not in err


def test_duplicate_targets_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "run", "-t", "raw:scripted", "-t", "raw:scripted", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "same name" in capsys.readouterr().err


def test_missing_data_folder_says_where_to_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "run", "-t", "raw:scripted", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert "--data" in capsys.readouterr().err
