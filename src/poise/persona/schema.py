"""JSON Schema for persona files, so editors validate persona YAML as it is typed.

``schemas/persona.schema.json`` in the repository is generated from this and a test checks it
is current (regenerate with ``poise persona schema -o schemas/persona.schema.json``).
"""

from __future__ import annotations

from typing import Any

from poise.persona.spec import Persona


def persona_json_schema() -> dict[str, Any]:
    """The JSON Schema of a persona file (``extends`` included)."""
    schema = Persona.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "poise persona"
    schema["properties"] = {
        "extends": {
            "type": "string",
            "description": (
                "Path of a parent persona file, relative to this file. See docs/design/persona-extends.md."
            ),
        },
        **schema["properties"],
    }
    return schema
