"""`gerec data`: import datasets, generate the synthetic default, print statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from gerec_cli.common import GerecGroup, console, print_json, workspace

app = typer.Typer(cls=GerecGroup, help="Import datasets into the workspace and inspect them.", no_args_is_help=True)

FORMATS_HELP = "movielens | amazon-reviews | sequences | csv | parquet"


def stats_table(stats: dict[str, Any]) -> Table:
    """As imported vs after filtering, side by side."""
    table = Table(title=f"dataset ({stats.get('format')})")
    table.add_column("")
    table.add_column("as imported", justify="right")
    table.add_column("after filtering", justify="right")
    raw, final = stats["raw"], stats["final"]
    for key in ("users", "items", "interactions"):
        table.add_row(key, f"{raw[key]:,}", f"{final[key]:,}")
    table.add_row("density", f"{raw['density']:.5f}", f"{final['density']:.5f}")
    lengths = lambda s: " / ".join(str(s["sequence_length"][k]) for k in ("min", "p50", "p95", "max"))  # noqa: E731
    table.add_row("seq. length min/med/p95/max", lengths(raw), lengths(final))
    split = stats["split"]
    table.add_row("train / valid / test", "", f"{split['train']:,} / {split['valid']:,} / {split['test']:,}")
    table.add_row("tied valid / test", "", f"{split['tied_valid_events']:,} / {split['tied_test_events']:,}")
    return table


def shape_table(shape: dict[str, float]) -> Table:
    """This dataset's shape beside the real datasets' (is it long-tailed like them?)."""
    from gerec.data.stats import SHAPE_LABELS, reference_shapes, shape_value, within_reference

    refs = reference_shapes()
    inside = within_reference(shape)
    table = Table(title="shape, beside real datasets (benchmarks/realism.py)")
    table.add_column("")
    table.add_column("this", justify="right")
    for name in refs:
        table.add_column(name.removeprefix("amazon-"), justify="right")
    table.add_column("in range", justify="center")

    for key, label in SHAPE_LABELS.items():
        table.add_row(label, shape_value(key, shape[key]), *(shape_value(key, r[key]) for r in refs.values()),
                      "yes" if inside[key] else "no")
    return table


def print_dropped(dropped: dict[str, int]) -> None:
    if dropped.get("users_fewer_than_3"):
        console.print(f"dropped {dropped['users_fewer_than_3']:,} users with fewer than 3 interactions")
    notes = {"duplicates": "repeated user-item events", "missing_text": "events of items without text",
             "below_min_rating": "events below the rating threshold",
             "users_below_min_user": "users below --min-user", "items_below_min_item": "items below --min-item",
             "cold_item_events": "train/valid events on held-out cold items",
             "users_short_after_cold": "users left with fewer than 3 events without them"}
    for key, what in notes.items():
        if dropped.get(key):
            console.print(f"dropped {dropped[key]:,} {what}")


@app.command("import")
def import_(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=FORMATS_HELP)],
    path: Annotated[Path, typer.Argument(help="Dataset folder (movielens) or interactions/sequence/review file.")],
    items: Annotated[Optional[Path], typer.Option(help="Item text file (sequences, csv, parquet) or metadata (amazon-reviews).")] = None,
    user_col: Annotated[str, typer.Option(help="csv/parquet: user column.")] = "user_id",
    item_col: Annotated[str, typer.Option(help="csv/parquet: item column.")] = "item_id",
    time_col: Annotated[Optional[str], typer.Option(help="csv/parquet: time column ('' for file order).")] = "timestamp",
    rating_col: Annotated[Optional[str], typer.Option(help="csv/parquet: rating column.")] = None,
    items_id_col: Annotated[Optional[str], typer.Option(help="csv/parquet items file: id column (default: --item-col).")] = None,
    title_col: Annotated[str, typer.Option(help="csv/parquet items file: title column.")] = "title",
    text_col: Annotated[Optional[list[str]], typer.Option(help="csv/parquet items file: text column(s) for the language model, joined (default: the title).")] = None,
    categories_col: Annotated[Optional[str], typer.Option(help="csv/parquet items file: a column of '|'-separated genres or categories (for the metadata control arm).")] = None,
    min_user: Annotated[int, typer.Option(help="k-core: minimum interactions per user (3 is always applied).")] = 0,
    min_item: Annotated[int, typer.Option(help="k-core: minimum interactions per item.")] = 0,
    dedupe: Annotated[bool, typer.Option("--dedupe/--keep-repeats", help="Keep only the first of repeated user-item events.")] = True,
    min_rating: Annotated[Optional[float], typer.Option(help="Drop events rated below this.")] = None,
    missing_text: Annotated[str, typer.Option(help="Events whose item has no text: error | drop.")] = "error",
    seed: Annotated[int, typer.Option(help="Seed of the tie-breaking key for equal timestamps.")] = 42,
    cold_items: Annotated[float, typer.Option(help="Share of items held out of training as cold items: those first seen last in time; they stay only as test targets.")] = 0.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Import a dataset: clean, k-core, dense ids, leave-one-out split (Parquet + manifest)."""
    from gerec.data import ColumnMap, ImportOptions
    from gerec.steps.data import import_data, stats

    columns = ColumnMap(user=user_col, item=item_col, time=time_col or None, rating=rating_col,
                        item_id=items_id_col, title=title_col, text=tuple(text_col or ()), categories=categories_col)
    options = ImportOptions(min_user=min_user, min_item=min_item, dedupe=dedupe, min_rating=min_rating,
                            missing_text=missing_text, seed=seed, cold_items=cold_items)
    ws = workspace(ctx)
    with console.status(f"importing {path} ..."):
        manifest = import_data(ws, fmt, path, items, columns, options)
    if json_out:
        print_json(manifest)
        return
    print_dropped(manifest["dropped"])
    if manifest["cold_items"]["items"]:
        cold = manifest["cold_items"]
        console.print(f"held out {cold['items']:,} cold items (first seen from {cold['first_seen_from']}): "
                      f"{cold['test_events']:,} test events")
    console.print(stats_table(stats(ws)))
    console.print(f"wrote {ws.data_dir} in {manifest['seconds']:.2f} s")


@app.command()
def synth(
    ctx: typer.Context,
    n_items: Annotated[int, typer.Option("--items", help="Number of items.")] = 1500,
    n_users: Annotated[int, typer.Option("--users", help="Number of users.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    do_import: Annotated[bool, typer.Option("--import/--no-import", help="Import it as the workspace dataset.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the dataset stats as JSON.")] = False,
) -> None:
    """Generate the synthetic default dataset (with ground-truth attributes) and import it."""
    from gerec.data.synth import sized
    from gerec.steps.data import stats, synthesize

    ws = workspace(ctx)
    with console.status("generating synthetic data ..."):
        manifest = synthesize(ws, sized(n_items, n_users, seed), do_import)
    out = ws.synthetic_dir
    if manifest is None:
        if json_out:
            print_json({"synthetic_dir": str(out)})
        else:
            console.print(f"wrote {out}")
        return
    if json_out:
        print_json(manifest)
        return
    console.print(stats_table(stats(ws)))
    console.print(f"wrote {out} (ground truth: item_truth.parquet, user_truth.parquet) and {ws.data_dir}")


@app.command()
def stats(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Users, items, interactions (as imported and after filtering), sequence lengths, density."""
    from gerec.steps.data import stats as data_stats

    result = data_stats(workspace(ctx))
    if json_out:
        print_json(result)
    else:
        console.print(stats_table(result))
        console.print(shape_table(result["shape"]))
