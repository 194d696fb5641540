"""`gerec run`: every stage that exists, on the synthetic default or on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gerec_cli.common import configure_threads, console, metrics_table, print_json, workspace
from gerec_cli.data import stats_table


def run(
    ctx: typer.Context,
    data: Annotated[Optional[Path], typer.Option(help="Real data to import instead of the synthetic default.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Format of --data (see `gerec data import --help`).")] = "movielens",
    items: Annotated[Optional[Path], typer.Option(help="Item text file for --data, where the format needs one.")] = None,
    quick: Annotated[bool, typer.Option(help="A small synthetic dataset: the whole run in seconds.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the pipeline end to end: data → split → stats → evaluation (popularity baseline so far)."""
    from gerec.data import import_dataset, workspace_stats
    from gerec.data.sequences import Sequences
    from gerec.data.synth import SynthConfig, import_synthetic, synthesize
    from gerec.evaluation import evaluate, metric_names
    from gerec.models import Popularity

    configure_threads(ctx)
    ws = workspace(ctx)
    with console.status("stage data ..."):
        if data is not None:
            import_dataset(ws, fmt, data, items)
        else:
            config = SynthConfig(n_items=300, n_users=400) if quick else SynthConfig()
            synthesize(ws, config)
            import_synthetic(ws)
    stats = workspace_stats(ws)
    seqs = Sequences.from_workspace(ws)
    with console.status("stage evaluate (popularity baseline) ..."):
        model = Popularity.fit(seqs)
        results: dict[str, Any] = {split: evaluate(model, seqs, split).metrics for split in ("valid", "test")}
    if json_out:
        print_json({"workspace": str(ws.root), "stats": stats, "popularity": results})
        return
    console.print(stats_table(stats))
    console.print(metrics_table("full-catalogue ranking, history excluded",
                                {f"popularity {s}": m for s, m in results.items()}, metric_names()))
    console.print(f"artifacts: {ws.data_dir}")
