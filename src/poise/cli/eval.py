"""``poise eval …``: evaluation commands.

``poise eval ifeval --input input_data.jsonl --responses responses.jsonl [--json]`` scores a
response file with the IFEval checkers and prints the four accuracies (prompt/instruction level,
strict/loose); text mode adds the per-instruction breakdown. A malformed file is a
:class:`~poise.errors.DatasetError` (exit 2 through the CLI boundary) naming the file and line.

``poise eval run --target raw:local --target poise:local --persona bank-support --suites all --limit 10
--out docs/eval`` runs the suites on every target side by side and writes the HTML, Markdown and JSON
report (see :mod:`poise.eval.runner` and ``docs/eval.md``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from poise.eval.ifeval import IFEvalRun, evaluate_files

app = typer.Typer(help="Evaluate models and products: IFEval, suites, reports.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

InputOption = Annotated[
    Path,
    typer.Option(
        "--input", help="IFEval prompts (input_data.jsonl: key, prompt, instruction_id_list, kwargs)."
    ),
]
ResponsesOption = Annotated[
    Path, typer.Option("--responses", help="Responses, one JSON object per line: prompt, response (and key).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ResultsOption = Annotated[bool, typer.Option("--results", help="With --json: add every prompt's verdicts.")]


@app.callback()
def evaluation() -> None:
    """Evaluate models and products: IFEval scoring, side-by-side suites, the readiness report."""


@app.command("ifeval")
def ifeval(
    input_path: InputOption,
    responses: ResponsesOption,
    as_json: JsonOption = False,
    results: ResultsOption = False,
) -> None:
    """Score a response file with IFEval's 25 instruction checkers (strict and loose)."""
    run = evaluate_files(input_path, responses)
    if as_json:
        data = run.report.to_dict(include_results=results)
        data["pairing"] = {"method": run.pairing.method, "mismatched_keys": list(run.pairing.mismatched_keys)}
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    _print_text(run)


def _print_text(run: IFEvalRun) -> None:
    report = run.report
    console.print(
        f"IFEval: {report.prompts} prompts, {report.instructions} instructions "
        f"(responses paired by {run.pairing.method})",
        highlight=False,
    )
    if run.pairing.mismatched_keys:
        keys = ", ".join(str(k) for k in run.pairing.mismatched_keys)
        err_console.print(
            f"note: paired by line order; the prompt text differs for key(s) {keys}", highlight=False
        )
    summary = Table(show_header=True, header_style="bold")
    summary.add_column("accuracy")
    summary.add_column("strict", justify="right")
    summary.add_column("loose", justify="right")
    summary.add_row("prompt-level", f"{100 * report.prompt_strict:.2f}", f"{100 * report.prompt_loose:.2f}")
    summary.add_row(
        "instruction-level", f"{100 * report.instruction_strict:.2f}", f"{100 * report.instruction_loose:.2f}"
    )
    console.print(summary)
    breakdown = Table(show_header=True, header_style="bold")
    breakdown.add_column("instruction")
    breakdown.add_column("n", justify="right")
    breakdown.add_column("strict %", justify="right")
    breakdown.add_column("loose %", justify="right")
    for name, stats in report.by_instruction.items():
        breakdown.add_row(
            name, str(stats.total), f"{100 * stats.strict_accuracy:.1f}", f"{100 * stats.loose_accuracy:.1f}"
        )
    console.print(breakdown)


# --- poise eval run ---------------------------------------------------------------------------

TargetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        help="MODE:MODEL[,persona=P][,guard=POLICY][,name=N], MODE raw or poise; repeat for side by side.",
    ),
]


def _default_data() -> Path:
    return Path(os.environ.get("POISE_EVAL_DATA", "../shared/data"))


def _default_cache() -> Path:
    home = os.environ.get("POISE_HOME") or str(Path.home() / ".local" / "share" / "poise")
    return Path(home) / "eval-cache.sqlite"


