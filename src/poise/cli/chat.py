"""``poise chat``: talk to a persona, interactively or one message at a time (scriptable)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

from poise.assistant import create_engine
from poise.cli.options import trust_tier, user_profile
from poise.context.engine import ConversationEngine, TurnResult
from poise.context.store import default_db_path
from poise.errors import PoiseError
from poise.instructions.types import UserProfile
from poise.models.types import ChatChunk, GenerationParams

console = Console()

HELP = "Commands: /rules (toggle showing fired rules), /remind, /new, /history, /help, /exit"


def _render_rules(result: TurnResult) -> None:
    fired = result.trace.instructions.fired
    s = result.trace.instructions.signals
    lines = [
        f"signals: task={s.task} code={s.code_language or '-'} lang={s.language or '-'} "
        f"sentiment={s.sentiment:+.2f} complaints={s.complaints} turn={s.turn}"
    ]
    lines += [f"fired {r.rule_id}: {'; '.join(r.reasons)}" for r in fired] or ["no instruction rule fired"]
    w = result.trace.window
    lines.append(
        f"context: {w.prompt_tokens}/{w.budget} tokens, history {w.history_included}/{w.history_total}"
        f"{', summary used' if w.used_summary else ''}{', reminder injected' if w.reminder_injected else ''}"
    )
    if result.trace.guard is not None:
        for stage, verdict in (("input", result.trace.guard.input), ("output", result.trace.guard.output)):
            if verdict is not None:
                why = "; ".join(f"{r.rail}:{r.category or r.code} {r.score:.2f}" for r in verdict.reasons)
                detail = f" — {why}" if why else ""
                lines.append(f"guard {stage}: {verdict.action} ({verdict.latency_ms:.1f} ms){detail}")
    console.print(Panel("\n".join(lines), title="instructions", border_style="dim"), highlight=False)


async def _one_turn(
    engine: ConversationEngine, text: str, session_id: str, user: UserProfile, stream: bool, remind: bool
) -> TurnResult:
    if not stream:
        return await engine.send(text, session_id=session_id, user=user, remind=remind)
    result: TurnResult | None = None
    console.print(f"[bold cyan]{engine.persona.name}>[/] ", end="")
    async for event in engine.stream(text, session_id=session_id, user=user, remind=remind):
        if isinstance(event, ChatChunk):
            console.out(event.delta, end="", highlight=False)
        else:
            result = event
    console.print()
    assert result is not None
    return result


async def _interactive(
    engine: ConversationEngine, session_id: str, user: UserProfile, show_rules: bool, stream: bool
) -> None:
    persona = engine.persona
    console.print(
        Panel(
            f"[bold]{persona.name}[/] — {persona.role}\npersona {persona.id} v{persona.version} · "
            f"model {engine.model.name}:{engine.model.model_id} · session {session_id}\n{HELP}",
            border_style="cyan",
        )
    )
    if persona.greeting:
        console.print(f"[bold cyan]{persona.name}>[/] {persona.greeting}", highlight=False)
    remind = False
    while True:
        try:
            text = console.input("[bold green]you>[/] ")
        except EOFError:
            console.print()
            return
        command = text.strip().lower()
        if not command:
            continue
        if command in ("/exit", "/quit"):
            return
        if command == "/help":
            console.print(HELP)
            continue
        if command == "/rules":
            show_rules = not show_rules
            console.print(f"showing fired rules: {'on' if show_rules else 'off'}")
            continue
        if command == "/remind":
            remind = True
            console.print("the persona reminder will be re-injected on the next turn")
            continue
        if command == "/new":
            session_id = engine.start_session()
            console.print(f"new session {session_id}")
            continue
        if command == "/history":
            for m in engine.history(session_id):
                console.print(f"[dim]{m.seq:>3} {m.role}:[/] {m.content}", highlight=False)
            continue
        try:
            result = await _one_turn(engine, text, session_id, user, stream, remind)
        except PoiseError as exc:
            console.print(f"[bold red]error:[/] {exc}\n[dim]your message is saved; send it again to retry[/]")
            continue
        remind = False
        if not stream:
            body = Markdown(result.reply) if persona.tone.formatting == "markdown" else result.reply
            console.print(f"[bold cyan]{persona.name}>[/]", end=" ")
            console.print(body, highlight=False)
        if show_rules:
            _render_rules(result)


def chat(
    persona: Annotated[
        str | None,
        typer.Option("--persona", "-p", help="Persona file or built-in name (see `poise persona list`)."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="local | local:PATH.gguf | openai:NAME | anthropic:NAME")
    ] = "local",
    message: Annotated[
        str | None, typer.Option("--message", help="Send one message, print the reply and exit.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --message: print the reply and its trace as JSON.")
    ] = False,
    show_rules: Annotated[
        bool, typer.Option("--show-rules", help="Show which instruction rules fired.")
    ] = False,
    rules: Annotated[
        str | None, typer.Option("--rules", help="Instruction rule file (default: the built-in rules).")
    ] = "default",
    no_rules: Annotated[bool, typer.Option("--no-rules", help="Disable dynamic instructions.")] = False,
    session: Annotated[
        str | None, typer.Option("--session", help="Continue (or create) this session id.")
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="Session database (default: $POISE_HOME/sessions.db).")
    ] = None,
    expertise: Annotated[
        str | None, typer.Option(help="User expertise: beginner | intermediate | expert.")
    ] = None,
    locale: Annotated[str | None, typer.Option(help="User locale, e.g. de-DE.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Maximum tokens per reply.")] = 256,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.2,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Stream replies as they are generated.")
    ] = True,
    base_url: Annotated[str | None, typer.Option(help="Base URL for openai/anthropic backends.")] = None,
    guard: Annotated[
        bool, typer.Option("--guard/--no-guard", help="Run the input and output rails (default: on).")
    ] = True,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Guard policy file (default: the shipped policy).")
    ] = None,
    tier: Annotated[
        str, typer.Option(help="Caller trust tier: anonymous | customer | trusted | internal.")
    ] = "anonymous",
    constitution: Annotated[
        str | None,
        typer.Option(
            "--constitution",
            help="'default' or a constitution file: drafts the policy marks 'rewrite' are critiqued "
            "and revised instead of blocked.",
        ),
    ] = None,
) -> None:
    """Chat with a persona (offline on the embedded model by default)."""
    user = user_profile(expertise, locale)
    options: dict[str, Any] = {"base_url": base_url} if base_url else {}
    engine = create_engine(
        persona,
        model,
        db=db or default_db_path(),
        rules=None if no_rules else rules,
        params=GenerationParams(max_tokens=max_tokens, temperature=temperature),
        guard=(policy or "default") if guard else None,
        tier=trust_tier(tier),
        constitution=constitution,
        **options,
    )
    session_id = session or engine.start_session()
    if message is not None:
        result = asyncio.run(engine.send(message, session_id=session_id, user=user))
        if as_json:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            typer.echo(result.reply)
            if show_rules:
                _render_rules(result)
        return
    asyncio.run(_interactive(engine, session_id, user, show_rules, stream))
