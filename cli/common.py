"""What every command shares: the workspace option, errors as one line, JSON or table output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from gerec.errors import GerecError
from gerec.parallel import is_writer
from gerec.workspace import Workspace

_speaks = is_writer()  # under torchrun every process runs the command; only rank 0 speaks
console = Console(quiet=not _speaks)
err_console = Console(stderr=True, quiet=not _speaks)


class GerecGroup(TyperGroup):
    """Turns a :class:`GerecError` anywhere below into ``error: <message>`` and exit code 1 —
    and so an operating-system error (a read-only workspace, a folder where a file should be),
    which names the path."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GerecError as err:
            fail(str(err))
        except OSError as err:
            where = f": {err.filename}" if err.filename else ""
            fail(f"{err.strerror or err}{where}")


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit 1."""
    err_console.print("[bold red]error:[/] " + escape(message), highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace chosen by the global ``--workspace`` option (or $GEREC_WORKSPACE)."""
    root = ctx.find_root().params.get("workspace")
    return Workspace.resolve(root)


def device(ctx: typer.Context) -> str | None:
    """The global ``--device`` (or $GEREC_DEVICE): auto, cpu, cuda, cuda:N or mps; None: auto."""
    return ctx.find_root().params.get("device")


def settings(config: Path | None, pairs: list[str] | None, seed: int | None = None) -> dict[str, Any]:
    """One flat mapping of settings: a YAML file's, then ``--set key=value`` overrides, then ``--seed``."""
    from gerec.config import load_yaml, parse_overrides

    return {**(load_yaml(config) if config else {}), **parse_overrides(pairs or []),
            **({"seed": seed} if seed is not None else {})}


SeedOption = Annotated[Optional[int], typer.Option(help="Random seed of the run (same as --set seed=N).")]


def configure_threads(ctx: typer.Context) -> None:
    """Apply the global ``--threads`` to torch (a shared 2-core box slows 10× when oversubscribed)."""
    from gerec.devices import set_threads

    set_threads(ctx.find_root().params.get("threads"))


def print_json(obj: Any) -> None:
    if _speaks:
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
