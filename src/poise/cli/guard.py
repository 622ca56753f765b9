"""``poise guard …``: check a text against a guard policy, measure a policy on labelled data, train.

``check`` exits 0 when the text may pass (``allow``, ``log``, ``redact``, ``rewrite``), 1 when the
policy stops it (``block``, ``escalate``) and 2 on bad input (no text, unreadable file, invalid
policy), so a shell script or a CI step can gate on it. ``eval`` prints precision, recall, F1,
FPR and latency for a JSONL file whose lines are input-detection, leak or PII cases (see
:mod:`poise.guard.evaluation`). ``train`` retrains the prompt-attack classifier.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from poise.guard.pipeline import GuardPipeline, GuardVerdict, load_pipeline
from poise.guard.policy import Stage
from poise.guard.rails import TIERS, GuardContext, Tier
from poise.guard.types import DetectionContext

app = typer.Typer(
    help="Check texts against a guard policy, measure it on labelled data, train its classifier.",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Guard policy YAML (default: the shipped policy).", dir_okay=False),
]
TierOption = Annotated[
    str, typer.Option("--tier", help="Trust tier: anonymous | customer | trusted | internal.")
]
TenantOption = Annotated[str | None, typer.Option("--tenant", help="Apply this tenant's policy overrides.")]
StageOption = Annotated[str, typer.Option("--stage", help="input (user message) | output (model reply).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _tier(value: str) -> Tier:
    for tier in TIERS:
        if tier == value:
            return tier
    raise typer.BadParameter(f"{value!r} is not a tier; use one of {', '.join(TIERS)}", param_hint="--tier")


def _stage(value: str) -> Stage:
    if value == "input":
        return "input"
    if value == "output":
        return "output"
    raise typer.BadParameter(f"{value!r} is not a stage; use input or output", param_hint="--stage")


def _read_text(text: str | None, file: Path | None) -> str:
    if text is not None and file is not None:
        raise typer.BadParameter("give the text or --file, not both", param_hint="TEXT")
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise typer.BadParameter(f"{file} is not UTF-8 text", param_hint="--file") from None
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="--file") from None
    elif text == "-":
        value = sys.stdin.read()
    elif text is not None:
        value = text
    else:
        raise typer.BadParameter(
            "give the text to check, --file PATH, or '-' to read stdin", param_hint="TEXT"
        )
    if not value.strip():
        raise typer.BadParameter("the text is empty; there is nothing to check", param_hint="TEXT")
    return value


def _context(
    stage: Stage,
    tier: Tier,
    tenant: str | None,
    persona_ref: str | None,
    system_prompt: str | None,
    user_text: str | None,
) -> GuardContext:
    persona = None
    prompt = system_prompt
    secrets: tuple[str, ...] = ()
    if persona_ref is not None:
        from poise.persona.compile import compile_persona
        from poise.persona.load import resolve_persona

        persona = resolve_persona(persona_ref)
        secrets = tuple(persona.secrets)
        if prompt is None:  # what input is judged against and what a leak would copy, as in service
            prompt = compile_persona(persona).text
    detection = DetectionContext(system_prompt=prompt, secrets=secrets)
    return GuardContext(detection, tier=tier, tenant=tenant, persona=persona, user_text=user_text)


async def _check(
    pipeline: GuardPipeline, stage: Stage, text: str, ctx: GuardContext, audit_db: Path | None
) -> tuple[GuardVerdict, int]:
    if audit_db is None:
        run = pipeline.check_input if stage == "input" else pipeline.check_output
        return await run(text, ctx), 0
    from poise.audit import SQLiteAuditStore
    from poise.guard.audit import AuditingPipeline

    store = SQLiteAuditStore(audit_db)
    try:
        auditing = AuditingPipeline(pipeline, store)
        check = auditing.check_input if stage == "input" else auditing.check_output
        verdict = await check(text, ctx)
        return verdict, len(auditing.last_records)
    finally:
        await store.aclose()


@app.command("check")
def check(
    text: Annotated[str | None, typer.Argument(help="The text to check; '-' reads it from stdin.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the text from this file.", dir_okay=False)
    ] = None,
    stage: StageOption = "input",
    policy: PolicyOption = None,
    tier: TierOption = "anonymous",
    tenant: TenantOption = None,
    persona: Annotated[
        str | None,
        typer.Option("--persona", "-p", help="Persona file or built-in name: its rules, secrets, refusal."),
    ] = None,
    system_prompt: Annotated[
        str | None,
        typer.Option(
            "--system-prompt",
            help="The system prompt being protected: input checks look for requests for what it "
            "protects (a secret, a person's data, a forbidden topic), output checks for leaks of it.",
        ),
    ] = None,
    user_text: Annotated[
        str | None, typer.Option("--user-text", help="Output checks: the user's message being answered.")
    ] = None,
    as_json: JsonOption = False,
    audit: Annotated[
        bool, typer.Option("--audit", help="Record the verdict in the audit trail ($POISE_HOME/audit.db).")
    ] = False,
    audit_db: Annotated[
        Path | None, typer.Option("--audit-db", help="Record the verdict in this audit database.")
    ] = None,
) -> None:
    """Check one text; exit 0 when it may pass (allow/log/redact), 1 when blocked or escalated."""
    st, tr = _stage(stage), _tier(tier)
    body = _read_text(text, file)
    pipeline = load_pipeline(policy)
    ctx = _context(st, tr, tenant, persona, system_prompt, user_text)
    if audit and audit_db is None:
        from poise.audit import default_audit_path

        audit_db = default_audit_path()
    verdict, recorded = asyncio.run(_check(pipeline, st, body, ctx, audit_db))
    if as_json:
        from poise.guard.report import verdict_to_dict

        out = verdict_to_dict(verdict)
        if audit_db is not None:
            out["audit"] = {"db": str(audit_db), "records": recorded}
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        from poise.guard.report import format_verdict

        typer.echo(format_verdict(verdict))
        if audit_db is not None:
            typer.echo(f"audit: {recorded} record(s) appended to {audit_db}", err=True)
    if verdict.blocked:
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    dataset: Annotated[
        Path, typer.Option("--dataset", "-d", help="Labelled JSONL: input-detection, leak or PII cases.")
    ],
    policy: PolicyOption = None,
    stage: Annotated[
        str, typer.Option("--stage", help="Stage for input-detection and PII cases: input | output.")
    ] = "input",
    rail: Annotated[
        str | None,
        typer.Option("--rail", help="Decide detection/leak cases by this rail's flag, not the verdict."),
    ] = None,
    pii_rail: Annotated[str, typer.Option("--pii-rail", help="Rail whose spans PII cases score.")] = "pii",
    tier: TierOption = "anonymous",
    tenant: TenantOption = None,
    as_json: JsonOption = False,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="Write one JSON line per case: truth, prediction, latency."),
    ] = None,
) -> None:
    """Precision, recall, F1, FPR and latency of a policy on a labelled JSONL file."""
    from poise.guard.eval_cases import load_cases
    from poise.guard.evaluation import Prediction, evaluate_cases, format_eval_report

    st, tr = _stage(stage), _tier(tier)
    cases = load_cases(dataset)
    pipeline = load_pipeline(policy)
    sink: IO[str] | None = None
    if predictions is not None:
        try:
            sink = predictions.open("w", encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot write {predictions}: {exc.strerror}", param_hint="--predictions"
            ) from None

    def write(p: Prediction) -> None:
        if sink is not None:
            sink.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")

    try:
        report = asyncio.run(
            evaluate_cases(
                pipeline,
                cases,
                stage=st,
                rail=rail,
                pii_rail=pii_rail,
                tier=tr,
                tenant=tenant,
                on_prediction=write,
            )
        )
    finally:
        if sink is not None:
            sink.close()
    if as_json:
        out: dict[str, Any] = {"dataset": str(dataset), "cases": len(cases), **report.to_dict()}
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        typer.echo(f"# {dataset}: {len(cases)} cases, tier {tr}\n")
        typer.echo(format_eval_report(report))


@app.command("train")
def train(
    data: Annotated[
        Path, typer.Option("--data", help="The shared data folder (e.g. ../shared/data).", file_okay=False)
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the artifact, split manifest and model card.")
    ],
    seed: Annotated[int | None, typer.Option("--seed", help="Split and training seed.")] = None,
    c: Annotated[float | None, typer.Option("--c", help="Inverse regularisation strength.")] = None,
) -> None:
    """Train the prompt-attack classifier (same as python -m poise.guard.injection.train)."""
    if not data.is_dir():
        raise typer.BadParameter(f"{data} is not a folder", param_hint="--data")
    from poise.guard.injection.train import main as train_main

    argv = ["--data", str(data), "--out", str(out)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if c is not None:
        argv += ["--c", str(c)]
    code = train_main(argv)
    if code:
        raise typer.Exit(code)
