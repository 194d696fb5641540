"""The one evaluation path every model uses: leave-one-out, full catalogue, history excluded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from rich.progress import Progress

from gerec.data.sequences import Sequences
from gerec.evaluation.metrics import KS, metrics_from_ranks, pessimistic_ranks


class Scorer(Protocol):
    """Anything that scores the whole catalogue for a batch of users."""

    def score(self, histories: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """histories: (B, L) item ids, most recent last, left-padded with 0; users: (B,).
        Returns (B, n_items + 1) scores; column 0 (padding) is ignored."""
        ...


@dataclass
class EvalResult:
    """Mean metrics over users, and each user's values (for intervals and significance); the
    0-based pessimistic rank of each user's target, from which every metric follows (the
    compact record a comparison can be rebuilt from)."""

    split: str
    metrics: dict[str, float]
    users: np.ndarray
    per_user: dict[str, np.ndarray] = field(repr=False)
    ranks: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "users": int(len(self.users)), **self.metrics}


def evaluate(model: Scorer, seqs: Sequences, split: str = "test", max_len: int = 200, ks: tuple[int, ...] = KS,
             batch_size: int = 512, users: np.ndarray | None = None, progress: Progress | None = None) -> EvalResult:
    """Rank every item for every user of ``split`` and average MRR/Recall/NDCG@K.

    The model sees the user's last ``max_len`` events before the target; every earlier
    event of the user (not just the last ``max_len``) is excluded from the ranking.
    Memory is bounded by ``batch_size × n_items`` scores. Scoring and ranking run on the
    model's device (``model.device``, else the CPU).
    """
    device = getattr(model, "device", torch.device("cpu"))
    users = seqs.users if users is None else np.asarray(users)
    users = users[seqs.lengths(users) >= seqs.cut(split) + 1]  # a target and at least one earlier event
    ranks = torch.empty(len(users), dtype=torch.long, device="cpu")  # gathered on the host, whatever the model's device
    task = progress.add_task(f"evaluate {split}", total=len(users)) if progress else None
    with torch.inference_mode():
        for start in range(0, len(users), batch_size):
            batch = users[start:start + batch_size]
            hp, hist_items = seqs.histories(batch, split)
            rows = np.repeat(np.arange(len(batch)), np.diff(hp))
            scores = model.score(torch.from_numpy(seqs.padded(batch, split, max_len)).to(device),
                                 torch.from_numpy(batch).to(device))
            ranks[start:start + len(batch)] = pessimistic_ranks(
                scores, torch.from_numpy(seqs.targets(batch, split)).to(device),
                exclude=(torch.from_numpy(rows).to(device), torch.from_numpy(hist_items).to(device)),
            ).cpu()
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
    per_user = {name: values.numpy() for name, values in metrics_from_ranks(ranks, ks).items()}
    means = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}
    return EvalResult(split, means, users, per_user, ranks.numpy())
