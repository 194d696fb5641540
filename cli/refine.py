"""`gerec refine`: train a recommender on refined embeddings read from the feature store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gerec_cli.common import (GerecGroup, SeedOption, configure_threads, console, device, metrics_table, print_json,
                              settings, workspace)

app = typer.Typer(cls=GerecGroup, help="Refined embeddings: [guided ; reduced base] item tables.", no_args_is_help=True)


@app.command("train")
def train_(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="gru4rec | sasrec | bert4rec (its base model must be trained).")] = "sasrec",
    variant: Annotated[str, typer.Option(help="refined (the method) | reduced (no language model) | guided (no base model) | shuffled (scores permuted across items and users) | nouser (β = 0) | metadata (the items' genres/categories in the attribute slots).")] = "refined",
    normalization: Annotated[str, typer.Option(help="zscore | minmax, per attribute over the catalogue.")] = "zscore",
    alpha: Annotated[Optional[float], typer.Option(help="Scale of the guided part (default: the reduced part's RMS).")] = None,
    beta: Annotated[float, typer.Option(help="Weight of the user guided term β·<g_u, ĝ_i>.")] = 1.0,
    profile_decay: Annotated[float, typer.Option(help="Add to the query, at every position, the attribute profile of the items so far, weighted by this decay per step back (0: off).")] = 0.0,
    learn_scales: Annotated[bool, typer.Option(help="Learn a positive weight per attribute column and β.")] = False,
    freeze_base: Annotated[bool, typer.Option(help="Train only what refinement adds (adapter, query head, user vectors); the whole base model stays as trained. Needs the store materialized with --reduction none.")] = False,
    config: Annotated[Optional[Path], typer.Option(help="YAML of settings (default: the base model's).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")] = None,
    seed: SeedOption = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last epoch.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or per-epoch lines.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the final metrics as JSON.")] = False,
) -> None:
    """Train MODEL on item features from the Feast store: frozen guided part, trainable reduced part,
    trainable user vectors; same loop, protocol and early stopping as the base models."""
    from gerec.evaluation import metric_names
    from gerec.steps.refine import train_refined

    configure_threads(ctx)
    ws = workspace(ctx)
    result = train_refined(ws, model, variant, settings(config, set_, seed), normalization, alpha, beta, resume, device(ctx),
                           console=Console(stderr=True, quiet=quiet), show_progress=not quiet, profile_decay=profile_decay,
                           learn_scales=learn_scales, freeze_base=freeze_base)
    out_dir = ws.model_dir(variant, model)
    if json_out:
        print_json({"model": model, "variant": variant, "valid": result.valid, "test": result.test,
                    "best_epoch": result.best_epoch, "epochs": result.epochs, "seconds": round(result.seconds, 2),
                    "dir": str(out_dir)})
        return
    console.print(metrics_table(f"{out_dir.name} (best epoch {result.best_epoch}, {result.seconds:.0f} s)",
                                {"valid": result.valid, "test": result.test}, metric_names()))
    console.print(f"wrote {out_dir} (model.safetensors, item_embeddings.parquet, user_vectors.parquet, metrics.json)")
