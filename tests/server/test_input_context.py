"""The gateway's input rails check a message against the route's own persona prompt."""

from __future__ import annotations

from pathlib import Path

import poise.persona
from poise.models.scripted import ScriptedModel

from .conftest import MakeGateway


async def test_a_topic_the_persona_forbids_is_blocked_before_the_upstream(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    parent = Path(poise.persona.__file__).parent / "builtin" / "bank-support.yaml"
    spec = tmp_path / "no-crypto.yaml"
    spec.write_text(
        f"extends: {parent}\nid: acme-no-crypto\nversion: 1.0.0\nrules:\n"
        "  - id: no-crypto\n    dont: Discuss cryptocurrency or bitcoin trading.\n",
        encoding="utf-8",
    )
    model = ScriptedModel(["should never be said"])
    gw = await make_gateway(
        model,
        models=[
            {"id": "bank", "persona": str(spec), "backend": "s"},
            {"id": "plain", "persona": "bank-support", "backend": "s"},
        ],
        tenants={},
    )
    question = "Should I move my savings into bitcoin trading this year?"
    blocked = await gw.chat(question, key=None)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["choices"][0]["finish_reason"] == "content_filter" and model.calls == []
    passed = await gw.chat(question, key=None, model="plain")
    assert passed.json()["choices"][0]["finish_reason"] == "stop" and len(model.calls) == 1
