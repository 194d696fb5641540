"""Feature-store verbs: set up the workspace's Feast store, reduce base models, ingest, materialize."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.parquet as pq
from rich.console import Console

from gerec.errors import GerecError
from gerec.features import store
from gerec.features.store import apply
from gerec.features.tables import write_reduced
from gerec.refine.reduce import fit_reduction
from gerec.steps.data import cold_items, sequences
from gerec.training import load_checkpoint, user_queries
from gerec.workspace import Workspace

__all__ = ["apply", "materialize", "reduce_base_model", "reduction_line"]


def reduce_base_model(ws: Workspace, base_model: str, method: str = "pca", k: int | None = None,
                      seed: int = 42) -> dict[str, Any]:
    """Reduce a trained base model's item table to ``k`` (default ``d − m``; ``d`` for the
    ``none`` reduction, which keeps it whole) dimensions and save it as
    ``features/reduced/<model>.parquet`` for the store to ingest."""
    model = load_checkpoint(ws.model_dir("base", base_model))
    attributes = ws.guided_manifest()["attributes"]
    m, d = len(attributes), model.config.dim
    k = (d if method == "none" else d - m) if k is None else k
    if k < 1:
        raise GerecError(f"base width d={d} leaves no room for {m} attributes (k = d − m = {k}): "
                         f"train the base model with dim={m + 16} or more")
    table = model.catalogue().detach()[1:].numpy().astype(np.float64)  # (n_items, d)
    warm = np.ones(len(table), dtype=bool)
    warm[cold_items(ws) - 1] = False  # held-out items' rows never saw a positive: not fit on
    queries = guided = None
    if method == "linear":  # the base model's queries over every user's train history
        seqs = sequences(ws)
        queries = user_queries(model, seqs, seqs.users, "valid").astype(np.float64)
    if method == "orthogonal":  # the items' attribute scores, rows in item-id order like the table
        scores = pq.read_table(ws.item_attributes_path).sort_by("item_id")
        guided = np.stack([scores[a].to_numpy() for a in attributes], axis=1)
        if len(guided) != len(table):
            raise GerecError(f"{len(guided)} items have guided scores but base model '{base_model}' has "
                             f"{len(table)}: score the catalogue again (`gerec guided score`)")
    reduction = fit_reduction(table[warm], k, method, queries, seed, None if guided is None else guided[warm])
    write_reduced(ws, base_model, reduction.transform(table, guided), f"{method} k={k} of d={d}")
    return {"base_model": base_model, **reduction.to_dict(), "d": d, "m": m}


def reduction_line(r: dict[str, Any]) -> str:
    """One line on a reduction of :func:`reduce_base_model`: what it kept, and for ``orthogonal``
    how much of the base table the guided scores explain."""
    criterion = "of the query-weighted score energy" if r["method"] == "linear" else "of the variance"
    beyond = f"; the guided scores explain {r['guided_r2']:.1%} of the table" if "guided_r2" in r else ""
    return f"{r['method']} d={r['d']} → k={r['k']} (kept {r['explained']:.1%} {criterion}{beyond})"


def materialize(ws: Workspace, base_models: list[str] | None = None, reduction: str = "pca", k: int | None = None,
                incremental: bool = True, console: Console | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Reduce ``base_models`` (None: every trained one; []: none), ingest every table that
    changed into the offline store, and materialize it online."""
    store.attributes_of_workspace(ws)
    names = [model for _, model in ws.trained("base")] if base_models is None else base_models
    reduced = [reduce_base_model(ws, name, reduction, k) for name in names]
    ingested = store.ingest(ws)
    report = store.materialize(ws, incremental=incremental, console=console, show_progress=show_progress)
    return {"reduced": reduced, "ingested": ingested, **report}
