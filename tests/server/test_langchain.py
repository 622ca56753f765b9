"""The LangChain example of docs/gateway.md, run as written against a live gateway."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

pytest.importorskip("langchain_openai")

from poise.models.scripted import ScriptedModel
from poise.server import GatewayConfig, create_app

from .live import ServerThread

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
REPLY = "Check that the card is not frozen and that the shop accepts it."


def _langchain_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (block,) = [b for b in blocks if "from langchain_openai import ChatOpenAI" in b]
    return block


def test_the_documented_langchain_example_runs_against_the_gateway(tmp_path):
    config = GatewayConfig.model_validate(
        {
            "backends": {"s": {"model": "scripted"}},
            "models": [{"id": "bank-support", "persona": "bank-support", "backend": "s"}],
            "audit": {"path": str(tmp_path / "audit.db")},
        }
    )
    model = ScriptedModel(lambda messages, params: REPLY)
    app = create_app(config, models={"s": model}, host="127.0.0.1")
    code = _langchain_block()
    assert "http://127.0.0.1:8000/v1" in code
    out = io.StringIO()
    with ServerThread(app) as url, contextlib.redirect_stdout(out):
        exec(compile(code.replace("http://127.0.0.1:8000/v1", url), str(DOC), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == REPLY  # invoke
    assert lines[1].startswith("stop {'input_tokens': ")  # finish reason and usage metadata
    assert lines[2] == REPLY  # stream, reassembled
    assert len(model.calls) == 2
