"""``poise align`` through the CLI entry point (scripted model; the embedded one is in the docs)."""

from __future__ import annotations

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


def test_schema_matches_the_checked_in_file(capsys, tmp_path: Path) -> None:
    code, _, _ = run(capsys, "align", "schema", "-o", str(tmp_path / "s.json"))
    assert code == 0
    checked_in = Path(__file__).resolve().parents[2] / "schemas" / "constitution.schema.json"
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(checked_in.read_text())


def test_principles_for_a_persona(capsys) -> None:
    code, out, _ = run(capsys, "align", "principles", "--persona", "bank-support")
    assert code == 0 and "no-financial-advice" in out and "honesty" in out


def test_unreadable_critique_is_a_clear_error(capsys) -> None:
    # the scripted model echoes, so the critic's answer has no verdict: fail closed, exit 2
    code, _, err = run(capsys, "align", "run", "hi", "--model", "scripted", "--on-unparseable", "fail_closed")
    assert code == 2 and "cannot read a verdict" in err


def test_keep_draft_prints_the_transcript_as_json(capsys) -> None:
    code, out, _ = run(
        capsys, "align", "run", "hi", "--model", "scripted", "--on-unparseable", "keep_draft", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["stopped"] == "unparseable" and result["text"] == "echo: hi"


def test_bad_option_value_names_the_field(capsys) -> None:
    code, _, err = run(capsys, "align", "run", "hi", "--model", "scripted", "--selection", "best")
    assert code == 2 and "selection" in err


def test_generate_with_a_bad_prompts_file(capsys, tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text("{oops\n")
    code, _, err = run(
        capsys,
        "align",
        "generate",
        "--prompts",
        str(tmp_path / "p.jsonl"),
        "--out",
        str(tmp_path / "o"),
        "--model",
        "scripted",
    )
    assert code == 2 and "p.jsonl:1" in err
