from __future__ import annotations

import json
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from poise.persona import builtin_personas
from poise.persona.schema import persona_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "persona.schema.json"


def test_checked_in_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == persona_json_schema(), (
        "schemas/persona.schema.json is stale: run `poise persona schema -o schemas/persona.schema.json`"
    )


def test_builtin_personas_validate_against_the_schema():
    validator = Draft202012Validator(persona_json_schema())
    for path in builtin_personas().values():
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert errors == [], (path.name, [e.message for e in errors])


def test_schema_rejects_unknown_keys():
    validator = Draft202012Validator(persona_json_schema())
    doc = {"id": "x", "version": "1", "name": "X", "role": "r", "colour": "blue"}
    assert not validator.is_valid(doc)
