"""Character Card V2/V1 import and export: mapping, exact round trips both ways, bad cards."""

from __future__ import annotations

import base64
import copy
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from poise.errors import PersonaError
from poise.persona.card import (
    DEFAULT_ROLE,
    card_to_json,
    expand_macros,
    load_card,
    parse_examples,
    persona_from_card,
    persona_to_card,
    render_examples,
    save_card,
    slugify,
)
from poise.persona.load import load_persona
from poise.persona.spec import CardExtras, Persona

DATA = Path(__file__).parent / "data"
CARDS = ["card_lighthouse_v2", "card_tutor_v2", "card_minimal_v2", "card_bank_exported"]


def _card(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def _bank() -> Persona:
    return load_persona(DATA / "persona_bank.yaml")


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CARDS)
def test_card_to_persona_to_card_is_exact(name):
    card = _card(name)
    assert persona_to_card(persona_from_card(copy.deepcopy(card)), include_secrets=True) == card


@pytest.mark.parametrize("name", [*CARDS, "card_v1"])
def test_imported_persona_survives_export_and_import(name):
    persona = load_card(DATA / f"{name}.json")
    assert persona_from_card(persona_to_card(persona, include_secrets=True)) == persona


def _edge_personas() -> list[Persona]:
    bank = _bank()
    maren = load_card(DATA / "card_lighthouse_v2.json")
    return [
        bank,
        Persona(id="x", version="1", name="X", role="a bot"),
        Persona(
            id="Not-A-Slug".lower() + ".v2",
            version="",
            name="Zoë",
            role=" spaced role ",
            identity="   ",
            greeting="",
            scenario="",
            reminder="Remember {{char}}",
            tone={"descriptors": ["warm, kind", "very very very very precise"], "emoji": "freely"},
            examples=[{"user": "", "assistant": "Hi"}, {"user": "a\nb", "assistant": " lead "}],
            metadata={"owner": "team-a"},
            knowledge=[{"title": "t", "content": "c"}],
        ),
        maren.model_copy(update={"identity": "Maren is retired now.", "greeting": None}),
        maren.model_copy(update={"name": "Marenka"}),  # the kept card text no longer derives the values
        bank.model_copy(
            update={
                "card": CardExtras(
                    creator="me", character_book={"entries": []}, source={"description": "stale"}
                )
            }
        ),
    ]


@pytest.mark.parametrize(
    "persona",
    _edge_personas(),
    ids=["bank", "bare", "edge-values", "edited-card", "renamed-card", "stale-extras"],
)
def test_persona_to_card_to_persona_is_exact(persona):
    card = json.loads(json.dumps(persona_to_card(persona, include_secrets=True)))  # through real JSON
    assert persona_from_card(card) == persona


def test_bank_export_matches_fixture_and_keeps_poise_fields_in_extension():
    card = persona_to_card(_bank(), include_secrets=True)
    assert card == _card("card_bank_exported")
    poise = card["data"]["extensions"]["poise"]
    assert poise["schema"] == 1
    assert {"id", "rules", "refusal", "escalation", "secrets", "knowledge"} <= set(poise["persona"])
    assert "name" not in poise["persona"]  # carried by the card's own field
    tone = {"formality": "formal", "verbosity": "concise", "languages": ["en", "es"]}
    assert poise["persona"]["tone"] == tone  # only the keys the personality field does not carry


def test_save_and_load_card_file(tmp_path):
    path = save_card(_bank(), tmp_path / "ava.json", include_secrets=True)
    assert load_card(path) == _bank()
    assert path.read_text(encoding="utf-8") == card_to_json(_bank(), include_secrets=True)


# --- mapping -----------------------------------------------------------------------------------


def test_v2_card_fields_map_onto_the_persona():
    p = load_card(DATA / "card_lighthouse_v2.json")
    assert (p.id, p.version, p.name, p.role) == ("maren", "1.3", "Maren", DEFAULT_ROLE)
    assert p.identity is not None and p.identity.startswith("Maren keeps the lighthouse")
    assert p.identity.endswith("count. The user has washed up on her island after a storm.")
    assert p.tone.descriptors == ["gruff", "kind", "observant", "superstitious"]
    assert p.scenario is not None and p.scenario.startswith("A storm has just passed. The user wakes up")
    assert p.greeting is not None and p.greeting.startswith("*Maren sets a mug of tea beside the cot.*")
    assert [e.user for e in p.examples] == ["Where am I?", "Why do you live out here alone?"]
    assert p.reminder is None and p.tags == ["lighthouse", "survival", "slice of life"]
    assert p.card is not None
    assert (p.card.creator, p.card.creator_notes) == ("tidewriter", "A slow-burn survival roleplay.")
    assert len(p.card.alternate_greetings) == 2 and p.card.character_book is not None
    assert len(p.card.character_book["entries"]) == 2
    assert p.card.extensions["world"] == "Gull Rock" and "poise" not in p.card.extensions
    assert p.card.data_extra == {"group_only_greetings": []}
    assert p.card.root_extra["avatar"] == "none" and "name" in p.card.root_mirrors


