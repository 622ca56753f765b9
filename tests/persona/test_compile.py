from __future__ import annotations

import os
from pathlib import Path

import pytest

from poise.errors import ConfigError
from poise.instructions.types import FiredRule, InstructionFragment, InstructionResult
from poise.persona import builtin_personas, compile_persona, family_for, resolve_persona

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("POISE_UPDATE_SNAPSHOTS") == "1"

FIRED = InstructionResult(
    fragments=(
        InstructionFragment("python-idioms", "Use idiomatic Python 3.11 with type hints.", priority=5),
        InstructionFragment("beginner", "Explain every new term in plain words.", priority=10),
        InstructionFragment("frustrated", "The user is frustrated: acknowledge it first.", section="tone"),
    ),
    fired=(
        FiredRule("python-idioms", ("code_language = python",), "add"),
        FiredRule("beginner", ("user.expertise = beginner",), "add"),
        FiredRule("frustrated", ("sentiment -0.70 <= -0.40",), "replace"),
    ),
)


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing snapshot {name}; create it with POISE_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; rerun with POISE_UPDATE_SNAPSHOTS=1 if intended"
    )


@pytest.mark.parametrize("family", ["markdown", "xml", "compact"])
@pytest.mark.parametrize("name", sorted(builtin_personas()))
def test_builtin_persona_snapshots(name, family):
    compiled = compile_persona(resolve_persona(name), family=family)
    check_snapshot(f"{name}.{family}.txt", compiled.text)


def test_snapshot_with_instructions_and_canary():
    compiled = compile_persona(resolve_persona("coding-tutor"), FIRED, canary="PSE-CANARY-1234")
    check_snapshot("coding-tutor.instructions.txt", compiled.text)


def test_compile_is_deterministic_byte_for_byte():
    p = resolve_persona("bank-support")
    outputs = {compile_persona(p, FIRED, family=f, canary="c").text.encode() for f in ["markdown"] * 5}
    assert len(outputs) == 1


def test_instruction_fragments_ordered_by_priority_and_sections_replaced():
    compiled = compile_persona(resolve_persona("coding-tutor"), FIRED)
    text = compiled.text
    assert text.index("Explain every new term") < text.index("Use idiomatic Python")
    assert "The user is frustrated: acknowledge it first." in text
    assert "Write in a casual register" not in text  # tone section replaced
    assert compiled.trace.replaced_sections == ("tone",)
    assert [r.rule_id for r in compiled.trace.fired_rules] == ["python-idioms", "beginner", "frustrated"]


def test_fragment_that_replaces_another_rule_supersedes_it():
    result = InstructionResult(
        fragments=(
            InstructionFragment("generic", "Generic advice."),
            InstructionFragment("specific", "Specific advice.", replaces="generic"),
        )
    )
    text = compile_persona(resolve_persona("assistant"), result).text
    assert "Specific advice." in text and "Generic advice." not in text


def test_trace_identifies_persona_and_prompt():
    p = resolve_persona("bank-support")
    compiled = compile_persona(p, canary="X")
    trace = compiled.trace.to_dict()
    assert trace["persona"] == {"id": p.id, "version": p.version, "hash": p.content_hash()}
    assert len(trace["prompt_sha256"]) == 64
    assert compiled.text.rstrip().endswith("X")


def test_unknown_family_and_section_are_errors():
    p = resolve_persona("assistant")
    with pytest.raises(ConfigError, match="unknown prompt family"):
        compile_persona(p, family="yaml")  # type: ignore[arg-type]
    bad = InstructionResult(fragments=(InstructionFragment("r", "t", section="nope"),))
    with pytest.raises(ConfigError, match="unknown section 'nope'"):
        compile_persona(p, bad)


@pytest.mark.parametrize(
    ("backend", "model", "family"),
    [
        ("anthropic", "claude-x", "xml"),
        ("openai", "claude-via-proxy", "xml"),
        ("local", "smollm2", "compact"),
        ("openai", "gpt-4o", "markdown"),
        ("scripted", "scripted", "markdown"),
    ],
)
def test_family_for_backend(backend, model, family):
    assert family_for(backend, model) == family
