"""The README's main job on the real embedded model: the installed ``poise`` entry point and the
Python API, several turns in one persisted session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from poise import create_engine
from poise.instructions.types import UserProfile
from poise.models.local import embedded_model_path
from poise.models.types import GenerationParams

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POISE = Path(sys.executable).with_name("poise")


@pytest.fixture(autouse=True)
def _needs_embedded_model() -> None:
    try:
        embedded_model_path()
    except Exception as exc:  # the local extra is not installed here
        pytest.skip(f"embedded model unavailable: {exc}")


def poise_cli(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POISE_HOME": str(home)}
    return subprocess.run(
        [str(POISE), *argv], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_installed_cli_chats_offline_across_turns(tmp_path):
    args = ["chat", "--session", "readme", "--max-tokens", "48", "--json"]
    first = poise_cli(*args, "--message", "Hi! What can you help me with?", home=tmp_path)
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    assert one["reply"].strip() and one["usage"]["completion_tokens"] > 0
    assert one["trace"]["persona"]["id"] == "assistant"
    second = poise_cli(*args, "--message", "How do I reverse a list in Python?", home=tmp_path)
    assert second.returncode == 0, second.stderr
    two = json.loads(second.stdout)
    assert two["turn"] == 2 and two["trace"]["window"]["history_included"] == 2
    assert "python-idioms" in {r["id"] for r in two["trace"]["fired_rules"]}
    assert (tmp_path / "sessions.db").is_file()
    assert second.stderr == ""  # no llama.cpp noise, no shutdown tracebacks


async def test_python_api_multi_turn_with_a_persona(tmp_path):
    engine = create_engine(
        "coding-tutor", "local", db=tmp_path / "s.db", params=GenerationParams(max_tokens=48)
    )
    user = UserProfile(expertise="beginner", locale="en-GB")
    first = await engine.send("What is a variable in Python?", user=user)
    second = await engine.send("And a function?", session_id=first.session_id, user=user)
    streamed = [e async for e in engine.stream("Thanks!", session_id=first.session_id, user=user)]
    assert first.reply.strip() and second.reply.strip()
    assert second.turn == 2 and streamed[-1].turn == 3  # the last stream event is the TurnResult
    assert [m.role for m in engine.history(first.session_id)] == ["user", "assistant"] * 3
    assert "beginner" in {r.rule_id for r in first.trace.instructions.fired}
