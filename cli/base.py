"""`gerec base`: train the base sequential recommenders (GRU4Rec, SASRec, BERT4Rec)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from gerec_cli.common import GerecGroup, configure_threads, console, metrics_table, print_json, workspace

app = typer.Typer(cls=GerecGroup, help="Train base sequential recommenders.", no_args_is_help=True)


@app.command("train")
def train_(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="gru4rec | sasrec | bert4rec")] = "sasrec",
    config: Annotated[Optional[Path], typer.Option(help="YAML file of model and training settings.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting: key=value (repeatable).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its last epoch.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or per-epoch lines.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the final valid and test metrics as JSON.")] = False,
) -> None:
    """Train with full cross-entropy, early stopping on validation NDCG@10; export item embeddings.

    Settings (``--set key=value`` or YAML): dim, max_len, layers, heads, dropout, mask_prob,
    loss (ce | sampled), n_negatives, epochs, batch_size, lr, weight_decay, patience, seed.
    """
    from gerec.config import load_yaml, parse_overrides
    from gerec.data.sequences import Sequences
    from gerec.evaluation import metric_names
    from gerec.training import configs_from, read_metrics, train

    configure_threads(ctx)
    values = {**(load_yaml(config) if config else {}), **parse_overrides(set_ or [])}
    model_config, train_config = configs_from(values, model)
    ws = workspace(ctx)
    seqs = Sequences.from_workspace(ws)
    out_dir = ws.model_dir("base", model)
    result = train(seqs, model_config, train_config, out_dir, resume=resume, data_files=ws.data_manifest()["files"],
                   console=Console(stderr=True, quiet=quiet), show_progress=not quiet)
    metrics = read_metrics(out_dir)
    if json_out:
        print_json({"model": model, "valid": result.valid, "test": result.test, "best_epoch": result.best_epoch,
                    "epochs": metrics["epochs"], "seconds": metrics["seconds"], "dir": str(out_dir)})
        return
    console.print(metrics_table(f"{model} (best epoch {result.best_epoch} of {metrics['epochs']}, "
                                f"{metrics['seconds']:.0f} s)",
                                {"valid": result.valid, "test": result.test}, metric_names()))
    console.print(f"wrote {out_dir} (model.safetensors, item_embeddings.parquet, metrics.json)")
