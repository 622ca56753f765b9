"""Constitution files: validation with file/field errors, extends, persona overrides, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from poise.align import constitution_json_schema, default_constitution_path, load_constitution
from poise.align.constitution import Principle
from poise.errors import ConfigError, ConstitutionError

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "constitution.schema.json"
PRINCIPLE = {
    "id": "brevity",
    "statement": "Be brief.",
    "critique_request": "Is it long?",
    "revision_request": "Shorten it.",
}


def write(tmp_path: Path, data: object, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_checked_in_schema_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == constitution_json_schema(), (
        "schemas/constitution.schema.json is stale: "
        "run `poise align schema -o schemas/constitution.schema.json`"
    )


def test_default_constitution_validates_against_the_schema() -> None:
    data = yaml.safe_load(default_constitution_path().read_text(encoding="utf-8"))
    assert list(Draft202012Validator(constitution_json_schema()).iter_errors(data)) == []


def test_default_constitution_covers_the_five_themes() -> None:
    c = load_constitution()
    ids = {p.id for p in c.principles_for()}
    assert {"helpfulness", "honesty", "harmlessness", "privacy", "persona-fidelity"} <= ids
    honesty = c.principle("honesty")
    assert "balance" in honesty.statement and "price" in honesty.statement
    assert len(c.comparison_principles) >= 3


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"id": "x", "principals": []}, "principals", "unknown key"),
        ({"id": "x", "principles": [{**PRINCIPLE, "weight": 0}]}, "principles[0].weight", "greater than 0"),
        ({"id": "x", "principles": [{**PRINCIPLE, "id": "Bad Id"}]}, "principles[0].id", "pattern"),
        ({"id": "x", "principles": [PRINCIPLE, PRINCIPLE]}, None, "duplicate principles ids: brevity"),
        ({"id": "x", "loop": {"triggers": ["sometimes"]}}, "loop.triggers[0]", "always"),
        ({"id": "x", "loop": {"on_unparseable": "pass"}}, "loop.on_unparseable", "fail_closed"),
        (
            {"id": "x", "personas": {"bank": {"disable": ["nope"]}}},
            "personas.bank.disable",
            "unknown principle",
        ),
    ],
    ids=["unknown-key", "weight", "id-pattern", "duplicate", "trigger", "on-unparseable", "disable-unknown"],
)
def test_invalid_files_name_file_and_field(
    tmp_path: Path, data: dict, field: str | None, message: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConstitutionError) as caught:
        load_constitution(path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.path == path.resolve()
    if field is not None:
        assert caught.value.field == field
    assert message in str(caught.value)


def test_extends_default_replaces_and_adds(tmp_path: Path) -> None:
    custom_honesty = {**PRINCIPLE, "id": "honesty", "statement": "Our own honesty."}
    path = write(tmp_path, {"id": "acme", "extends": "default", "principles": [custom_honesty, PRINCIPLE]})
    c = load_constitution(path)
    assert c.id == "acme"
    assert c.principle("honesty").statement == "Our own honesty."
    assert {"brevity", "privacy", "harmlessness"} <= {p.id for p in c.principles_for()}
    assert c.loop.max_rounds == load_constitution().loop.max_rounds  # loop settings inherited


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"id": "a", "extends": "b.yaml"}, "a.yaml")
    write(tmp_path, {"id": "b", "extends": "a.yaml"}, "b.yaml")
    with pytest.raises(ConstitutionError, match="extends cycle"):
        load_constitution(tmp_path / "a.yaml")


def test_persona_override_adds_replaces_and_disables(tmp_path: Path) -> None:
    scoped = {**PRINCIPLE, "id": "only-for-kiosk", "scope": {"personas": ["kiosk"]}}
    path = write(
        tmp_path,
        {
            "id": "x",
            "principles": [PRINCIPLE, {**PRINCIPLE, "id": "tone"}, scoped],
            "personas": {
                "kiosk": {"principles": [{**PRINCIPLE, "statement": "Be very brief."}], "disable": ["tone"]}
            },
        },
    )
    c = load_constitution(path)
    assert [p.id for p in c.principles_for()] == ["brevity", "tone"]
    kiosk = c.principles_for("kiosk")
    assert [p.id for p in kiosk] == ["brevity", "only-for-kiosk"]
    assert kiosk[0].statement == "Be very brief."
    extra = Principle(**{**PRINCIPLE, "id": "api-added", "weight": 5})
    assert c.principles_for("kiosk", [extra])[0].id == "api-added"  # API parameter, heaviest first


def test_unknown_principle_lookup_lists_the_known_ones() -> None:
    with pytest.raises(ConstitutionError, match="one of honesty"):
        load_constitution().principle("kindness")


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConstitutionError, match="file not found"):
        load_constitution(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(ConstitutionError, match="malformed YAML: line"):
        load_constitution(tmp_path / "bad.yaml")
