"""The checker protocol and the argument parsing every IFEval checker shares.

A checker is a frozen value built from one instruction's ``kwargs`` (as stored in IFEval's
``input_data.jsonl``) and the prompt; ``check(response)`` says whether the response follows the
instruction. Building validates the arguments up front, so a malformed dataset fails when it is
loaded, with the field named, instead of in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal, Protocol, Self

from poise.errors import DatasetError

Relation = Literal["less than", "at least"]
RELATIONS: tuple[Relation, ...] = ("less than", "at least")


class InstructionChecker(Protocol):
    """One verifiable instruction, ready to check responses."""

    instruction_id: ClassVar[str]

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        """Build the checker from the instruction's arguments (and the prompt, for repeats)."""
        ...

    def check(self, response: str) -> bool:
        """Whether ``response`` follows the instruction."""
        ...


def compare(count: int, relation: Relation, threshold: int) -> bool:
    """IFEval's two comparisons: ``less than`` is ``<``, ``at least`` is ``>=``."""
    return count < threshold if relation == "less than" else count >= threshold


class InstructionArgs:
    """Typed access to one instruction's ``kwargs``; unknown keys are an error at :meth:`done`.

    Keys whose value is ``null`` are ignored: some IFEval copies (the Hugging Face one) store
    every argument of every instruction in each ``kwargs`` dict, with ``null`` for the unused ones.
    """

    def __init__(self, instruction_id: str, kwargs: Mapping[str, object]) -> None:
        self.instruction_id = instruction_id
        self._values = {key: value for key, value in kwargs.items() if value is not None}
        self._used: set[str] = set()

    def error(self, name: str, message: str) -> DatasetError:
        """A :class:`DatasetError` naming this instruction's argument ``name``."""
        return DatasetError(message, field=f"{self.instruction_id}.{name}")

    def _get(self, name: str) -> object:
        self._used.add(name)
        if name not in self._values:
            raise self.error(name, "missing argument; add it to this instruction's kwargs")
        return self._values[name]

    def integer(self, name: str, *, minimum: int = 0) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {value!r}")
        if value < minimum:
            raise self.error(name, f"expected an integer >= {minimum}, got {value}")
        return value

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"expected a non-empty string, got {value!r}")
        return value

    def relation(self, name: str) -> Relation:
        value = self._get(name)
        for relation in RELATIONS:
            if value == relation:
                return relation
        raise self.error(name, f"expected 'less than' or 'at least', got {value!r}")

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._get(name)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.error(name, f"expected a non-empty list of strings, got {value!r}")
        return tuple(value)

    def done(self) -> None:
        """Raise if the kwargs held arguments this instruction does not take."""
        unknown = sorted(set(self._values) - self._used)
        if unknown:
            raise DatasetError(
                f"unknown argument(s) {', '.join(unknown)}; this instruction takes "
                f"{', '.join(sorted(self._used)) or 'no arguments'}",
                field=self.instruction_id,
            )
