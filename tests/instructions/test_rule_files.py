"""Loading rule files: good files load, bad ones fail with the file, the field path and what was
expected; the shipped JSON Schema is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poise.errors import ConfigError
from poise.instructions import load_default_rule_set, load_rule_set, rule_set_json_schema

SCHEMA = Path(__file__).resolve().parents[2] / "src/poise/instructions/defaults/rules.schema.json"

GOOD = """\
version: 1
rules:
  - id: python-idioms
    description: Idiomatic Python for code questions in Python
    when: {task: code, code_language: [python]}
    add: "When writing Python, target 3.11+, use type hints and follow PEP 8."
  - id: frustrated-user
    when_any: [{sentiment: {lte: -0.4}}, {complaints: {gte: 2}}]
    unless: {user: {tier: internal}}
    replace: {section: tone, text: "The user is frustrated: acknowledge it first, be brief, offer a human."}
  - id: night
    when: {time: {hours: "22:00-06:00", timezone: Europe/Berlin, weekdays: [mon, tue]}}
    add: "It is late for the user."
"""


def test_good_file_loads(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    rs = load_rule_set(path)
    assert [r.id for r in rs.rules] == ["python-idioms", "frustrated-user", "night"]
    assert rs.rules[0].when is not None and rs.rules[0].when.task == ["code"]


BAD: list = [
    pytest.param(
        "rules:\n  - {id: a, add: x}\n", "version", "a value (this field is required)", id="no-version"
    ),
    pytest.param("version: 2\nrules: []\n", "version", "one of 1", id="wrong-version"),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {tsk: code}, add: x}\n",
        "rules[0].when.tsk",
        "one of task, code_language, language, user, turn, sentiment, recent_sentiment, complaints, time",
        id="unknown-condition-key",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when_any: [{user: {expertize: x}}], add: x}\n",
        "rules[0].when_any[0].user.expertize",
        "one of expertise, locale, language, tier, preferences",
        id="unknown-user-key",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, add: x, priorty: 3}\n",
        "rules[0].priorty",
        "one of id, description, when, when_any, unless, add, replace, priority",
        id="unknown-rule-key",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {task: cod}, add: x}\n",
        "rules[0].when.task[0]",
        "one of 'general', 'code', 'support', 'creative', 'medical', 'legal' or 'financial'",
        id="unknown-task",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {code_language: cobol}, add: x}\n",
        "rules[0].when.code_language[0]",
        None,
        id="unknown-code-language",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {sentiment: {lte: low}}, add: x}\n",
        "rules[0].when.sentiment.lte",
        "a number",
        id="bad-type",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {turn: {gte: 2.5}}, add: x}\n",
        "rules[0].when.turn.gte",
        None,
        id="fractional-turn",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {turn: {}}, add: x}\n",
        "rules[0].when.turn",
        None,
        id="empty-range",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {}, add: x}\n", "rules[0].when", None, id="empty-condition"
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {user: {expertise: guru}}, add: x}\n",
        "rules[0].when.user.expertise[0]",
        None,
        id="bad-expertise",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {language: [de, no]}, add: x}\n",
        "rules[0].when.language",
        None,
        id="yaml-no-boolean",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, when: {time: {hours: '25:00-06:00'}}, add: x}\n",
        "rules[0].when.time.hours",
        None,
        id="bad-hours",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, add: x, when: {time: {hours: '09:00-10:00', timezone: Mars/X}}}\n",
        "rules[0].when.time.timezone",
        None,
        id="bad-timezone",
    ),
    pytest.param("version: 1\nrules:\n  - {id: a, when: {task: code}}\n", "rules[0]", None, id="no-action"),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, add: x, replace: {section: tone, text: y}}\n",
        "rules[0]",
        None,
        id="two-actions",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, replace: {section: style, text: y}}\n",
        "rules[0].replace.section",
        None,
        id="unknown-section",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, replace: {section: instructions, text: y}}\n",
        "rules[0].replace.section",
        None,
        id="instructions-not-replaceable",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, add: x}\n  - {id: a, add: y}\n",
        "rules[1].id",
        "a rule id not used by another rule",
        id="duplicate-id",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, add: x}\n  - {id: b, replace: {rule: zz, text: y}}\n",
        "rules[1].replace.rule",
        "one of the rule ids in this file (a, b)",
        id="replace-unknown-rule",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, replace: {rule: b, text: x}}\n"
        "  - {id: b, replace: {rule: a, text: y}}\n",
        "rules[0].replace.rule",
        "no cycles",
        id="replace-cycle",
    ),
    pytest.param(
        "version: 1\nrules:\n  - {id: a, add: 'hi {{ user.email }}'}\n",
        "rules[0].add",
        None,
        id="unknown-placeholder",
    ),
    pytest.param("version: 1\nrules:\n  - {id: Bad Id, add: x}\n", "rules[0].id", None, id="bad-id"),
    pytest.param("- just a list\n", None, "a mapping", id="top-level-list"),
]


@pytest.mark.parametrize(("text", "field", "expected"), BAD)
def test_bad_rule_file_names_file_field_and_expectation(tmp_path: Path, text: str, field, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_rule_set(path)
    err = info.value
    assert err.path == path
    assert str(path) in str(err)
    assert err.field == field
    if field:
        assert field in str(err)
    if expected is not None:
        assert err.expected == expected


def test_yaml_boolean_message_says_to_quote(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nrules:\n  - {id: a, when: {language: [de, no]}, add: x}\n")
    with pytest.raises(ConfigError, match="quote the value"):
        load_rule_set(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("version: 1\nrules: [\n", "malformed YAML: line"), ("", "got an empty file")],
    ids=["malformed", "empty"],
)
def test_unreadable_rule_files(tmp_path: Path, text: str, needle: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_rule_set(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_rule_set(tmp_path / "nope.yaml")


def test_default_rule_set_loads():
    rs = load_default_rule_set()
    ids = [r.id for r in rs.rules]
    assert len(ids) == len(set(ids)) >= 15


def test_shipped_json_schema_is_current():
    assert json.loads(SCHEMA.read_text()) == rule_set_json_schema(), (
        "stale; regenerate with: python -c 'import json; from poise.instructions import "
        "rule_set_json_schema as s; print(json.dumps(s(), indent=2, sort_keys=True))' "
        "> src/poise/instructions/defaults/rules.schema.json"
    )


def test_schema_accepts_one_or_many():
    props = rule_set_json_schema()["$defs"]["Condition"]["properties"]
    task = props["task"]["anyOf"][0]
    assert task["anyOf"][0]["enum"][0] == "general"
    assert task["anyOf"][1]["type"] == "array"
