"""The 25 IFEval instruction ids and the checker that implements each.

``build_checker("keywords:existence", {"keywords": ["moon"]}, prompt)`` validates the arguments
and returns a ready checker; an unknown id or a bad argument is a
:class:`~poise.errors.DatasetError` naming the instruction and the argument.
"""

from __future__ import annotations

from collections.abc import Mapping

from poise.errors import DatasetError
from poise.eval.ifeval import format_checks as fmt
from poise.eval.ifeval import text_checks as txt
from poise.eval.ifeval.checks import InstructionArgs, InstructionChecker

CHECKERS: dict[str, type[InstructionChecker]] = {
    cls.instruction_id: cls
    for cls in (
        txt.KeywordsExistence,
        txt.KeywordFrequency,
        txt.ForbiddenWords,
        txt.LetterFrequency,
        txt.ResponseLanguage,
        txt.NumberOfSentences,
        txt.NumberOfParagraphs,
        txt.NumberOfWords,
        txt.NthParagraphFirstWord,
        fmt.NumberOfPlaceholders,
        fmt.Postscript,
        fmt.NumberOfBullets,
        fmt.ConstrainedResponse,
        fmt.NumberOfHighlights,
        fmt.MultipleSections,
        fmt.JsonFormat,
        fmt.Title,
        fmt.TwoResponses,
        fmt.RepeatPrompt,
        fmt.EndPhrase,
        txt.CapitalWordFrequency,
        txt.EnglishCapital,
        txt.EnglishLowercase,
        txt.NoComma,
        fmt.Quotation,
    )
}
"""Instruction id (``group:name``) → checker class, in the order of the paper's Table 1."""


def build_checker(instruction_id: str, kwargs: Mapping[str, object], prompt: str) -> InstructionChecker:
    """Build the checker for one instruction of a prompt.

    Raises:
        DatasetError: the id is not one of IFEval's 25, or an argument is missing, mistyped or
            unknown (``.field`` names it).
    """
    checker = CHECKERS.get(instruction_id)
    if checker is None:
        raise DatasetError(
            f"unknown IFEval instruction id {instruction_id!r}; known ids: {', '.join(sorted(CHECKERS))}",
            field="instruction_id_list",
        )
    return checker.from_args(InstructionArgs(instruction_id, kwargs), prompt)
