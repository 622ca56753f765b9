"""IFEval checkers about the words of a response: keywords, language, length, case, punctuation.

Each class implements one instruction id exactly as the IFEval paper (arXiv 2311.07911, Table 1)
and its reference code define it; where the reference treats an argument as a regular
expression, poise escapes it (the dataset's keywords are plain words, so nothing changes).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Self

from poise.eval.ifeval.checks import InstructionArgs, Relation, compare
from poise.eval.ifeval.text import capital_words, count_sentences, count_words, detect_language


@dataclass(frozen=True)
class KeywordsExistence:
    """Include all of these keywords (case-insensitive substring)."""

    instruction_id: ClassVar[str] = "keywords:existence"
    keywords: tuple[str, ...]

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        keywords = tuple(sorted(args.texts("keywords")))
        args.done()
        return cls(keywords)

    def check(self, response: str) -> bool:
        return all(re.search(re.escape(k), response, flags=re.IGNORECASE) for k in self.keywords)


@dataclass(frozen=True)
class KeywordFrequency:
    """The keyword appears ``less than``/``at least`` N times (case-insensitive substring)."""

    instruction_id: ClassVar[str] = "keywords:frequency"
    keyword: str
    relation: Relation
    frequency: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.text("keyword").strip(), args.relation("relation"), args.integer("frequency"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        found = len(re.findall(re.escape(self.keyword), response, flags=re.IGNORECASE))
        return compare(found, self.relation, self.frequency)


@dataclass(frozen=True)
class ForbiddenWords:
    """None of these words appears as a whole word (case-insensitive)."""

    instruction_id: ClassVar[str] = "keywords:forbidden_words"
    words: tuple[str, ...]

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        words = tuple(sorted(set(args.texts("forbidden_words"))))
        args.done()
        return cls(words)

    def check(self, response: str) -> bool:
        return not any(
            re.search(rf"\b{re.escape(word)}\b", response, flags=re.IGNORECASE) for word in self.words
        )


@dataclass(frozen=True)
class LetterFrequency:
    """A letter appears ``less than``/``at least`` N times (case-insensitive)."""

    instruction_id: ClassVar[str] = "keywords:letter_frequency"
    letter: str
    relation: Relation
    frequency: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        letter = args.text("letter").strip().lower()
        if len(letter) != 1:
            raise args.error("letter", f"expected a single letter, got {letter!r}")
        made = cls(letter, args.relation("let_relation"), args.integer("let_frequency"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        return compare(Counter(response.lower())[self.letter], self.relation, self.frequency)


@dataclass(frozen=True)
class ResponseLanguage:
    """The whole response is in the given language (ISO 639-1 code)."""

    instruction_id: ClassVar[str] = "language:response_language"
    language: str

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.text("language").strip().lower())
        args.done()
        return made

    def check(self, response: str) -> bool:
        detected = detect_language(response)
        return detected is None or detected == self.language


@dataclass(frozen=True)
class NumberOfSentences:
    """The response has ``less than``/``at least`` N sentences."""

    instruction_id: ClassVar[str] = "length_constraints:number_sentences"
    relation: Relation
    num_sentences: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.relation("relation"), args.integer("num_sentences"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        return compare(count_sentences(response), self.relation, self.num_sentences)


_DIVIDER = re.compile(r"\s?\*\*\*\s?")


@dataclass(frozen=True)
class NumberOfParagraphs:
    """Exactly N paragraphs separated by the markdown divider ``***``."""

    instruction_id: ClassVar[str] = "length_constraints:number_paragraphs"
    num_paragraphs: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.integer("num_paragraphs", minimum=1))
        args.done()
        return made

    def check(self, response: str) -> bool:
        paragraphs = _DIVIDER.split(response)
        count = len(paragraphs)
        for index, paragraph in enumerate(paragraphs):
            if not paragraph.strip():
                if index in (0, len(paragraphs) - 1):
                    count -= 1  # a divider at the very start or end is not a paragraph break
                else:
                    return False  # two dividers in a row: an empty paragraph
        return count == self.num_paragraphs


@dataclass(frozen=True)
class NumberOfWords:
    """The response has ``less than``/``at least`` N words."""

    instruction_id: ClassVar[str] = "length_constraints:number_words"
    relation: Relation
    num_words: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.relation("relation"), args.integer("num_words"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        return compare(count_words(response), self.relation, self.num_words)


_FIRST_WORD_STOP = frozenset(".,?!'\"")


@dataclass(frozen=True)
class NthParagraphFirstWord:
    """Exactly N paragraphs separated by blank lines, and paragraph i starts with a given word."""

    instruction_id: ClassVar[str] = "length_constraints:nth_paragraph_first_word"
    num_paragraphs: int
    nth_paragraph: int
    first_word: str

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        num = args.integer("num_paragraphs", minimum=1)
        nth = args.integer("nth_paragraph", minimum=1)
        if nth > num:
            raise args.error("nth_paragraph", f"paragraph {nth} of {num} does not exist")
        made = cls(num, nth, args.text("first_word").strip().lower())
        args.done()
        return made

    def check(self, response: str) -> bool:
        paragraphs = response.split("\n\n")
        count = sum(1 for p in paragraphs if p.strip())
        if self.nth_paragraph > count:
            return False
        paragraph = paragraphs[self.nth_paragraph - 1].strip()
        if not paragraph:
            return False
        word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
        first = ""
        for char in word:
            if char in _FIRST_WORD_STOP:
                break
            first += char.lower()
        return count == self.num_paragraphs and first == self.first_word


@dataclass(frozen=True)
class CapitalWordFrequency:
    """Words in all capitals appear ``less than``/``at least`` N times."""

    instruction_id: ClassVar[str] = "change_case:capital_word_frequency"
    relation: Relation
    frequency: int

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        made = cls(args.relation("capital_relation"), args.integer("capital_frequency"))
        args.done()
        return made

    def check(self, response: str) -> bool:
        return compare(capital_words(response), self.relation, self.frequency)


def _is_english(text: str) -> bool:
    detected = detect_language(text)
    return detected is None or detected == "en"


@dataclass(frozen=True)
class EnglishCapital:
    """The whole response is in English and in capital letters."""

    instruction_id: ClassVar[str] = "change_case:english_capital"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        return response.isupper() and _is_english(response)


@dataclass(frozen=True)
class EnglishLowercase:
    """The whole response is in English and in lowercase letters."""

    instruction_id: ClassVar[str] = "change_case:english_lowercase"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        return response.islower() and _is_english(response)


@dataclass(frozen=True)
class NoComma:
    """The response contains no comma."""

    instruction_id: ClassVar[str] = "punctuation:no_comma"

    @classmethod
    def from_args(cls, args: InstructionArgs, prompt: str) -> Self:
        args.done()
        return cls()

    def check(self, response: str) -> bool:
        return "," not in response
