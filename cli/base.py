"""`gerec base`: train the base sequential recommenders (GRU4Rec, SASRec, BERT4Rec)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gerec_cli.common import (GerecGroup, SeedOption, configure_threads, console, device, metrics_table, print_json,
                              settings, workspace)

app = typer.Typer(cls=GerecGroup, help="Train base sequential recommenders.", no_args_is_help=True)


@app.command("train")
def train_(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="gru4rec | sasrec | bert4rec")] = "sasrec",
    config: Annotated[Optional[Path], typer.Option(help="YAML file of model and training settings.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")] = None,
    seed: SeedOption = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last epoch.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or per-epoch lines.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the final valid and test metrics as JSON.")] = False,
) -> None:
    """Train to early stopping on validation NDCG@10 (full or sampled softmax by catalogue size); export item embeddings.

    Settings (``--set key=value`` or YAML): dim, max_len, layers, heads,
    dropout, mask_prob, loss (auto | ce | sampled), ce_chunk, n_negatives,
    sampler, logq, epochs, batch_size, lr, weight_decay, patience,
    patience_steps, popularity_patience, grad_clip, seed, eval_batch_size,
    max_minutes. Per-model defaults differ where measured
    (gerec.training.MODEL_DEFAULTS).
    """
    from gerec.evaluation import metric_names
    from gerec.steps.base import train_base

    configure_threads(ctx)
    ws = workspace(ctx)
    result = train_base(ws, model, settings(config, set_, seed), resume, device(ctx), console=Console(stderr=True, quiet=quiet),
                        show_progress=not quiet)
    out_dir = ws.model_dir("base", model)
    if json_out:
        print_json({"model": model, "valid": result.valid, "test": result.test, "best_epoch": result.best_epoch,
                    "epochs": result.epochs, "seconds": round(result.seconds, 2), "stopped": result.stopped,
                    "dir": str(out_dir)})
        return
    console.print(metrics_table(f"{model} (best epoch {result.best_epoch} of {result.epochs}, {result.seconds:.0f} s)",
                                {"valid": result.valid, "test": result.test}, metric_names()))
    console.print(f"wrote {out_dir} (model.safetensors, item_embeddings.parquet, metrics.json)")


@app.command("continue")
def continue_(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="gru4rec | sasrec | bert4rec (its base model must be trained).")] = "sasrec",
    epochs: Annotated[Optional[int], typer.Option(help="Epochs to add (default: as many as the refined arm ran).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")] = None,
    seed: SeedOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar or per-epoch lines.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the final metrics as JSON.")] = False,
) -> None:
    """The base-continued control arm: the trained base model trained further, as long as the
    refined arm, into models/continued-MODEL (PROTOCOL.md)."""
    from gerec.evaluation import metric_names
    from gerec.steps.base import continue_base

    configure_threads(ctx)
    ws = workspace(ctx)
    result = continue_base(ws, model, epochs, settings(None, set_, seed), device(ctx),
                           console=Console(stderr=True, quiet=quiet), show_progress=not quiet)
    if json_out:
        print_json({"model": model, "variant": "continued", "valid": result.valid, "test": result.test,
                    "best_epoch": result.best_epoch, "epochs": result.epochs, "dir": str(ws.model_dir("continued", model))})
        return
    console.print(metrics_table(f"continued-{model} ({result.epochs} more epochs, best {result.best_epoch})",
                                {"valid": result.valid, "test": result.test}, metric_names()))
