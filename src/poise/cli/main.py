"""The ``poise`` command line: one Typer app, one module per command group.

``main()`` is the error boundary: a :class:`~poise.errors.PoiseError` becomes a one-line
``error: …`` message on stderr with exit status 2 (bad input) or 1 (a backend failed); a user
never sees a stack trace for an error poise raised on purpose.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from poise.cli import align, audit, chat, guard, models, persona, serve
from poise.cli import eval as eval_cli
from poise.errors import ModelError, PoiseError

app = typer.Typer(
    name="poise",
    help="The last mile on top of any model: personas, dynamic instructions, guardrails.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("chat")(chat.chat)
app.command("models")(models.models)
app.add_typer(persona.app, name="persona")
app.add_typer(audit.app, name="audit")
app.add_typer(serve.app, name="serve")
app.add_typer(guard.app, name="guard")
app.add_typer(align.app, name="align")
app.add_typer(eval_cli.app, name="eval")

err_console = Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map poise errors to a clear message and an exit status.

    Typer runs in standalone mode, so usage errors (unknown option, missing argument) are
    reported by Typer itself with exit status 2.
    """
    try:
        app(args=argv, prog_name="poise")
    except PoiseError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1 if isinstance(exc, ModelError) else 2)
    except Exception as exc:  # the CLI boundary: a bug, not bad input
        if os.environ.get("POISE_DEBUG"):
            raise
        err_console.print(
            f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}\n"
            "This is a bug in poise; rerun with POISE_DEBUG=1 for the traceback and report it.",
            highlight=False,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
