"""IFEval checkers about the shape of a response: markdown, sections, JSON, start and end.

Each class implements one instruction id as the IFEval paper (arXiv 2311.07911, Table 1) and its
reference code define it, including the reference's counting quirks (a ``-`` line counts as a
bullet, ``**bold**`` counts as a highlight), because the published accuracies depend on them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar, Self

from poise.eval.ifeval.checks import InstructionArgs


@dataclass(frozen=True)
class NumberOfPlaceholders:
    """At least N placeholders in square brackets, such as ``[address]``."""

    instruction_id: ClassVar[str] = "detectable_content:number_placeholders"
    num_placeholders: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.integer("num_placeholders"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        return len(re.findall(r"\[.*?\]", response)) >= self.num_placeholders


@dataclass(frozen=True)
class Postscript:
    """A line starting with the postscript marker (``P.S.``, ``P.P.S`` ...), any case."""

    instruction_id: ClassVar[str] = "detectable_content:postscript"
    marker: str

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.text("postscript_marker").strip())
        args.done()
        return made

    def check(self, response: str) -> bool:
        if self.marker == "P.P.S":
            pattern = r"\s*p\.\s?p\.\s?s.*$"
        elif self.marker == "P.S.":
            pattern = r"\s*p\.\s?s\..*$"
        else:
            pattern = r"\s*" + re.escape(self.marker.lower()) + r".*$"
        return re.search(pattern, response.lower(), flags=re.MULTILINE) is not None


_STAR_BULLET = re.compile(r"^\s*\*[^\*].*$", flags=re.MULTILINE)
_DASH_BULLET = re.compile(r"^\s*-.*$", flags=re.MULTILINE)


@dataclass(frozen=True)
class NumberOfBullets:
    """Exactly N markdown bullet points (lines starting with ``*`` or ``-``)."""

    instruction_id: ClassVar[str] = "detectable_format:number_bullet_lists"
    num_bullets: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.integer("num_bullets"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        found = len(_STAR_BULLET.findall(response)) + len(_DASH_BULLET.findall(response))
        return found == self.num_bullets


CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@dataclass(frozen=True)
class ConstrainedResponse:
    """The response contains one of IFEval's fixed answer options."""

    instruction_id: ClassVar[str] = "detectable_format:constrained_response"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        value = response.strip()
        return any(option in value for option in CONSTRAINED_OPTIONS)


_HIGHLIGHT = re.compile(r"\*[^\n\*]*\*")
_BOLD = re.compile(r"\*\*[^\n\*]*\*\*")


@dataclass(frozen=True)
class NumberOfHighlights:
    """At least N markdown highlights, ``*like this*`` or ``**like this**``."""

    instruction_id: ClassVar[str] = "detectable_format:number_highlighted_sections"
    num_highlights: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.integer("num_highlights"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        found = sum(1 for h in _HIGHLIGHT.findall(response) if h.strip("*").strip())
        found += sum(1 for h in _BOLD.findall(response) if h[2:-2].strip())
        return found >= self.num_highlights


@dataclass(frozen=True)
class MultipleSections:
    """At least N sections, each starting with the splitter and a number (``SECTION 1``)."""

    instruction_id: ClassVar[str] = "detectable_format:multiple_sections"
    splitter: str
    num_sections: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.text("section_spliter").strip(), args.integer("num_sections"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        sections = re.split(r"\s?" + re.escape(self.splitter) + r"\s?\d+\s?", response)
        return len(sections) - 1 >= self.num_sections


_JSON_FENCES = ("```json", "```Json", "```JSON", "```")


@dataclass(frozen=True)
class JsonFormat:
    """The whole response is JSON, optionally inside a markdown code fence."""

    instruction_id: ClassVar[str] = "detectable_format:json_format"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        value = response.strip()
        for fence in _JSON_FENCES:
            value = value.removeprefix(fence)
        value = value.removesuffix("```").strip()
        try:
            json.loads(value)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class Title:
    """A title in double angular brackets, such as ``<<poem of joy>>``."""

    instruction_id: ClassVar[str] = "detectable_format:title"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


@dataclass(frozen=True)
class TwoResponses:
    """Two different responses separated by six asterisks ``******``."""

    instruction_id: ClassVar[str] = "combination:two_responses"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        parts = response.split("******")
        valid: list[str] = []
        for index, part in enumerate(parts):
            if part.strip():
                valid.append(part.strip())
            elif index not in (0, len(parts) - 1):
                return False
        return len(valid) == 2 and valid[0] != valid[1]


@dataclass(frozen=True)
class RepeatPrompt:
    """The response starts by repeating the request word for word (any case)."""

    instruction_id: ClassVar[str] = "combination:repeat_prompt"
    prompt_to_repeat: str

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.text("prompt_to_repeat"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        return response.strip().lower().startswith(self.prompt_to_repeat.strip().lower())


@dataclass(frozen=True)
class EndPhrase:
    """The response ends with the exact phrase (any case, surrounding quotes ignored)."""

    instruction_id: ClassVar[str] = "startend:end_checker"
    end_phrase: str

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.text("end_phrase").strip())
        args.done()
        return made

    def check(self, response: str) -> bool:
        return response.strip().strip('"').lower().endswith(self.end_phrase.lower())


@dataclass(frozen=True)
class Quotation:
    """The whole response is wrapped in double quotation marks."""

    instruction_id: ClassVar[str] = "startend:quotation"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        value = response.strip()
        return len(value) > 1 and value[0] == '"' and value[-1] == '"'
