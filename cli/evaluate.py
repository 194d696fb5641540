"""`gerec evaluate`: base vs reduced-only vs refined, with bootstrap intervals."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from gerec_cli.common import configure_threads, console, print_json, workspace

HEADLINE = ["MRR@10", "Recall@10", "NDCG@10"]


def evaluate(
    ctx: typer.Context,
    models: Annotated[Optional[str], typer.Option(help="Base models, comma-separated (default: every trained one).")] = None,
    split: Annotated[str, typer.Option(help="test | valid")] = "test",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the users for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Evaluate every trained variant; write reports/results.json and results.md."""
    from gerec.artifacts import atomic_file, write_json
    from gerec.errors import GerecError
    from gerec.evaluation.compare import compare, markdown

    configure_threads(ctx)
    ws = workspace(ctx)
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    results = compare(ws, names, split, bootstrap, seed)
    if not results["rows"]:
        raise GerecError(f"no trained models in {ws.root / 'models'}: run `gerec base train` and `gerec refine train`")
    write_json(ws.reports_dir / "results.json", results)
    with atomic_file(ws.reports_dir / "results.md") as tmp:
        tmp.write_text(markdown(results), encoding="utf-8")
    if json_out:
        print_json(results)
        return
    console.print(comparison_table(results))
    console.print(f"all metrics (K = 5, 10, 20): {ws.reports_dir / 'results.md'}, {ws.reports_dir / 'results.json'}")


def comparison_table(results: dict[str, Any]) -> Table:
    """The headline metrics of a comparison (``gerec.evaluation.compare``) as a terminal table."""
    from gerec.evaluation.compare import LABELS

    table = Table(title=f"{results['dataset']}: {results['split']}, full catalogue, history excluded (95% bootstrap CI)")
    for col in ("model", "variant", *HEADLINE):
        table.add_column(col, justify="left" if col in ("model", "variant") else "right")
    for row in results["rows"]:
        for variant, values in row["variants"].items():
            table.add_row(row["model"], LABELS[variant], *(f"{values[m]['mean']:.4f} [{values[m]['low']:.4f}, "
                                                          f"{values[m]['high']:.4f}]" for m in HEADLINE))
        for gain, values in row["gains"].items():
            new, old = gain.split("_vs_")
            table.add_row(row["model"], f"{LABELS[new]} vs {LABELS[old]}",
                          *(f"{values[m]['mean']:+.1%} [{values[m]['low']:+.1%}, {values[m]['high']:+.1%}]"
                            for m in HEADLINE))
    return table
