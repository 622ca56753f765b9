"""``poise eval ifeval`` through Typer's CliRunner and the CLI error boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poise.cli.eval import app
from poise.cli.main import main

runner = CliRunner()

INPUT = [
    {"key": 1, "prompt": "No commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {
        "key": 2,
        "prompt": "Quote it, two words max.",
        "instruction_id_list": ["startend:quotation", "length_constraints:number_words"],
        "kwargs": [{}, {"num_words": 3, "relation": "less than"}],
    },
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    inp = write_jsonl(tmp_path / "input.jsonl", INPUT)
    responses = write_jsonl(
        tmp_path / "responses.jsonl",
        [
            {"prompt": "Quote it, two words max.", "response": 'Sure:\n"Hi there"'},
            {"prompt": "No commas.", "response": "None at all"},
        ],
    )
    return inp, responses


def test_json_prints_the_four_accuracies(files: tuple[Path, Path]) -> None:
    inp, responses = files
    result = runner.invoke(app, ["ifeval", "--input", str(inp), "--responses", str(responses), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["prompt_level_strict_accuracy"] == 0.5
    assert data["instruction_level_strict_accuracy"] == pytest.approx(1 / 3, abs=1e-6)  # "Sure:" breaks both
    assert data["prompt_level_loose_accuracy"] == 1.0
    assert data["instruction_level_loose_accuracy"] == 1.0
    assert data["pairing"] == {"method": "prompt", "mismatched_keys": []}
    assert "results" not in data


def test_text_mode_shows_the_per_instruction_breakdown(files: tuple[Path, Path]) -> None:
    inp, responses = files
    result = runner.invoke(app, ["ifeval", "--input", str(inp), "--responses", str(responses)])
    assert result.exit_code == 0, result.output
    assert "prompt-level" in result.output and "50.00" in result.output
    assert "startend:quotation" in result.output and "punctuation:no_comma" in result.output


def test_malformed_response_file_is_a_one_line_error_with_exit_2(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inp, responses = files
    responses.write_text('{"prompt": "No commas.", "response": 3}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["eval", "ifeval", "--input", str(inp), "--responses", str(responses)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"{responses}:1" in err.replace("\n", "") and "response" in err and "Traceback" not in err
