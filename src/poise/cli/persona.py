"""``poise persona …``: list, show, lint, compile, schema, and Character Card import/export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from poise.cli.options import user_profile
from poise.instructions.types import RequestContext
from poise.models.types import ChatMessage
from poise.persona.compile import FAMILIES, compile_persona
from poise.persona.load import builtin_personas, persona_to_yaml, resolve_persona
from poise.persona.schema import persona_json_schema

app = typer.Typer(help="Work with persona files.", no_args_is_help=True)
console = Console()

PersonaArg = Annotated[str, typer.Argument(help="Persona file or built-in name.")]


@app.command("list")
def list_personas() -> None:
    """List the built-in personas."""
    for name, path in builtin_personas().items():
        p = resolve_persona(path)
        typer.echo(f"{name:<16} {p.id} v{p.version}  {p.name}: {p.role}")


@app.command("show")
def show(persona: PersonaArg) -> None:
    """Print a persona as resolved YAML (``extends`` applied) — a starting point for your own."""
    typer.echo(persona_to_yaml(resolve_persona(persona)), nl=False)


@app.command("lint")
def lint(
    persona: PersonaArg,
    budget: Annotated[int, typer.Option(help="Token budget for the compiled prompt.")] = 1024,
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
) -> None:
    """Check a persona for contradictions, unverifiable rules, prompt length and missing parts.

    Exits 1 when there are errors; warnings alone exit 0.
    """
    from poise.persona.lint import lint_persona

    report = lint_persona(resolve_persona(persona), token_budget=budget)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        styles = {"error": "bold red", "warning": "yellow", "info": "dim"}
        for f in report.findings:
            where = f" [{f.field}]" if f.field else ""
            console.print(
                f"[{styles[f.severity]}]{f.severity:<7}[/] {f.code}{where} {f.message}", highlight=False
            )
            if f.hint:
                console.print(f"        [dim]hint: {f.hint}[/]", highlight=False)
        console.print(
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s), {len(report.infos)} note(s)",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command("compile")
def compile_cmd(
    persona: PersonaArg,
    family: Annotated[str, typer.Option(help=f"Prompt layout: {', '.join(FAMILIES)}.")] = "markdown",
    message: Annotated[
        str | None, typer.Option("--message", help="Evaluate the instruction rules for this user message.")
    ] = None,
    rules: Annotated[str, typer.Option(help="Instruction rule file (default: built-in rules).")] = "default",
    expertise: Annotated[str | None, typer.Option(help="User expertise for the rules.")] = None,
    locale: Annotated[str | None, typer.Option(help="User locale for the rules.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the prompt and its trace as JSON.")] = False,
) -> None:
    """Print the system prompt a persona compiles to (optionally with dynamic instructions)."""
    from poise.assistant import load_instructions

    p = resolve_persona(persona)
    result = None
    if message is not None:
        engine = load_instructions(rules)
        assert engine is not None
        user = user_profile(expertise, locale)
        result = engine(RequestContext(messages=(ChatMessage("user", message),), user=user))
    compiled = compile_persona(p, result, family=family)  # type: ignore[arg-type]
    if as_json:
        typer.echo(
            json.dumps(
                {"prompt": compiled.text, "trace": compiled.trace.to_dict()}, indent=2, ensure_ascii=False
            )
        )
    else:
        typer.echo(compiled.text, nl=False)


@app.command("schema")
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the persona JSON Schema (for editor validation of persona YAML files)."""
    text = json.dumps(persona_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@app.command("import")
def import_card(
    card: Annotated[Path, typer.Argument(help="Character Card V2 (or V1) JSON file.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the persona YAML here.")] = None,
) -> None:
    """Convert a Character Card (SillyTavern chara_card_v2 JSON) into a persona YAML file."""
    from poise.persona.card import load_card

    text = persona_to_yaml(load_card(card))
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)


@app.command("export")
def export_card(
    persona: PersonaArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the card JSON here.")] = None,
    include_secrets: Annotated[
        bool, typer.Option("--include-secrets", help="Also export the persona's secrets (cards get shared!).")
    ] = False,
) -> None:
    """Convert a persona into a Character Card V2 JSON file (secrets left out by default)."""
    from poise.persona.card import card_to_json

    text = card_to_json(resolve_persona(persona), include_secrets=include_secrets)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)
