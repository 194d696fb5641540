"""`gerec guided`: score items and users on named attributes with a language model."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from gerec.names import DEFAULT_ENCODER
from gerec_cli.common import GerecGroup, configure_threads, console, device, print_json, settings, workspace

app = typer.Typer(cls=GerecGroup, help="Guided embeddings: attribute scores from a language model.",
                  no_args_is_help=True)


# Options shared by `score` and `finetune`.
SchemaOption = Annotated[str, typer.Option("--schema", help="Shipped schema (movies, movies-extended, clothing, games, beauty, generic) or a YAML path.")]
BackendOption = Annotated[str, typer.Option("--backend", help="encoder (offline default) | causal (a prompted causal LM, the paper's).")]
ModelOption = Annotated[str, typer.Option("--model", help="encoder: the offline default, a path or hub id; causal: a path or hub id.")]
DtypeOption = Annotated[str, typer.Option("--dtype", help="causal: weight dtype, e.g. bfloat16 on a GPU ('' = the model's).")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]


@app.command()
def schemas(json_out: Annotated[bool, typer.Option("--json", help="Print the full schemas as JSON.")] = False) -> None:
    """List the shipped attribute schemas."""
    from gerec.guided.schema import load_schema, shipped_schemas

    loaded = {name: load_schema(name) for name in shipped_schemas()}
    if json_out:
        print_json({name: schema.to_dict() for name, schema in loaded.items()})
        return
    for name, schema in loaded.items():
        console.print(f"[bold]{name}[/] ({len(schema)}): {', '.join(schema.names)}")


@app.command()
def score(
    ctx: typer.Context,
    schema: SchemaOption = "movies",
    backend: BackendOption = "encoder",
    model: ModelOption = DEFAULT_ENCODER,
    generate: Annotated[bool, typer.Option(help="causal: decode freely and parse, instead of teacher-forced digits.")] = False,
    dtype: DtypeOption = "",
    recent: Annotated[int, typer.Option(help="Most recent train items whose titles describe a user.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Texts per scoring step (default: 512 encoder, 8 causal).")] = 0,
    engine: Annotated[str, typer.Option(help="local | ray: Ray Data actors, each loading the scorer once.")] = "local",
    actors: Annotated[int, typer.Option(help="--engine ray: scorer copies.")] = 2,
    ray_address: Annotated[Optional[str], typer.Option(help="--engine ray: a cluster (ray://head:10001); "
                                                       "default: Ray on this machine.")] = None,
    shard: Annotated[Optional[str], typer.Option(help="i/n: score only the i-th of n shares (a job array); "
                                                 "then one run without --shard merges them.")] = None,
    quiet: QuietOption = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Score every item (its text) and user (recent train titles); resumable, cached by content hash."""
    from gerec.steps.guided import attribute_summary
    from gerec.steps.guided import score as score_all

    configure_threads(ctx)
    ws = workspace(ctx)
    manifest = score_all(ws, schema, backend, model, recent, generate=generate, dtype=dtype, batch_size=batch_size,
                         device=device(ctx), engine=engine, actors=actors, ray_address=ray_address, shard=shard,
                         console=Console(stderr=True, quiet=quiet), show_progress=not quiet)
    if json_out:
        print_json(manifest)
        return
    if shard:
        console.print(f"shard {manifest['shard']}: scored {manifest['items']['newly_scored']:,} items and "
                      f"{manifest['users']['newly_scored']:,} users into parts; when every shard is done, run "
                      "`gerec guided score` without --shard to merge them and write the tables")
        return
    table = Table(title=f"{manifest['schema']['domain']}: item scores (1-9) over {manifest['items']['rows']:,} items")
    for col in ("attribute", "mean", "min", "max"):
        table.add_column(col, justify="left" if col == "attribute" else "right")
    for name, values in attribute_summary(ws).items():
        table.add_row(name, f"{values['mean']:.2f}", f"{values['min']:.2f}", f"{values['max']:.2f}")
    console.print(table)
    rate = manifest["items"]["items_per_second"]
    console.print(f"scored {manifest['items']['newly_scored']:,} items (reused {manifest['items']['reused']:,})"
                  + (f" at {rate:.0f} items/s" if rate else "")
                  + f", {manifest['users']['newly_scored']:,} users (reused {manifest['users']['reused']:,}); "
                  f"wrote {ws.features_dir}")


@app.command()
def finetune(
    ctx: typer.Context,
    schema: SchemaOption = "movies",
    backend: BackendOption = "encoder",
    model: ModelOption = DEFAULT_ENCODER,
    dtype: DtypeOption = "",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="key=value: epochs, batch_size, negatives, lr, lora_r, lora_alpha, lora_dropout, format_weight, temperature, recent, stats_sample, objective (direct | residual), seed.")] = None,
    base_model: Annotated[str, typer.Option(help="objective=residual: the trained base model (gru4rec | sasrec | bert4rec) whose logits the LM's are added to.")] = "sasrec",
    quiet: QuietOption = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the fine-tuning and scoring manifests as JSON.")] = False,
) -> None:
    """Train LoRA adapters with L_rec + λ·L_format, save them, then re-score items and users with them.
    With --set objective=residual the LM learns what a trained base model misses."""
    from gerec.steps.guided import finetune as finetune_scorer

    configure_threads(ctx)
    ws = workspace(ctx)
    result = finetune_scorer(ws, schema, backend, model, settings(None, set_), dtype, device(ctx),
                             console=Console(stderr=True, quiet=quiet), show_progress=not quiet, base_model=base_model)
    tuned, scored = result["finetune"], result["score"]
    if json_out:
        print_json({"finetune": tuned, "score": scored})
        return
    last = tuned["history"][-1]
    console.print(f"adapter: {result['adapter']} ({tuned['seconds']:.0f} s, last epoch loss {last['loss']:.4f}: "
                  f"rec {last['rec']:.4f}, format {last['format']:.4f})")
    console.print(f"re-scored {scored['items']['rows']:,} items and {scored['users']['rows']:,} users into {ws.features_dir}")
