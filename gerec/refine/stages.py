"""The refinement stages on a workspace: reduce a base model, assemble the refined tables
from the feature store, train the refined recommender.

``parts`` selects what the item table is made of, always at the base model's width ``d``
(so every variant has the same capacity and the comparison is fair):

- ``both`` (the method): ``[ĝ (m, frozen) ; r (d − m, trainable)]`` plus user vectors ``β·g_u``;
- ``reduced`` (ablation, no language model): ``[z (m, trainable, random) ; r (d − m, trainable)]``;
- ``guided`` (ablation, no base model): ``[ĝ (m, frozen) ; z (d − m, trainable, random)]`` plus ``β·g_u``.

``reduced`` differs from ``both`` only in what fills the attribute dimensions, so the gap
between them is what the language model adds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.console import Console

from gerec.artifacts import atomic_file, read_json
from gerec.config import ConfigError
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.features.store import read_offline, vectors
from gerec.features.tables import guided_manifest, write_reduced
from gerec.models.refined import Refinement
from gerec.refine.normalize import Normalizer
from gerec.refine.reduce import fit_reduction
from gerec.training import TrainResult, configs_from, load_checkpoint, train, user_queries
from gerec.workspace import Workspace

PARTS = {"both": "refined", "reduced": "reduced", "guided": "guided"}  # --parts → model folder prefix


def reduce_base_model(ws: Workspace, base_model: str, method: str = "pca", k: int | None = None,
                      seed: int = 42) -> dict[str, Any]:
    """Reduce a trained base model's item table to ``k`` (default ``d − m``) dimensions and
    save it as ``features/reduced/<model>.parquet`` for the store to ingest."""
    model = load_checkpoint(ws.model_dir("base", base_model))
    m = len(guided_manifest(ws)["attributes"])
    d = model.config.dim
    k = d - m if k is None else k
    if k < 1:
        raise GerecError(f"base width d={d} leaves no room for {m} attributes (k = d − m = {k}): "
                         f"train the base model with --set dim={m + 16} or more")
    table = model.catalogue().detach()[1:].numpy().astype(np.float64)  # (n_items, d)
    queries = None
    if method == "linear":  # the base model's queries over every user's train history
        seqs = Sequences.from_workspace(ws)
        queries = user_queries(model, seqs, seqs.users, "valid").astype(np.float64)
    reduction = fit_reduction(table, k, method, queries, seed)
    write_reduced(ws, base_model, reduction.transform(table), f"{method} k={k} of d={d}")
    return {"base_model": base_model, **reduction.to_dict(), "d": d, "m": m}


def _scale(block: np.ndarray) -> float:
    return float(np.sqrt(np.mean(block.astype(np.float64) ** 2))) if block.size else 1.0


def _with_padding(rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([np.zeros((1, rows.shape[1]), np.float32), rows.astype(np.float32)]))


def refinement_from_store(ws: Workspace, base_model: str, parts: str = "both", dim: int = 64,
                          normalization: str = "zscore", alpha: float | None = None, beta: float = 1.0,
                          seed: int = 42) -> Refinement:
    """Read item and user features from the Feast store and assemble the refined tables.

    ``alpha`` None: the guided block gets the same RMS as the trainable block beside it,
    so neither dominates the inner products at the start of training.
    """
    if parts not in PARTS:
        raise ConfigError(f"unknown --parts '{parts}'; choose one of: {', '.join(PARTS)}")
    manifest = ws.data_manifest()
    n_items, n_users = manifest["final"]["items"], manifest["final"]["users"]
    item_ids = np.arange(1, n_items + 1)
    frame = read_offline(ws, ["item_attributes:vector", "item_base_reduced:vector", "item_base_reduced:reduction"],
                         {"item_id": item_ids, "base_model": [base_model] * n_items}, full_names=True)
    guided = vectors(frame, "item_attributes__vector", item_ids, "item_id")  # (n, m) scores 1–9
    m = guided.shape[1]
    rng = np.random.default_rng(seed)
    if parts == "guided":
        latent = (rng.standard_normal((n_items, dim - m)) * dim ** -0.5).astype(np.float32)
        reduction = "none (random latent part)"
    else:
        if frame["item_base_reduced__vector"].isna().all():
            raise GerecError(f"the feature store has no reduced embeddings of base model '{base_model}': "
                             f"train it (`gerec base train --model {base_model}`) and run `gerec features materialize`")
        latent = vectors(frame, "item_base_reduced__vector", item_ids, "item_id")
        reduction = str(frame["item_base_reduced__reduction"].dropna().iloc[0])
        if latent.shape[1] != dim - m:
            raise GerecError(f"reduced embeddings of '{base_model}' have width {latent.shape[1]}, but d − m = "
                             f"{dim} − {m} = {dim - m}: re-run `gerec features materialize` without --k")
    scale = _scale(latent) if alpha is None else alpha
    item_norm = Normalizer.fit(guided, normalization, scale)
    info = {"parts": parts, "base_model": base_model, "reduction": reduction, "attributes": guided_manifest(ws)["attributes"],
            "normalization": item_norm.to_dict()}
    if parts == "reduced":
        random = (rng.standard_normal((n_items, m)) * _scale(latent)).astype(np.float32)
        return Refinement(torch.zeros(n_items + 1, 0), _with_padding(np.concatenate([random, latent], axis=1)),
                          None, beta, info)
    user_ids = np.arange(1, n_users + 1)
    users = read_offline(ws, ["user_attributes:vector"], {"user_id": user_ids})
    scored = users.dropna(subset=["vector"])
    user_scores = np.stack(scored["vector"].map(lambda v: np.asarray(v, np.float32)).to_numpy())
    user_norm = Normalizer.fit(user_scores, normalization, scale)
    initial = np.zeros((n_users + 1, m), dtype=np.float32)  # a user the language model never saw starts at 0
    initial[scored["user_id"].to_numpy()] = user_norm.apply(user_scores)
    info["user_normalization"] = user_norm.to_dict()
    return Refinement(_with_padding(item_norm.apply(guided)), _with_padding(latent), torch.from_numpy(initial),
                      beta, info)


def save_user_vectors(model: Any, path: Path) -> None:
    """Parquet (user_id, vector) of the trained user guided vectors ``g_u``."""
    if model.user_guided is None:
        return
    table = model.user_guided.vectors.weight.detach()[1:].numpy().astype(np.float32)
    vectors_ = pa.FixedSizeListArray.from_arrays(pa.array(table.ravel()), table.shape[1])
    with atomic_file(path) as tmp:
        pq.write_table(pa.table({"user_id": np.arange(1, len(table) + 1, dtype=np.int64), "vector": vectors_}), tmp)


def train_refined(ws: Workspace, base_model: str, parts: str = "both", values: dict[str, Any] | None = None,
                  normalization: str = "zscore", alpha: float | None = None, beta: float = 1.0,
                  resume: bool = False, console: Console | None = None, show_progress: bool = True
                  ) -> tuple[TrainResult, Path]:
    """Train ``base_model``'s architecture on refined embeddings read from the store.

    Architecture and training settings start from the base model's (same width, same
    protocol), with ``values`` overriding them.
    """
    base_dir = ws.model_dir("base", base_model)
    if not (base_dir / "config.json").exists():
        raise GerecError(f"no base model '{base_model}' in {ws.root}: run `gerec base train --model {base_model}` first")
    base = read_json(base_dir / "config.json")
    settings = {**base["model"], **{k: v for k, v in base["train"].items()}, **(values or {})}
    settings.pop("model", None)
    model_config, train_config = configs_from(settings, base_model)
    if model_config.dim != base["model"]["dim"] and parts != "guided":
        raise ConfigError(f"dim must stay {base['model']['dim']} (the base model's width) for --parts {parts}")
    refinement = refinement_from_store(ws, base_model, parts, model_config.dim, normalization, alpha, beta,
                                       train_config.seed)
    out_dir = ws.model_dir(PARTS[parts], base_model)
    seqs = Sequences.from_workspace(ws)
    result = train(seqs, model_config, train_config, out_dir, resume=resume, data_files=ws.data_manifest()["files"],
                   console=console, show_progress=show_progress, refinement=refinement)
    save_user_vectors(result.model, out_dir / "user_vectors.parquet")
    return result, out_dir

