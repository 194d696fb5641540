"""`gerec evaluate`: base vs reduced-only vs refined, with bootstrap intervals."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.table import Table

from gerec_cli.common import configure_threads, console, device, print_json, workspace

HEADLINE = ["MRR@10", "Recall@10", "NDCG@10"]


def evaluate(
    ctx: typer.Context,
    models: Annotated[Optional[str], typer.Option(help="Base models, comma-separated (default: every trained one).")] = None,
    split: Annotated[str, typer.Option(help="test | valid")] = "test",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the users for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    arms: Annotated[Optional[str], typer.Option(help="Arms to compare, comma-separated: base, continued, reduced, "
                                                "guided, refined, shuffled, nouser (default: every trained one).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Evaluate every trained variant (or the --arms named); write reports/results.json and results.md."""
    from gerec.errors import GerecError
    from gerec.steps.evaluate import evaluate as evaluate_all

    configure_threads(ctx)
    ws = workspace(ctx)
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    chosen = [a.strip() for a in arms.split(",") if a.strip()] if arms else None
    results = evaluate_all(ws, names, split, bootstrap, seed, device=device(ctx), arms=chosen)
    if not results["rows"]:
        raise GerecError(f"no trained models in {ws.models_dir}: run `gerec base train` and `gerec refine train`")
    if json_out:
        print_json(results)
        return
    console.print(comparison_table(results))
    console.print(f"all metrics (K = 5, 10, 20): {ws.results_path.with_suffix('.md')}, {ws.results_path}")


def comparison_table(results: dict[str, Any]) -> Table:
    """The headline metrics of a comparison (``gerec.evaluation.compare``) as a terminal table that
    fits 80 columns: each interval on a line of its own, numbers never wrapped, labels folded."""
    from gerec.evaluation.compare import table_rows

    models = sorted({row["model"] for row in results["rows"]})
    one = len(models) == 1  # the model goes in the title instead of a column
    table = Table(title=f"{results['dataset']}{', ' + models[0] if one else ''}: {results['split']}, full catalogue, "
                        "history excluded; 95% bootstrap interval under each value", box=box.SIMPLE_HEAD, pad_edge=False)
    if not one:
        table.add_column("model")
    table.add_column("variant", min_width=10, overflow="fold")
    for col in HEADLINE:
        table.add_column(col, justify="right", no_wrap=True)
    for row in table_rows(results, HEADLINE):
        table.add_row(*row[2 if one else 1:3], *(cell.replace(" [", "\n[", 1) for cell in row[3:]))
    return table
