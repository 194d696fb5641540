"""Most-popular baseline: the floor every sequential model in a results table must clear."""

from __future__ import annotations

import numpy as np
import torch

from gerec.data.sequences import Sequences


class Popularity:
    """Scores each item by how often it occurs in the train split (same list for every user)."""

    def __init__(self, counts: torch.Tensor) -> None:
        self.counts = counts.float()  # (n_items + 1,)

    @classmethod
    def fit(cls, seqs: Sequences) -> "Popularity":
        _, train = seqs.train_items()
        return cls(torch.from_numpy(np.bincount(train, minlength=seqs.n_items + 1)))

    def score(self, histories: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        return self.counts.to(histories.device).expand(histories.shape[0], -1)  # (B, n_items + 1)

    def top(self, k: int) -> np.ndarray:
        """The ``k`` most frequent item ids, ties by id: the answer for someone with no history."""
        counts = self.counts[1:].numpy()
        order = np.lexsort((np.arange(len(counts)), -counts))  # by count descending, then id
        return order[:k] + 1
