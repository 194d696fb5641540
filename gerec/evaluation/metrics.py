"""Ranking metrics over the full catalogue, computed from the rank of each user's target.

Ranks are pessimistic: an item scoring *equal* to the target counts as ranked above it,
so a model that outputs constants gets ~0, not a lucky rank 1. Scores that are NaN or
infinite are an error: a NaN compares false, so ``#(score > target)`` would silently
count a broken model as a hit at rank 1.
"""

from __future__ import annotations

import torch

from gerec.errors import EvaluationError

KS = (5, 10, 20)
METRICS = ("MRR", "Recall", "NDCG")


def pessimistic_ranks(scores: torch.Tensor, targets: torch.Tensor,
                      exclude: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """0-based rank of each target among the non-excluded items.

    scores: (B, C) one row per user over the catalogue (column 0 is padding, never ranked);
    targets: (B,) column of each user's target; exclude: (rows, cols) of items to leave out
    (the user's earlier items). The target itself is never excluded.
    """
    if scores.dim() != 2 or targets.shape != (scores.shape[0],):
        raise EvaluationError(f"scores must be (B, C) and targets (B,), got {tuple(scores.shape)} and {tuple(targets.shape)}")
    real = scores[:, 1:]
    if not torch.isfinite(real).all():
        n_nan = int(torch.isnan(real).sum())
        n_inf = int(torch.isinf(real).sum())
        raise EvaluationError(f"model produced {n_nan} NaN and {n_inf} infinite scores; refusing to rank them")
    scores = scores.float().clone()  # (B, C)
    rows = torch.arange(scores.shape[0], device=scores.device)
    target_scores = scores[rows, targets]  # (B,)
    scores[:, 0] = float("-inf")
    if exclude is not None:
        scores[exclude[0], exclude[1]] = float("-inf")
    scores[rows, targets] = target_scores
    return (scores >= target_scores[:, None]).sum(dim=1) - 1  # (B,) ties count against the target


def metrics_from_ranks(ranks: torch.Tensor, ks: tuple[int, ...] = KS) -> dict[str, torch.Tensor]:
    """Per-user MRR@K, Recall@K (= HR@K with one target) and NDCG@K from 0-based ranks."""
    ranks = ranks.double()
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        hit = ranks < k
        out[f"MRR@{k}"] = torch.where(hit, 1.0 / (ranks + 1), 0.0)
        out[f"Recall@{k}"] = hit.double()
        out[f"NDCG@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2), 0.0)
    return out


def metric_names(ks: tuple[int, ...] = KS) -> list[str]:
    return [f"{m}@{k}" for k in ks for m in METRICS]
