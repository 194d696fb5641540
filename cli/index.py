"""`gerec index`: the FAISS index over a trained model's item embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gerec.names import DEFAULT_INDEX, index_name
from gerec_cli.common import GerecGroup, configure_threads, console, device, print_json, workspace

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
    from gerec.steps.index import build_index

    configure_threads(ctx)
    ws = workspace(ctx)
    manifest = build_index(ws, model, variant, kind, recall_floor, name, device(ctx))
    if json_out:
        print_json(manifest)
        return
    console.print(f"{manifest['kind']} index of {manifest['items']:,} items × {manifest['width']} "
                  f"({manifest['source']['embedding']} embeddings of {variant}-{model}), recall@10 vs exact "
                  f"{manifest['recall_at_10']:.3f}, built in {manifest['build_seconds']:.2f} s → "
                  f"{ws.index_dir(name or index_name(model, variant))}")


@app.command()
def add(
    ctx: typer.Context,
    items: Annotated[Path, typer.Option(help="CSV or TSV of new items with 'title' and 'text' columns.")],
    index: Annotated[str, typer.Option(help="Index name.")] = DEFAULT_INDEX,
    json_out: JsonOption = False,
) -> None:
    """Add cold-start items (text, no interactions): guided scores + predicted latent part, no rebuild."""
    from gerec.steps.index import add_items, read_new_items

    configure_threads(ctx)
    titles, texts = read_new_items(items)
    ids, manifest = add_items(workspace(ctx), titles, texts, index)
    if json_out:
        print_json({"added": dict(zip(ids, titles)), "manifest": manifest})
        return
    for item_id, title in zip(ids, titles):
        console.print(f"added item {item_id}: {title}")
    console.print(f"index {index} now holds {manifest['items']:,} items")
