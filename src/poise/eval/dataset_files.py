"""Reading dataset files with locations: every problem becomes a :class:`DatasetError` that names
the file and the line (JSONL, text), row (CSV) or item (JSON) and says what was expected.

Nothing here interprets a dataset; :mod:`poise.eval.datasets` does that on top of these readers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from poise.errors import DatasetError


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a BOM is dropped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError("file not found; check the path", path=path) from None
    except IsADirectoryError:
        raise DatasetError("is a directory; pass the data file inside it", path=path) from None
    except OSError as exc:
        raise DatasetError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError("not valid UTF-8; re-save the file as UTF-8", path=path, line=line) from None


@dataclass(frozen=True)
class Located:
    """A parsed value and where it came from, for error messages further down."""

    path: Path
    line: int | None
    value: object
    where: str = ""

    def error(self, message: str, field: str | None = None) -> DatasetError:
        name = f"{self.where}.{field}" if self.where and field else (field or self.where or None)
        return DatasetError(message, path=self.path, line=self.line, field=name)

    def as_object(self) -> Mapping[str, object]:
        if not isinstance(self.value, dict):
            raise self.error(f"expected a JSON object, got {type(self.value).__name__}")
        return self.value

    def string(self, field: str, *, allow_empty: bool = False) -> str:
        value = self.as_object().get(field)
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise self.error(f"expected a non-empty string, got {_show(value)}", field)
        return value

    def optional(self, field: str) -> object:
        return self.as_object().get(field)


def _show(value: object) -> str:
    if value is None:
        return "nothing (field missing or null)"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def iter_jsonl(path: Path) -> Iterator[Located]:
    """One :class:`Located` per non-blank line of a JSON Lines file."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"invalid JSON at column {exc.colno}: {exc.msg}; each line must be one JSON object",
                path=path,
                line=number,
            ) from None
        yield Located(path, number, value)


def read_json(path: Path) -> object:
    """A whole JSON document."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"invalid JSON at column {exc.colno}: {exc.msg}", path=path, line=exc.lineno
        ) from None


def iter_json_list(path: Path) -> Iterator[Located]:
    """One :class:`Located` per item of a JSON array (the item index in ``where``)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"expected a JSON array at the top level, got {type(data).__name__}", path=path)
    for index, item in enumerate(data):
        yield Located(path, None, item, where=f"[{index}]")


def iter_csv(path: Path, required: tuple[str, ...]) -> Iterator[Located]:
    """One :class:`Located` (a dict of the row) per CSV row; ``line`` is the row's first line."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    header = reader.fieldnames or []
    missing = [column for column in required if column not in header]
    if missing:
        raise DatasetError(
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(header) or 'nothing'}",
            path=path,
            line=1,
        )
    start = reader.line_num + 1
    try:
        for row in reader:
            if None in row or any(value is None for value in row.values()):
                raise DatasetError(
                    f"expected {len(header)} fields, got a different number; quote fields that hold commas",
                    path=path,
                    line=start,
                )
            yield Located(path, start, dict(row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(f"malformed CSV: {exc}", path=path, line=start) from None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each non-blank line of a text file, trailing space removed."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            yield number, line.rstrip()
