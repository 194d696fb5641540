"""The `gerec` application: command groups composed here, each defined in its own module."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gerec.errors import GerecError
from gerec.parallel import world

from gerec_cli import base, data, evaluate, features, guided, index, refine, report, run, serving
from gerec_cli.common import GerecGroup

app = typer.Typer(
    cls=GerecGroup,
    help="gerec: guided embedding refinement for sequential recommenders.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data")
app.add_typer(base.app, name="base")
app.add_typer(guided.app, name="guided")
app.add_typer(features.app, name="features")
app.add_typer(refine.app, name="refine")
app.command("evaluate")(evaluate.evaluate)
app.add_typer(index.app, name="index")
for command in (serving.recommend, serving.similar, serving.explain, serving.serve):
    app.command(command.__name__)(command)
app.command("report")(report.report)
app.command("run")(run.run)


def _version(value: bool) -> None:
    if value:
        from gerec import __version__

        typer.echo(f"gerec {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Option(envvar="GEREC_WORKSPACE", help="Workspace folder for every artifact.")] = "gerec-workspace",
    threads: Annotated[Optional[int], typer.Option(envvar="GEREC_THREADS", help="Torch/OpenMP threads (default: torch's choice).")] = None,
    device: Annotated[Optional[str], typer.Option(envvar="GEREC_DEVICE", help="Torch device for training, evaluation, scoring and serving: auto (a GPU if there is one) | cpu | cuda | cuda:N | mps.")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Options shared by every command."""
    if world()[1] > 1 and ctx.invoked_subcommand not in ("base", "refine"):  # every rank would run it
        raise GerecError("under torchrun only training runs in parallel (`base train`, `base continue`, "
                         f"`refine train`); run `gerec {ctx.invoked_subcommand}` as one process")


def main() -> None:
    app()
