"""`gerec features`: the Feast feature store (set up, materialize)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from gerec_cli.common import GerecGroup, configure_threads, console, print_json, workspace

app = typer.Typer(cls=GerecGroup, help="Feature store: attribute scores and reduced embeddings in Feast.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("apply")
def apply_(
    ctx: typer.Context,
    online: Annotated[Optional[str], typer.Option(help="Online store: sqlite (default) or redis://host:port/db.")] = None,
    registry: Annotated[Optional[str], typer.Option(help="Registry: file (default) or postgresql://user@host:port/db.")] = None,
    engine: Annotated[Optional[str], typer.Option(help="Materialization: local (default), ray (a local Ray) or "
                                                  "ray://host:port (a cluster).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Write this workspace's Feast repository and register its entities and feature views (idempotent).
    Backends chosen here are kept for later commands; changing one starts a fresh Feast project that
    the next `gerec features materialize` fills."""
    from gerec.steps.features import apply

    result = apply(workspace(ctx), online=online, registry=registry, engine=engine)
    if json_out:
        print_json(result)
        return
    for view, fields in result["feature_views"].items():
        console.print(f"[bold]{view}[/]: {', '.join(fields)}")
    used = result["backends"]
    console.print(f"applied: {result['store']} (feast CLI works there too); online {used['online']}, "
                  f"registry {used['registry']}, materialization {used['engine']}, project {used['project']}")


@app.command()
def materialize(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Materialize everything from the epoch, not just what is new.")] = False,
    reduction: Annotated[str, typer.Option(help="pca | linear (score-preserving map fit on the base model's user queries) | orthogonal (PCA of what the guided scores do not explain) | none (the whole table, k = d: refined models widen to d + m).")] = "pca",
    k: Annotated[Optional[int], typer.Option(help="Reduced width (default d − m: refined and base tables equally wide).")] = None,
    base_models: Annotated[Optional[str], typer.Option(help="Base models to reduce, comma-separated (default: every trained one).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Reduce base item embeddings, ingest changed rows into the offline store, materialize them online."""
    from gerec.steps.features import materialize, reduction_line

    configure_threads(ctx)
    names = [m.strip() for m in base_models.split(",") if m.strip()] if base_models else None
    report = materialize(workspace(ctx), names, reduction, k, incremental=not full,
                         console=Console(stderr=True, quiet=quiet), show_progress=not quiet)
    if json_out:
        print_json(report)
        return
    for r in report["reduced"]:
        console.print(f"reduced {r['base_model']}: {reduction_line(r)}")
    table = Table(title=f"materialized ({report['mode']})")
    for col in ("feature view", "new rows ingested", "rows materialized", "entities", "seconds"):
        table.add_column(col, justify="left" if col == "feature view" else "right")
    for view, v in report["views"].items():
        table.add_row(view, f"{report['ingested'].get(view, 0):,}", f"{v['rows']:,}", f"{v['entities']:,}",
                      f"{v['seconds']:.2f}")
    console.print(table)
