"""What every command shares: the workspace option, errors as one line, JSON or table output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from gerec.errors import GerecError
from gerec.workspace import Workspace

console = Console()
err_console = Console(stderr=True)


class GerecGroup(TyperGroup):
    """Turns a :class:`GerecError` anywhere below into ``error: <message>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GerecError as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace chosen by the global ``--workspace`` option (or $GEREC_WORKSPACE)."""
    root = ctx.find_root().params.get("workspace")
    return Workspace.resolve(root)


def configure_threads(ctx: typer.Context) -> None:
    """Apply the global ``--threads`` to torch (a shared 2-core box slows 10× when oversubscribed)."""
    threads = ctx.find_root().params.get("threads")
    if threads:
        import torch

        torch.set_num_threads(threads)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def metrics_table(title: str, columns: dict[str, dict[str, float]], names: list[str]) -> Table:
    """A results table: one row per metric, one column per (model, split) — narrow terminals fit."""
    table = Table(title=title)
    table.add_column("metric")
    for label in columns:
        table.add_column(label, justify="right")
    for name in names:
        table.add_row(name, *(f"{metrics[name]:.4f}" for metrics in columns.values()))
    return table
