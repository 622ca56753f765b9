"""``poise eval …``: evaluation commands.

``poise eval ifeval --input input_data.jsonl --responses responses.jsonl [--json]`` scores a
response file with the IFEval checkers and prints the four accuracies (prompt/instruction level,
strict/loose); text mode adds the per-instruction breakdown. A malformed file is a
:class:`~poise.errors.DatasetError` (exit 2 through the CLI boundary) naming the file and line.
Suites, targets and the readiness report join this group as further subcommands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
    """Evaluate models and products: IFEval now; suites, targets and reports join here."""


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
