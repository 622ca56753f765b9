"""Files of ``poise align generate``: the prompts it reads and the append-only JSONL it writes.

Output, in one directory:

* ``sft.jsonl``: what TRL's ``SFTTrainer`` reads, either ``{"messages": [user, assistant]}``
  (conversational, the default) or ``{"prompt": [user], "completion": [assistant]}``;
* ``dpo.jsonl``: what TRL's ``DPOTrainer`` reads, ``{"prompt": [user], "chosen": [assistant],
  "rejected": [assistant]}`` (conversational, explicit prompt);
* ``sl_cai.jsonl``: one full record per prompt (id, prompt, initial response, every critique,
  revision, preference label) and the *commit log* of the other two files.

Every write is appended and fsynced: first the SFT and DPO lines, then the record, which carries the
line counts of both files after them. On resume, :meth:`AlignmentDataWriter.recover` drops a torn
last line, cuts ``sft.jsonl`` and ``dpo.jsonl`` back to the counts of the last whole record (lines
written for a prompt whose record never landed) and skips the ids already recorded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from poise.errors import DatasetError

__all__ = ["AlignmentDataWriter", "PromptItem", "SftFormat", "read_prompts"]

SftFormat = Literal["messages", "prompt-completion"]
SFT_FILE, DPO_FILE, RECORDS_FILE = "sft.jsonl", "dpo.jsonl", "sl_cai.jsonl"


@dataclass(frozen=True)
class PromptItem:
    """One prompt to generate from; ``id`` defaults to a digest of the prompt text."""

    id: str
    prompt: str


def _default_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def _jsonl_prompts(path: Path, text: str) -> list[PromptItem]:
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"not valid JSON ({exc.msg})", path=path, line=n) from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            raise DatasetError(
                'each line must be an object with a non-empty "prompt" string (and an optional "id")',
                path=path,
                line=n,
                field="prompt",
            )
        pid = row.get("id")
        items.append(PromptItem(str(pid) if pid is not None else _default_id(row["prompt"]), row["prompt"]))
    return items


def _csv_prompts(path: Path, text: str) -> list[PromptItem]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "prompt" not in reader.fieldnames:
        raise DatasetError("the CSV header needs a 'prompt' column", path=path, line=1, field="prompt")
    items = []
    for n, row in enumerate(reader, 2):
        prompt = (row.get("prompt") or "").strip()
        if not prompt:
            raise DatasetError("empty prompt", path=path, line=n, field="prompt")
        items.append(PromptItem(row.get("id") or _default_id(prompt), prompt))
    return items


def read_prompts(path: Path | str) -> list[PromptItem]:
    """Read prompts from ``.jsonl`` (``{"id"?, "prompt"}`` per line), ``.csv`` (a ``prompt`` column,
    optional ``id``) or any other text file (one prompt per non-empty line).

    Raises:
        DatasetError: the file is missing, malformed, or repeats an id.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the prompts file: {exc}", path=p) from None
    if p.suffix == ".jsonl":
        items = _jsonl_prompts(p, text)
    elif p.suffix == ".csv":
        items = _csv_prompts(p, text)
    else:
        items = [PromptItem(_default_id(s.strip()), s.strip()) for s in text.splitlines() if s.strip()]
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DatasetError(f"prompt id {item.id!r} appears twice; ids must be unique", path=p, field="id")
        seen.add(item.id)
    if not items:
        raise DatasetError("no prompts in the file", path=p)
    return items


def _lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


class AlignmentDataWriter:
    """Appends SFT, DPO and full records to ``out_dir``, durably and resumably."""

    def __init__(self, out_dir: Path | str, sft_format: SftFormat = "messages") -> None:
        self.out_dir = Path(out_dir)
        self.sft_format = sft_format
        self.sft_path = self.out_dir / SFT_FILE
        self.dpo_path = self.out_dir / DPO_FILE
        self.records_path = self.out_dir / RECORDS_FILE
        self.sft_lines = 0
        self.dpo_lines = 0

    def recover(self) -> set[str]:
        """Repair an interrupted run and return the prompt ids already written."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        lines = _lines_of(self.records_path)
        if lines and not lines[-1].endswith(b"\n"):  # torn write
            lines = lines[:-1]
        done: set[str] = set()
        counts = {"sft": 0, "dpo": 0}
        for n, raw in enumerate(lines, 1):
            try:
                record = json.loads(raw)
                done.add(str(record["id"]))
                counts = record["files"]
            except (ValueError, KeyError, TypeError):
                raise DatasetError(
                    "not a record written by poise align generate; use a new --out directory",
                    path=self.records_path,
                    line=n,
                ) from None
        self._truncate(self.records_path, lines)
        for path, count in ((self.sft_path, counts["sft"]), (self.dpo_path, counts["dpo"])):
            kept = _lines_of(path)[: int(count)]
            if len(kept) < int(count):
                raise DatasetError(
                    f"has {len(kept)} lines but {RECORDS_FILE} says {count}; use a new --out directory",
                    path=path,
                )
            self._truncate(path, kept)
        self.sft_lines, self.dpo_lines = int(counts["sft"]), int(counts["dpo"])
        return done

    @staticmethod
    def _truncate(path: Path, lines: list[bytes]) -> None:
        size = sum(len(line) for line in lines)
        if path.exists() and path.stat().st_size != size:
            with path.open("r+b") as f:
                f.truncate(size)
                f.flush()
                os.fsync(f.fileno())

    @staticmethod
    def _append(path: Path, row: dict[str, Any]) -> None:
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        with path.open("ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def sft_row(self, prompt: str, reply: str) -> dict[str, Any]:
        user, assistant = {"role": "user", "content": prompt}, {"role": "assistant", "content": reply}
        if self.sft_format == "messages":
            return {"messages": [user, assistant]}
        return {"prompt": [user], "completion": [assistant]}

    @staticmethod
    def dpo_row(prompt: str, chosen: str, rejected: str) -> dict[str, Any]:
        return {
            "prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }

    def write(self, record: dict[str, Any], sft: dict[str, Any] | None, dpo: dict[str, Any] | None) -> None:
        """Append one prompt's lines; the record goes last and commits them."""
        if sft is not None:
            self._append(self.sft_path, sft)
            self.sft_lines += 1
        if dpo is not None:
            self._append(self.dpo_path, dpo)
            self.dpo_lines += 1
        self._append(self.records_path, {**record, "files": {"sft": self.sft_lines, "dpo": self.dpo_lines}})
