"""Training data: SL-CAI and DPO JSONL in TRL's shapes, resumable, concurrent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from poise.align import ConstitutionalLoop, LoopSettings
from poise.align.constitution import Budget
from poise.align.dataset import AlignmentDataWriter, PromptItem, read_prompts
from poise.align.generate import generate
from poise.errors import DatasetError
from poise.models import ChatMessage, GenerationParams, ScriptedModel

from .helpers import BALANCE_DRAFT, HONEST_REPLY, is_critique, is_revision, reply_under_review

PROMPTS = [PromptItem(f"p{i}", f"What is my balance, question {i}?") for i in range(6)]
SETTINGS = LoopSettings(
    triggers=["always"],
    selection="sampled",
    max_principles=1,
    max_rounds=1,
    budget=Budget(max_extra_calls=50),
)


def actor_fn(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    if is_revision(messages):
        return HONEST_REPLY
    return BALANCE_DRAFT


def critic_fn(messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    if is_critique(messages):
        bad = "$" in reply_under_review(messages)
        return json.dumps({"violation": bad, "critique": "invents a balance" if bad else "fine"})
    # a comparison: prefer the reply without a '$' amount
    text = messages[-1].content
    a = text.split("Reply A:\n", 1)[1].split("\n\n", 1)[0]
    return '{"preferred": "%s", "reason": "no invented balance"}' % ("B" if "$" in a else "A")


def make_loop() -> ConstitutionalLoop:
    return ConstitutionalLoop(ScriptedModel(actor_fn), critic=ScriptedModel(critic_fn), settings=SETTINGS)


@pytest.mark.slow  # importing datasets (pyarrow, pandas) takes seconds
async def test_generated_files_load_with_datasets_in_trl_shapes(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    writer = AlignmentDataWriter(tmp_path, "messages")
    report = await generate(PROMPTS, make_loop(), writer, concurrency=3)
    assert (report.written, report.pairs, report.failed) == (6, 6, 0)

    sft = datasets.load_dataset("json", data_files=str(tmp_path / "sft.jsonl"), split="train")
    assert sft.column_names == ["messages"] and len(sft) == 6
    assert [m["role"] for m in sft[0]["messages"]] == ["user", "assistant"]
    assert sft[0]["messages"][1]["content"] == HONEST_REPLY

    dpo = datasets.load_dataset("json", data_files=str(tmp_path / "dpo.jsonl"), split="train")
    assert sorted(dpo.column_names) == ["chosen", "prompt", "rejected"] and len(dpo) == 6
    row = dpo[0]
    assert row["prompt"][0]["role"] == "user"
    assert row["chosen"] == [{"role": "assistant", "content": HONEST_REPLY}]
    assert row["rejected"] == [{"role": "assistant", "content": BALANCE_DRAFT}]

    records = [json.loads(line) for line in (tmp_path / "sl_cai.jsonl").read_text().splitlines()]
    assert {r["id"] for r in records} == {p.id for p in PROMPTS}
    r = records[0]
    assert r["initial_response"] == BALANCE_DRAFT and r["revision"] == HONEST_REPLY
    assert r["critiques"][0]["verdict"] == "violation"
    assert r["preference"]["chosen_is"] == "revision"
    # A/B order is drawn per prompt: both orders occur, and the label follows the content, not the slot
    assert {x["preference"]["order"] for x in records} == {"initial-first", "initial-second"}


async def test_prompt_completion_format(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    await generate(PROMPTS[:2], make_loop(), AlignmentDataWriter(tmp_path, "prompt-completion"))
    sft = datasets.load_dataset("json", data_files=str(tmp_path / "sft.jsonl"), split="train")
    assert sorted(sft.column_names) == ["completion", "prompt"]


async def test_rerun_skips_written_prompts(tmp_path: Path) -> None:
    await generate(PROMPTS[:3], make_loop(), AlignmentDataWriter(tmp_path))
    loop = make_loop()
    report = await generate(PROMPTS, loop, AlignmentDataWriter(tmp_path), concurrency=2)
    assert (report.skipped, report.written) == (3, 3)
    assert len((tmp_path / "sft.jsonl").read_text().splitlines()) == 6
    assert len((tmp_path / "dpo.jsonl").read_text().splitlines()) == 6


async def test_resume_after_a_crash_mid_write(tmp_path: Path) -> None:
    await generate(PROMPTS[:2], make_loop(), AlignmentDataWriter(tmp_path))
    # a crash after the SFT line of a third prompt, and halfway through its record
    with (tmp_path / "sft.jsonl").open("a") as f:
        f.write('{"messages": []}\n')
    with (tmp_path / "sl_cai.jsonl").open("a") as f:
        f.write('{"id": "p2", "prompt": "tor')
    report = await generate(PROMPTS[:3], make_loop(), AlignmentDataWriter(tmp_path))
    assert (report.skipped, report.written) == (2, 1)
    sft_lines = (tmp_path / "sft.jsonl").read_text().splitlines()
    assert len(sft_lines) == 3 and all(json.loads(x)["messages"] for x in sft_lines)
    ids = [json.loads(x)["id"] for x in (tmp_path / "sl_cai.jsonl").read_text().splitlines()]
    assert ids.count("p2") == 1 and len(ids) == 3


async def test_limit_and_failed_prompts_are_reported_not_written(tmp_path: Path) -> None:
    critic = ScriptedModel(lambda m, p: "no verdict at all")
    loop = ConstitutionalLoop(
        ScriptedModel(actor_fn),
        critic=critic,
        settings=SETTINGS.model_copy(update={"on_unparseable": "fail_closed"}),
    )
    report = await generate(PROMPTS, loop, AlignmentDataWriter(tmp_path), limit=2)
    assert (report.total, report.failed, report.written) == (2, 2, 0)
    assert "CritiqueParseError" in report.errors[0]
    assert not (tmp_path / "sft.jsonl").exists()


async def test_unchanged_draft_is_paired_with_a_second_sample(tmp_path: Path) -> None:
    samples = iter(["Hello there.", "Hi! How can I help?"])
    actor = ScriptedModel(lambda m, p: next(samples))
    critic = ScriptedModel(
        lambda m, p: '{"violation": false}' if is_critique(m) else '{"preferred": "B", "reason": "warmer"}'
    )
    loop = ConstitutionalLoop(actor, critic=critic, settings=SETTINGS)
    report = await generate(PROMPTS[:1], loop, AlignmentDataWriter(tmp_path))
    assert report.pairs == 1
    [record] = [json.loads(x) for x in (tmp_path / "sl_cai.jsonl").read_text().splitlines()]
    assert record["revised"] is False and record["preference"]["chosen_is"] in ("initial", "alternative")
    assert actor.calls[1].params.temperature == 1.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.jsonl", '{"prompt": "a"}\nnot json\n', "p.jsonl:2: not valid JSON"),
        ("p.jsonl", '{"text": "a"}\n', 'non-empty "prompt"'),
        ("p.jsonl", '{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "appears twice"),
        ("p.csv", "question\nhello\n", "'prompt' column"),
        ("p.txt", "\n\n", "no prompts"),
    ],
    ids=["bad-json", "no-prompt", "duplicate-id", "csv-header", "empty"],
)
def test_bad_prompt_files_say_what_is_wrong(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_prompts(path)


def test_prompt_files_in_three_formats(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.csv").write_text("id,prompt\nx,one\n")
    (tmp_path / "c.jsonl").write_text('{"id": "x", "prompt": "one"}\n')
    assert [p.prompt for p in read_prompts(tmp_path / "a.txt")] == ["one", "two"]
    assert read_prompts(tmp_path / "b.csv") == [PromptItem("x", "one")]
    assert read_prompts(tmp_path / "c.jsonl") == [PromptItem("x", "one")]
