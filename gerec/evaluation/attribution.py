"""How much of a refined model's recommendations the attributes explain.

For each user's top-k list (full catalogue, history excluded), each score splits exactly
into attribute contributions ``q[a]·ĝ_i[a]`` and a latent remainder ``<q[m:], r_i>``. The
*attribute share* of a score is ``|Σ_a q[a]ĝ_i[a]| / (|Σ_a q[a]ĝ_i[a]| + |latent|)``
(PROTOCOL.md); the report gives its mean over every top-k item, and each attribute's
importance as its mean absolute contribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gerec.data.sequences import Sequences
from gerec.models.sequential import SequentialModel


def attribute_shares(model: SequentialModel, seqs: Sequences, split: str = "test", k: int = 10,
                     batch_size: int = 512) -> dict[str, Any] | None:
    """Mean attribute share of top-``k`` scores and per-attribute importance (None: no attributes)."""
    m = len(model.attributes)
    if not m:
        return None
    users = seqs.users[seqs.lengths(seqs.users) >= seqs.cut(split) + 1]
    table = model.catalogue().detach()  # (C, d)
    shares, importance = [], []
    with torch.inference_mode():
        for start in range(0, len(users), batch_size):
            batch = users[start:start + batch_size]
            histories = torch.from_numpy(seqs.padded(batch, split, int(model.config.max_len))).to(model.device)
            q = model.user_vectors(histories, torch.from_numpy(batch).to(model.device))  # (B, d)
            scores = q @ table.T  # (B, C)
            scores[:, 0] = float("-inf")
            hp, seen = seqs.histories(batch, split)
            rows = np.repeat(np.arange(len(batch)), np.diff(hp))
            scores[torch.from_numpy(rows).to(scores.device), torch.from_numpy(seen).to(scores.device)] = float("-inf")
            top = scores.topk(min(k, scores.shape[1] - 1), dim=1).indices  # (B, k)
            e = table[top]  # (B, k, d)
            parts = q[:, None, :m] * e[..., :m]  # (B, k, m) per-attribute contributions
            attr = parts.sum(-1).abs()
            latent = (q[:, None, m:] * e[..., m:]).sum(-1).abs()
            shares.append((attr / (attr + latent).clamp(min=1e-12)).flatten().cpu())
            importance.append(parts.abs().reshape(-1, m).cpu())
    share = torch.cat(shares)
    per_attribute = torch.cat(importance).mean(0)
    out = {"k": k, "mean_share": float(share.mean()), "median_share": float(share.median()),
           "importance": dict(zip(model.attributes, (float(v) for v in per_attribute)))}
    if getattr(model.items, "log_scales", None) is not None:  # learned per-attribute weights (--learn-scales)
        out["learned_scales"] = dict(zip(model.attributes, (float(v) for v in model.items.scales().detach())))
    return out
