"""The item table every sequential model reads, behind one small interface.

Models never own an ``nn.Embedding`` for items directly: they hold an :class:`ItemTable`,
so the refinement stage can swap in a table whose first columns are frozen guided scores
and whose rest is trainable, at the same width ``d``.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemTable(nn.Module):
    """(n_rows, d) item vectors; row 0 is padding (kept at zero)."""

    def __init__(self, n_rows: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_rows, dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    @property
    def dim(self) -> int:
        return self.embedding.embedding_dim

    @property
    def n_rows(self) -> int:
        return self.embedding.num_embeddings

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)  # (..., d)

    def table(self) -> torch.Tensor:
        """All rows, (n_rows, d): the output layer shares these weights."""
        return self.embedding.weight
