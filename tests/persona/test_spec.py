from __future__ import annotations

from pathlib import Path

import pytest

from poise.errors import PersonaError
from poise.persona import builtin_personas, load_persona, persona_from_yaml, persona_to_yaml, resolve_persona
from poise.persona.spec import Rule, RuleCheck

MINIMAL = """
id: demo
version: "1.0"
name: Demo
role: a demo assistant.
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_persona_gets_defaults():
    p = persona_from_yaml(MINIMAL)
    assert p.tone.languages == ["en"] and p.rules == [] and p.refusal is None


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        (MINIMAL + "tone:\n  formalty: formal\n", "tone.formalty", "unknown key"),
        (MINIMAL + "colour: blue\n", "colour", "unknown key"),
        (MINIMAL + "tone:\n  formality: posh\n", "tone.formality", "one of"),
        (MINIMAL + "rules:\n  - do: a\n    dont: b\n", "rules[0]", "exactly one of 'do' or 'dont'"),
        (
            MINIMAL + "rules:\n  - do: a\n    check: {max_sentences: zero}\n",
            "rules[0].check.max_sentences",
            "integer",
        ),
        (
            MINIMAL + "rules:\n  - do: a\n    check: {max_sentences: 0}\n",
            "rules[0].check.max_sentences",
            ">= 1",
        ),
        ("version: '1'\nname: x\nrole: y\n", "id", "required"),
        (MINIMAL.replace("id: demo", "id: Demo Persona"), "id", "matching"),
        (MINIMAL + "values: [a, {b: c}]\n", "values[1]", "string"),
    ],
    ids=[
        "typo-nested",
        "unknown-top",
        "bad-literal",
        "do-and-dont",
        "wrong-type",
        "below-minimum",
        "missing-id",
        "bad-id",
        "list-item-type",
    ],
)
def test_validation_errors_name_file_field_and_expectation(tmp_path, text, field, fragment):
    path = write(tmp_path, "p.yaml", text)
    with pytest.raises(PersonaError) as info:
        load_persona(path)
    err = info.value
    assert err.path == path
    assert err.field == field
    assert str(path) in str(err) and field in str(err)
    assert fragment in str(err)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id: demo\nname: [unclosed\nrole: x\n", "malformed YAML: line 3"),
        ("", "top level must be a mapping, got an empty file"),
        ("- a\n- b\n", "top level must be a mapping, got list"),
    ],
    ids=["malformed", "empty", "list"],
)
def test_malformed_files(tmp_path, text, fragment):
    with pytest.raises(PersonaError, match=r"p\.yaml") as info:
        load_persona(write(tmp_path, "p.yaml", text))
    assert fragment in str(info.value)


def test_missing_file_and_unknown_builtin(tmp_path):
    with pytest.raises(PersonaError, match="file not found"):
        load_persona(tmp_path / "nope.yaml")
    with pytest.raises(PersonaError, match="built-in personas: assistant"):
        resolve_persona("no-such-persona")


def test_extends_merges_mappings_replaces_scalars_and_merges_rules_by_id(tmp_path):
    write(
        tmp_path,
        "base.yaml",
        MINIMAL
        + "tone: {formality: formal, emoji: never}\nvalues: [a, b]\n"
        + "rules:\n  - {id: r1, do: one}\n  - {id: r2, dont: two}\n  - {id: r3, do: three}\n"
        + "knowledge:\n  - {title: Hours, content: 9-5}\n",
    )
    child = write(
        tmp_path,
        "child.yaml",
        "extends: base.yaml\nid: child\nversion: '2.0'\ntone: {emoji: sparingly}\nvalues: [c]\n"
        "rules:\n  - {id: r2, dont: TWO}\n  - {id: r3, remove: true}\n  - {id: r4, do: four}\n"
        "knowledge:\n  - {title: Hours, content: 8-6}\n  - {title: Phone, content: '123'}\n",
    )
    p = load_persona(child)
    assert (p.id, p.version, p.name) == ("child", "2.0", "Demo")
    assert p.tone.formality == "formal" and p.tone.emoji == "sparingly"
    assert p.values == ["c"]
    assert [(r.id, r.text) for r in p.rules] == [("r1", "one"), ("r2", "TWO"), ("r4", "four")]
    assert [(k.title, k.content) for k in p.knowledge] == [("Hours", "8-6"), ("Phone", "123")]


def test_extends_errors(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nid: a\nversion: '1'\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nid: b\nversion: '1'\n")
    with pytest.raises(PersonaError, match="'extends' cycle"):
        load_persona(tmp_path / "a.yaml")
    write(tmp_path, "c.yaml", "extends: missing.yaml\nid: c\nversion: '1'\n")
    with pytest.raises(PersonaError, match="does not exist"):
        load_persona(tmp_path / "c.yaml")
    write(tmp_path, "base.yaml", MINIMAL)
    write(tmp_path, "d.yaml", "extends: base.yaml\nversion: '2'\n")
    with pytest.raises(PersonaError) as info:
        load_persona(tmp_path / "d.yaml")
    assert info.value.field == "id"
    write(tmp_path, "e.yaml", "extends: base.yaml\nid: e\nversion: '2'\nrules:\n  - {id: zz, remove: true}\n")
    with pytest.raises(PersonaError, match="parent does not have"):
        load_persona(tmp_path / "e.yaml")


@pytest.mark.parametrize("name", sorted(builtin_personas()))
def test_builtin_personas_load_and_round_trip_through_yaml(name):
    p = resolve_persona(name)
    assert persona_from_yaml(persona_to_yaml(p)) == p


def test_content_hash_is_stable_and_sensitive():
    a = persona_from_yaml(MINIMAL)
    b = persona_from_yaml(MINIMAL)
    c = persona_from_yaml(MINIMAL.replace("Demo", "Demo2"))
    assert a.content_hash() == b.content_hash() != c.content_hash()


@pytest.mark.parametrize(
    ("fields", "empty"),
    [
        ({}, True),
        ({"apologize_first": False, "banned_terms": []}, True),
        ({"max_sentences": 3}, False),
        ({"banned_terms": ["Globex"]}, False),
        ({"apologize_first": True}, False),
        ({"reply_language": "match_user"}, False),
    ],
    ids=["nothing", "only-defaults", "count", "terms", "flag", "language"],
)
def test_a_rule_check_is_empty_when_it_verifies_nothing(fields, empty):
    check = RuleCheck(**fields)
    assert check.is_empty() is empty
    assert Rule(do="Be brief.", check=check).checkable is not empty