@app.command("run")
def run(
    target: TargetOption = None,
    persona: Annotated[
        str | None, typer.Option("--persona", "-p", help="Persona for targets without one.")
    ] = None,
    suites: Annotated[
        str | None,
        typer.Option("--suites", help="Comma-separated: over-refusal,harmful,ifeval,attacks,persona or all."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Cases per suite (seeded, stratified).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed.")] = None,
    turns: Annotated[
        int | None, typer.Option("--turns", min=1, help="User turns per persona conversation.")
    ] = None,
    conversations: Annotated[
        int | None, typer.Option("--conversations", min=1, help="Persona conversations (before --limit).")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Reply length cap.")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, help="Cases in flight.")] = None,
    judge: Annotated[
        str,
        typer.Option(
            "--judge", help="Refusal judge: 'lexicon' (deterministic) or a model spec for the LLM judge."
        ),
    ] = "lexicon",
    judge_sample: Annotated[
        int,
        typer.Option(
            "--judge-sample", min=0, help="XSTest completions for the judge-agreement check (0: all)."
        ),
    ] = 0,
    data: Annotated[
        Path | None, typer.Option("--data", help="Shared datasets folder (default ../shared/data).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML eval config (options given here override it).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.html, report.md, report.json.")
    ] = Path("eval-report"),
    cache: Annotated[Path | None, typer.Option("--cache", help="SQLite transcript cache (resume).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache.")] = False,
    use_ray: Annotated[
        bool,
        typer.Option("--ray", help="Run cases as Ray tasks (RAY_ADDRESS joins a cluster; default: local)."),
    ] = False,
) -> None:
    """Run eval suites on one or more targets side by side and write the readiness report."""
    from poise.errors import ConfigError
    from poise.eval.cache import ResultCache
    from poise.eval.cases import parse_suites
    from poise.eval.config import EvalConfigFile, load_eval_config
    from poise.eval.report import COLUMNS, table_rows, write_reports
    from poise.eval.runner import RunConfig
    from poise.eval.targets import parse_target
    from poise.models.types import GenerationParams

    file = load_eval_config(config) if config else EvalConfigFile(targets=list(target or ["raw:local"]))
    specs = (
        [parse_target(t, persona=persona or file.persona) for t in target] if target else file.target_specs()
    )
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(
            f"two targets have the same name: {labels}",
            field="target",
            expected="distinct targets, or name=... on each",
        )
    run_config = RunConfig(
        suites=parse_suites(suites) if suites else parse_suites(list(file.suites)),
        data=data or (Path(file.data) if file.data else _default_data()),
        limit=limit if limit is not None else file.limit,
        seed=seed if seed is not None else file.seed,
        concurrency=concurrency or file.concurrency,
        persona_turns=turns or file.turns,
        persona_conversations=conversations or file.conversations,
        params=GenerationParams(max_tokens=max_tokens or file.max_tokens, temperature=0.0, seed=0),
    )
    store = ResultCache(":memory:" if no_cache else (cache or _default_cache()))
    try:
        result = asyncio.run(_run(specs, run_config, store, judge, judge_sample, use_ray))
    finally:
        store.close()
    command = (
        "poise eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["eval"] else None
    )
    paths = write_reports(result, out, command=command)
    table = Table(show_header=True, header_style="bold")
    for column in COLUMNS:
        table.add_column(column)
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    for a in result.agreement:
        console.print(
            f"judge {a.judge}: {100 * a.accuracy_binary:.1f} % binary agreement with XSTest human labels "
            f"(κ {a.kappa_binary:.3f}, 3-class {100 * a.accuracy_3class:.1f} %, n={a.n})",
            highlight=False,
        )
    console.print(
        f"{result.generated} generated, {result.cached} from cache in {result.seconds:.0f} s; "
        f"report: {paths['html']} {paths['md']} {paths['json']}",
        highlight=False,
    )


async def _run(
    specs: list[Any],
    config: Any,
    store: Any,
    judge_name: str,
    judge_sample: int | None,
    use_ray: bool = False,
) -> Any:
    import random

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from poise.eval.judges import Judge, LexiconJudge, LLMJudge, judge_agreement, load_xstest_labelled
    from poise.eval.runner import run_eval
    from poise.models.registry import resolve_model

    judge: Judge = LexiconJudge() if judge_name == "lexicon" else LLMJudge(resolve_model(judge_name))
    labelled = load_xstest_labelled(config.data)
    if judge_sample is None and judge_name != "lexicon":
        judge_sample = 200
    if judge_sample:
        labelled = random.Random(config.seed).sample(labelled, min(judge_sample, len(labelled)))
    agreement = [await judge_agreement(judge, labelled)]
    executor = None
    if use_ray:
        from poise.eval.ray_exec import RayExecutor

        executor = RayExecutor()
        import ray

        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    with Progress(
        TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
    ) as bar:
        task = bar.add_task("cases", total=None)

        def tick(done: int, total: int, cached: bool) -> None:
            bar.update(task, completed=done, total=total)

        return await run_eval(
            specs, config, judge=judge, cache=store, progress=tick, agreement=agreement, executor=executor
        )
