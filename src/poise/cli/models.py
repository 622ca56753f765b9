"""``poise models``: which model backends are available and configured here."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from poise.models.registry import available_backends


def models() -> None:
    """List model backends, whether each is ready to use, and how to configure it."""
    table = Table("backend", "ready", "spec", "detail")
    for info in available_backends():
        table.add_row(info.name, "yes" if info.configured else "no", info.example, info.detail)
    Console().print(table)
