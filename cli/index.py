"""`gerec index`: the FAISS index over a trained model's item embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gerec_cli.common import GerecGroup, configure_threads, console, print_json, workspace

app = typer.Typer(cls=GerecGroup, help="FAISS index over refined (or base) item embeddings.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")]


@app.command()
def build(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="gru4rec | sasrec | bert4rec")] = "sasrec",
    variant: Annotated[str, typer.Option(help="refined | base | reduced | guided: which trained table to index.")] = "refined",
    kind: Annotated[str, typer.Option(help="auto (flat up to 200k items, else HNSW) | flat | hnsw | ivf")] = "auto",
    recall_floor: Annotated[float, typer.Option(help="Refuse an approximate index with recall@10 below this.")] = 0.95,
    name: Annotated[Optional[str], typer.Option(help="Index name (default: <variant>-<model>).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Build, measure (recall@10 vs exact search) and atomically publish an index."""
    from gerec.retrieval.build import build_model_index

    configure_threads(ctx)
    ws = workspace(ctx)
    manifest = build_model_index(ws, model, variant, kind, recall_floor, name)
    if json_out:
        print_json(manifest)
        return
    console.print(f"{manifest['kind']} index of {manifest['items']:,} items × {manifest['width']} "
                  f"({manifest['source']['embedding']} embeddings of {variant}-{model}), recall@10 vs exact "
                  f"{manifest['recall_at_10']:.3f}, built in {manifest['build_seconds']:.2f} s → "
                  f"{ws.root / 'indexes' / (name or f'{variant}-{model}')}")


@app.command()
def add(
    ctx: typer.Context,
    items: Annotated[Path, typer.Option(help="CSV or TSV of new items with 'title' and 'text' columns.")],
    index: Annotated[str, typer.Option(help="Index name.")] = "refined-sasrec",
    json_out: JsonOption = False,
) -> None:
    """Add cold-start items (text, no interactions): guided scores + predicted latent part, no rebuild."""
    import csv

    from gerec.errors import GerecError
    from gerec.retrieval.coldstart import add_items

    configure_threads(ctx)
    if not items.exists():
        raise GerecError(f"{items}: file not found")
    with open(items, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t" if items.suffix == ".tsv" else ","))
    if not rows or not {"title", "text"} <= set(rows[0]):
        raise GerecError(f"{items}: needs 'title' and 'text' columns, found {', '.join(rows[0]) if rows else 'no rows'}")
    ids, manifest = add_items(workspace(ctx), index, [r["title"] for r in rows], [r["text"] for r in rows])
    if json_out:
        print_json({"added": dict(zip(ids, [r["title"] for r in rows])), "manifest": manifest})
        return
    for item_id, row in zip(ids, rows):
        console.print(f"added item {item_id}: {row['title']}")
    console.print(f"index {index} now holds {manifest['items']:,} items")
