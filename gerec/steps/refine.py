"""Refined-model verb: assemble the refined tables from the feature store and train on them.

``variant`` selects what the item table is made of, always at the base model's width
``d`` (so every variant has the same capacity and the comparison is fair) — or, when the
store holds the whole base table (reduction ``none``), at ``m + d``: the base table kept beside
the m attribute columns, and the whole base model as the start (its base-continued arm is then
the control with the same start, the same encoder and the same item rows, less the columns):

- ``refined`` (the method): ``[ĝ (m, frozen) ; r (d − m, trainable)]`` plus user vectors ``β·g_u``;
- ``reduced`` (ablation, no language model): ``[z (m, trainable, random) ; r (d − m, trainable)]``;
- ``guided`` (ablation, no base model): ``[ĝ (m, frozen) ; z (d − m, trainable, random)]`` plus ``β·g_u``;
- ``shuffled`` (control): as ``refined``, with the item scores permuted across items and the user
  scores across users — if it matches ``refined``, the language model's *content* is not the reason;
- ``nouser`` (control): as ``refined`` with no user guided term (β = 0): what the user vectors add;
- ``metadata`` (control): as ``refined``, with the catalogue's own genres/categories in the m
  attribute slots (:mod:`gerec.refine.metadata`) — what the language model adds beyond them.

``reduced`` differs from ``refined`` only in what fills the attribute dimensions, so the
gap between them is what the language model adds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from rich.console import Console

from gerec.artifacts import read_json
from gerec.config import ConfigError, check
from gerec.errors import GerecError
from gerec.features.store import read_offline, vectors
from gerec.models.refined import Refinement
from gerec.names import REFINED_VARIANTS
from gerec.refine.metadata import category_onehots, history_profiles, metadata_scores
from gerec.refine.normalize import Normalizer
from gerec.steps.data import cold_items, sequences
from gerec.training import TrainResult, configs_from, replica_settings, train
from gerec.workspace import Workspace


def _scale(block: np.ndarray) -> float:
    return float(np.sqrt(np.mean(block.astype(np.float64) ** 2))) if block.size else 1.0


def _with_padding(rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([np.zeros((1, rows.shape[1]), np.float32), rows.astype(np.float32)]))


def _check_variant(variant: str) -> None:
    if variant not in REFINED_VARIANTS:
        raise ConfigError(f"unknown variant '{variant}'; choose one of: {', '.join(REFINED_VARIANTS)}")


def refinement_from_store(ws: Workspace, base_model: str, variant: str = "refined", dim: int = 64,
                          normalization: str = "zscore", alpha: float | None = None, beta: float = 1.0,
                          seed: int = 42, profile_decay: float = 0.0, learn_scales: bool = False,
                          freeze_base: bool = False) -> Refinement:
    """Read item and user features from the Feast store and assemble the refined tables.

    ``alpha`` None: the guided block gets the same RMS as the trainable block beside it,
    so neither dominates the inner products at the start of training.
    """
    _check_variant(variant)
    check("profile_decay", profile_decay, 0, 1, high_open=True)
    manifest = ws.data_manifest()
    n_items, n_users = manifest["final"]["items"], manifest["final"]["users"]
    item_ids = np.arange(1, n_items + 1)
    frame = read_offline(ws, ["item_attributes:vector", "item_base_reduced:vector", "item_base_reduced:reduction"],
                         {"item_id": item_ids, "base_model": [base_model] * n_items}, full_names=True)
    guided = vectors(frame, "item_attributes__vector", item_ids, "item_id")  # (n, m) scores 1–9
    m = guided.shape[1]
    rng = np.random.default_rng(seed)
    cold = cold_items(ws)
    warm = np.ones(n_items, dtype=bool)
    warm[cold - 1] = False  # statistics of the items training sees, never of held-out ones
    attributes = ws.guided_manifest()["attributes"]
    if variant == "shuffled":
        guided = guided[rng.permutation(n_items)]  # every item gets another item's scores
    if variant == "metadata":  # the catalogue's categories in the same m slots (gerec/refine/metadata.py)
        categories = pq.read_table(ws.items_path, columns=["item_id", "categories"]).sort_by("item_id")
        onehots, names = category_onehots(categories["categories"].to_pylist())
        guided, attributes = metadata_scores(onehots, names, m, warm, seed)
    if variant == "guided":
        latent = (rng.standard_normal((n_items, dim - m)) * dim ** -0.5).astype(np.float32)
        reduction = "none (random latent part)"
    else:
        if frame["item_base_reduced__vector"].isna().all():
            raise GerecError(f"the feature store has no reduced embeddings of base model '{base_model}': "
                             f"train it and materialize the store (`gerec base train --model {base_model}`, "
                             "`gerec features materialize`)")
        latent = vectors(frame, "item_base_reduced__vector", item_ids, "item_id")
        reduction = str(frame["item_base_reduced__reduction"].dropna().iloc[0])
        if latent.shape[1] not in (dim - m, dim):
            raise GerecError(f"reduced embeddings of '{base_model}' have width {latent.shape[1]}, but d − m = "
                             f"{dim} − {m} = {dim - m} (or d for the 'none' reduction): materialize the store "
                             "again with the default width k")
    scale = _scale(latent[warm]) if alpha is None else alpha
    item_norm = Normalizer.fit(guided[warm], normalization, scale)
    info = {"variant": variant, "base_model": base_model, "reduction": reduction,
            "attributes": attributes, "normalization": item_norm.to_dict(),
            "profile_decay": profile_decay, "learn_scales": learn_scales, "widened": latent.shape[1] == dim}
    if freeze_base:
        if not info["widened"]:
            raise GerecError("freeze_base keeps the whole base model as trained, so it needs the whole base table "
                             "in the store: materialize it with --reduction none (a reduced table trains a fresh "
                             "encoder, which cannot be frozen)")
        info["freeze_base"] = True  # only when set: the config of a model trained without it is unchanged
    if variant == "reduced":
        random = (rng.standard_normal((n_items, m)) * _scale(latent[warm])).astype(np.float32)
        return Refinement(torch.zeros(n_items + 1, 0), _with_padding(np.concatenate([random, latent], axis=1)),
                          None, beta, info)  # no guided part: nothing to rank cold items by
    if variant == "nouser":
        return Refinement(_with_padding(item_norm.apply(guided)), _with_padding(latent), None, 0.0, info,
                          tuple(cold.tolist()))
    if variant == "metadata":  # profiled from the same recent items as the language model's user texts
        rows, user_scores = history_profiles(sequences(ws), guided, ws.guided_manifest()["recent_items_per_user"])
    else:
        users = read_offline(ws, ["user_attributes:vector"], {"user_id": np.arange(1, n_users + 1)})
        scored = users.dropna(subset=["vector"])
        user_scores = np.stack(scored["vector"].map(lambda v: np.asarray(v, np.float32)).to_numpy())
        rows = scored["user_id"].to_numpy()
    user_norm = Normalizer.fit(user_scores, normalization, scale)
    initial = np.zeros((n_users + 1, m), dtype=np.float32)  # a user the language model never saw starts at 0
    initial[rng.permutation(rows) if variant == "shuffled" else rows] = user_norm.apply(user_scores)
    info["user_normalization"] = user_norm.to_dict()
    return Refinement(_with_padding(item_norm.apply(guided)), _with_padding(latent), torch.from_numpy(initial),
                      beta, info, tuple(cold.tolist()))


def train_refined(ws: Workspace, base_model: str, variant: str = "refined", settings: dict[str, Any] | None = None,
                  normalization: str = "zscore", alpha: float | None = None, beta: float = 1.0,
                  resume: bool = False, device: str | None = None, console: Console | None = None,
                  show_progress: bool = True, profile_decay: float = 0.0, learn_scales: bool = False,
                  freeze_base: bool = False) -> TrainResult:
    """Train ``base_model``'s architecture on a refined table read from the store, into
    ``models/<variant>-<base_model>``.

    Architecture and training settings start from the base model's (same width, same
    protocol), with ``settings`` overriding them. Options of the method (issue 16):
    ``profile_decay`` > 0 adds, at every position, the recency-weighted (decay per step)
    attribute profile of the items so far to the query; ``learn_scales`` learns a positive
    weight per attribute column and β; ``freeze_base`` (reduction ``none`` only) trains only the
    parts the refinement adds to the whole base model, which stays exactly as trained.
    """
    _check_variant(variant)
    base_dir = ws.model_dir("base", base_model)
    if not (base_dir / "config.json").exists():
        raise GerecError(f"no base model '{base_model}' in {ws.root}: train it first "
                         f"(`gerec base train --model {base_model}`)")
    architecture, settings = replica_settings(base_model, settings, inherit_seed=True)
    base = read_json(base_dir / "config.json")
    merged = {**base["model"], **base["train"], **settings}
    merged.pop("model", None)
    model_config, train_config = configs_from(merged, architecture)
    if model_config.dim != base["model"]["dim"] and variant != "guided":
        raise ConfigError(f"dim must stay {base['model']['dim']} (the base model's width) for variant {variant}")
    if freeze_base and train_config.weight_decay:
        raise ConfigError("freeze_base needs weight_decay=0: Adam's L2 term would move the frozen base columns")
    refinement = refinement_from_store(ws, base_model, variant, model_config.dim, normalization, alpha, beta,
                                       train_config.seed, profile_decay, learn_scales, freeze_base)
    return train(sequences(ws), model_config, train_config, ws.model_dir(variant, base_model), resume=resume,
                 data_files=ws.data_manifest()["files"], console=console, show_progress=show_progress,
                 refinement=refinement, device=device, init=base_dir if refinement.widened else None)