def test_system_prompt_and_post_history_map_to_role_and_reminder():
    p = load_card(DATA / "card_tutor_v2.json")
    assert p.role == "a chemistry tutor for first-year students."
    assert p.reminder == "Stay in character as Professor Quill."
    assert p.tone.descriptors[0].startswith("Quill is endlessly patient")  # prose stays one descriptor
    assert (p.version, p.scenario) == ("1.0.0", None)
    assert p.examples[-1].user == ""  # a character turn with no user turn


def test_v1_card_imports_and_exports_as_v2_with_mirrors():
    p = load_card(DATA / "card_v1.json")
    assert (p.id, p.name, p.version) == ("captain-vell", "Captain Vell", "1.0.0")
    assert p.identity == (
        "Captain Vell is the captain of the airship Kestrel, a smuggler with a code of honour."
    )
    assert p.scenario == "The user has just bought passage on the Kestrel."
    assert p.examples[0].assistant.startswith("Safer than the ground")
    card = persona_to_card(p, include_secrets=True)
    assert card["spec"] == "chara_card_v2" and card["data"]["description"] == _card("card_v1")["description"]
    assert card["name"] == "Captain Vell" and card["avatar"] == "none"


def test_edited_persona_values_are_exported_instead_of_kept_card_text():
    p = load_card(DATA / "card_lighthouse_v2.json")
    card = persona_to_card(
        include_secrets=True,
        persona=p.model_copy(
            update={
                "identity": "Maren is retired.",
                "tone": p.tone.model_copy(update={"descriptors": ["calm"]}),
            }
        ),
    )
    assert card["data"]["description"] == "Maren is retired." and card["data"]["personality"] == "calm"
    assert card["data"]["first_mes"] == _card("card_lighthouse_v2")["data"]["first_mes"]  # unchanged: kept


def test_poise_extension_wins_over_card_fields_on_import():
    card = _card("card_minimal_v2")
    card["data"]["extensions"]["poise"] = {
        "persona": {"id": "echo-bot", "rules": [{"dont": "Shout."}], "tone": {"emoji": "freely"}}
    }
    p = persona_from_card(card)
    assert (p.id, p.rules[0].dont, p.tone.emoji) == ("echo-bot", "Shout.", "freely")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{char}} waves at {{user}}.", "Ava waves at the user."),
        ("{{user}} enters. {{user}}'s coat drips.", "The user enters. The user's coat drips."),
        ("*{{user}} sits.*", "*The user sits.*"),
        ("<BOT> greets <USER>", "Ava greets the user"),
        ("{{ Char }} and {{USER}}", "Ava and the user"),
        ("no macros {{original}}", "no macros {{original}}"),
    ],
    ids=["char-user", "sentence-start", "inside-action", "v1-macros", "case-and-spaces", "others-kept"],
)
def test_expand_macros(text, expected):
    assert expand_macros(text, "Ava") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<START>\n{{user}}: Hi\n{{char}}: Hello", [("Hi", "Hello")]),
        ("<START>\n{{user}}: a\n{{char}}: b\n{{user}}: c\n{{char}}: d", [("a", "b"), ("c", "d")]),
        (
            "<START>\n{{char}}: solo\n\n<START>\n{{user}}: q\n{{char}}: line1\nline2\n",
            [("", "solo"), ("q", "line1\nline2")],
        ),
        ("<start>\nYou: x\nAva: y", [("", "y")]),
        ("<START>\n<USER>: hi {{char}}\n<BOT>: hi {{user}}", [("hi Ava", "hi the user")]),
        ("", []),
    ],
    ids=["one", "two-exchanges-one-block", "char-only-and-multiline", "name-label", "v1-labels", "empty"],
)
def test_parse_examples(text, expected):
    assert [(e["user"], e["assistant"]) for e in parse_examples(text, "Ava")] == expected


def test_render_examples_parses_back():
    examples = [{"user": "Hi", "assistant": "Hello\nthere"}, {"user": "", "assistant": "Only me"}]
    assert parse_examples(render_examples(examples), "Ava") == examples


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Maren", "maren"), ("Dr. Élise Moreau", "dr-elise-moreau"), ("  R2-D2!! ", "r2-d2"), ("雪", None)],
    ids=["plain", "accents", "punctuation", "non-latin"],
)
def test_slugify(name, slug):
    got = slugify(name)
    assert got == slug if slug else got.startswith("character-") and len(got) == 18


# --- PNG cards ---------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(text_chunks: list[bytes]) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    texts = b"".join(_chunk(b"tEXt", c) for c in text_chunks)
    return b"\x89PNG\r\n\x1a\n" + ihdr + texts + _chunk(b"IEND", b"")


