"""An index from a trained model: its item table, exactly the vectors its scores use."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.parquet as pq

from gerec.artifacts import read_json
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.retrieval.index import build_index
from gerec.serving.recommender import index_dir
from gerec.workspace import Workspace


def held_out_users(seqs: Sequences, limit: int = 1000, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` users whose test-target queries measure an approximate index's recall."""
    users = seqs.users[seqs.lengths(seqs.users) >= 2]
    return np.sort(np.random.default_rng(seed).choice(users, size=min(limit, len(users)), replace=False))


def build_model_index(ws: Workspace, model: str = "sasrec", variant: str = "refined", kind: str = "auto",
                      recall_floor: float = 0.95, name: str | None = None) -> dict[str, Any]:
    """Index ``models/<variant>-<model>``'s item table as ``indexes/<variant>-<model>`` (or ``name``)."""
    from gerec.training import load_checkpoint, user_queries

    model_dir = ws.model_dir(variant, model)
    if not (model_dir / "model.safetensors").exists():
        hint = "gerec base train" if variant == "base" else "gerec refine train"
        raise GerecError(f"no trained model in {model_dir}: run `{hint} --model {model}` first")
    net = load_checkpoint(model_dir)
    table = net.catalogue().detach()[1:].numpy()  # (n_items, d): row i-1 is item i
    items = pq.read_table(ws.items_path, columns=["item_id", "title"]).sort_by("item_id")
    if items.num_rows != len(table):
        raise GerecError(f"{model_dir} has {len(table)} items but the dataset {items.num_rows}: retrain the model")
    meta = read_json(model_dir / "config.json").get("refine", {})
    source = {"model_dir": str(model_dir), "model": model, "variant": variant, "embedding": "refined" if meta else "base",
              "attributes": meta.get("attributes", []) if meta.get("frozen_dim") else []}
    seqs = Sequences.from_workspace(ws)
    queries = user_queries(net, seqs, held_out_users(seqs), "test")
    return build_index(index_dir(ws, name or f"{variant}-{model}"), table, np.asarray(items["item_id"]),
                       items["title"].to_pylist(), source, kind, queries, recall_floor)
