"""`gerec run`: every stage that exists, on the synthetic default or on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from gerec_cli.common import configure_threads, console, metrics_table, print_json, workspace
from gerec_cli.data import stats_table
from gerec_cli.evaluate import comparison_table


def run(
    ctx: typer.Context,
    data: Annotated[Optional[Path], typer.Option(help="Real data to import instead of the synthetic default.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of --data (see `gerec data import --help`).")] = "movielens",
    items: Annotated[Optional[Path], typer.Option(help="Item text file for --data, where the format needs one.")] = None,
    models: Annotated[str, typer.Option(help="Base models to train, comma-separated: gru4rec,sasrec,bert4rec.")] = "sasrec",
    schema: Annotated[str, typer.Option(help="Attribute schema for the guided-embedding stage (name or YAML path).")] = "movies",
    quick: Annotated[bool, typer.Option(help="A small synthetic dataset and few epochs: the whole run in seconds.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the pipeline end to end: data → split → base models → guided attribute scores → feature
    store → refined models (and the reduced-only ablation) → the comparison table."""
    from gerec.data import import_dataset, workspace_stats
    from gerec.data.sequences import Sequences
    from gerec.data.synth import SynthConfig, import_synthetic, synthesize
    from gerec.evaluation.compare import compare
    from gerec.features.stage import materialize_workspace
    from gerec.features.store import apply
    from gerec.evaluation import evaluate, metric_names
    from gerec.guided.encoder import EncoderScorer
    from gerec.guided.schema import load_schema
    from gerec.guided.score import score_workspace
    from gerec.models import Popularity
    from gerec.refine.stages import train_refined
    from gerec.training import configs_from, train

    configure_threads(ctx)
    ws = workspace(ctx)
    names = [m.strip() for m in models.split(",") if m.strip()]
    configs = {name: configs_from({"epochs": 3} if quick else {}, name) for name in names}  # validates names first
    attribute_schema = load_schema(schema)
    with console.status("stage data ..."):
        if data is not None:
            import_dataset(ws, fmt, data, items)
        else:
            synthesize(ws, SynthConfig(n_items=300, n_users=400, max_length=60) if quick else SynthConfig())
            import_synthetic(ws)
    stats = workspace_stats(ws)
    if not json_out:
        console.print(stats_table(stats))
    seqs = Sequences.from_workspace(ws)
    popularity = Popularity.fit(seqs)
    results: dict[str, Any] = {"popularity": {s: evaluate(popularity, seqs, s).metrics for s in ("valid", "test")}}
    for name, (model_config, train_config) in configs.items():
        out_dir = ws.model_dir("base", name)
        result = train(seqs, model_config, train_config, out_dir, data_files=ws.data_manifest()["files"],
                       console=Console(stderr=True, quiet=json_out), show_progress=not json_out)
        results[name] = {"valid": result.valid, "test": result.test, "best_epoch": result.best_epoch,
                         "seconds": round(result.seconds, 1), "dir": str(out_dir)}
    err = Console(stderr=True, quiet=json_out)
    guided = score_workspace(ws, EncoderScorer(), attribute_schema, console=err, show_progress=not json_out)
    apply(ws)
    features = materialize_workspace(ws, base_models=names, console=err, show_progress=not json_out)
    epochs = {"epochs": 3} if quick else {}
    for name in names:
        for parts in ("reduced", "both"):
            train_refined(ws, name, parts, epochs, console=err, show_progress=not json_out)
    comparison = compare(ws, names)
    if json_out:
        print_json({"workspace": str(ws.root), "stats": stats, "results": results, "guided": guided,
                    "features": features, "comparison": comparison})
        return
    console.print(metrics_table("test: full-catalogue ranking, history excluded",
                                {name: r["test"] for name, r in results.items()}, metric_names()))
    console.print(f"guided embeddings: {guided['items']['rows']:,} items and {guided['users']['rows']:,} users scored "
                  f"on {len(attribute_schema)} '{attribute_schema.domain}' attributes ({guided['seconds']:.0f} s)")
    console.print(comparison_table(comparison))
    console.print(f"artifacts: {ws.root}")