def test_load_card_from_png(tmp_path):
    raw = (DATA / "card_lighthouse_v2.json").read_bytes()
    path = tmp_path / "maren.png"
    path.write_bytes(_png([b"Comment\x00hello", b"chara\x00" + base64.b64encode(raw)]))
    assert load_card(path) == load_card(DATA / "card_lighthouse_v2.json")


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"Comment\x00hi"], "no 'chara' tEXt chunk"),
        ([b"chara\x00!!notbase64"], "not base64"),
        ([b"chara\x00" + base64.b64encode(b"{nope")], "malformed JSON"),
    ],
    ids=["no-card", "bad-base64", "bad-json"],
)
def test_bad_png_card(tmp_path, chunks, message):
    path = tmp_path / "x.png"
    path.write_bytes(_png(chunks))
    with pytest.raises(PersonaError, match=message) as exc:
        load_card(path)
    assert exc.value.path == path


# --- invalid cards -----------------------------------------------------------------------------


def _v2(**data: Any) -> dict[str, Any]:
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Echo", **data}}


@pytest.mark.parametrize(
    ("card", "field", "message"),
    [
        ([], None, "must be a JSON object, got list"),
        ({"spec": "chara_card_v3", "data": {"name": "x"}}, "spec", "unsupported card spec 'chara_card_v3'"),
        ({"spec": "chara_card_v2", "data": "x"}, "data", "wrong type: got str"),
        ({"spec": "chara_card_v2", "data": {}}, "data.name", "needs a name (missing)"),
        (_v2(name="  "), "data.name", "needs a name (got '  ')"),
        ({"description": "no name"}, "name", "needs a name"),
        (_v2(description=3), "data.description", "got int"),
        (_v2(tags="a, b"), "data.tags", "got str"),
        (_v2(tags=["a", 2]), "data.tags[1]", "got int"),
        (_v2(alternate_greetings=[None]), "data.alternate_greetings[0]", "got null"),
        (_v2(character_book=[]), "data.character_book", "got list"),
        (_v2(extensions=[]), "data.extensions", "got list"),
        (_v2(extensions={"poise": "x"}), "data.extensions.poise", "got str"),
        (
            _v2(extensions={"poise": {"persona": {}, "extra": 1}}),
            "data.extensions.poise",
            "unknown key 'extra'",
        ),
        (_v2(extensions={"poise": {"schema": 9}}), "data.extensions.poise.schema", "unsupported schema 9"),
        (
            _v2(extensions={"poise": {"persona": {"rules": [{"do": "a", "dont": "b"}]}}}),
            "data.extensions.poise.persona.rules[0]",
            "exactly one of 'do' or 'dont'",
        ),
        (
            _v2(extensions={"poise": {"persona": {"colour": "red"}}}),
            "data.extensions.poise.persona.colour",
            "unknown key",
        ),
        (
            _v2(extensions={"poise": {"persona": {"id": "Bad Id"}}}),
            "data.extensions.poise.persona.id",
            "String should match pattern",
        ),
    ],
    ids=[
        "not-object",
        "wrong-spec",
        "data-not-object",
        "missing-name",
        "blank-name",
        "v1-missing-name",
        "description-int",
        "tags-str",
        "tag-int",
        "greeting-null",
        "book-list",
        "extensions-list",
        "poise-not-object",
        "poise-unknown-key",
        "poise-schema",
        "poise-bad-rule",
        "poise-unknown-field",
        "poise-bad-id",
    ],
)
def test_invalid_card_names_file_and_field(tmp_path, card, field, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(PersonaError) as exc:
        load_card(path)
    assert exc.value.field == field
    assert message in str(exc.value)
    assert str(exc.value).startswith(f"{path}: {field + ': ' if field else ''}")


def test_card_that_is_not_json(tmp_path):
    path = tmp_path / "card.json"
    path.write_text("{'name': 'single quotes'}", encoding="utf-8")
    with pytest.raises(PersonaError, match=r"card.json: malformed JSON: line 1, column 2"):
        load_card(path)


def test_missing_card_file(tmp_path):
    with pytest.raises(PersonaError, match="file not found"):
        load_card(tmp_path / "nope.json")


def test_export_needs_a_name():
    with pytest.raises(PersonaError, match="needs a name"):
        persona_to_card(Persona(id="x", version="1", name=" ", role="r"))


def test_card_extras_refuse_a_poise_extension():
    with pytest.raises(ValueError, match=r"extensions\.poise"):
        CardExtras(extensions={"poise": {}})


def test_export_leaves_secrets_out_unless_asked():
    persona = _bank()
    assert persona.secrets
    shared = json.dumps(persona_to_card(persona))
    assert all(secret not in shared for secret in persona.secrets)
    assert persona_from_card(persona_to_card(persona)).secrets == []
    assert persona_from_card(persona_to_card(persona, include_secrets=True)).secrets == persona.secrets
