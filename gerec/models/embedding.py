"""The item tables every sequential model reads, behind one small interface, and the user
guided vectors of a refined model.

Models never own an ``nn.Embedding`` for items directly: they hold an :class:`ItemTable`,
so refinement can swap in a :class:`FusedItemTable` whose first columns are frozen guided
scores and whose rest is trainable, at the same width ``d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


class FusedItemTable(nn.Module):
    """(n_rows, m_frozen + k) rows ``[frozen ; trainable]``; row 0 is padding (zero, never updated).

    Same interface as :class:`~gerec.models.embedding.ItemTable`, so any sequential model
    runs on it unchanged.
    """

    def __init__(self, frozen: torch.Tensor, trainable: torch.Tensor) -> None:
        super().__init__()
        if frozen.shape[0] != trainable.shape[0]:
            raise ValueError(f"frozen rows {frozen.shape[0]} != trainable rows {trainable.shape[0]}")
        frozen, trainable = frozen.clone().float(), trainable.clone().float()
        frozen[0], trainable[0] = 0.0, 0.0
        self.register_buffer("frozen", frozen)  # (n_rows, m): saved with the weights, never trained
        self.trainable = nn.Parameter(trainable)  # (n_rows, k)

    @property
    def dim(self) -> int:
        return self.frozen.shape[1] + self.trainable.shape[1]

    @property
    def n_rows(self) -> int:
        return self.trainable.shape[0]

    def table(self) -> torch.Tensor:
        return torch.cat([self.frozen, self.trainable], dim=1)  # (n_rows, d)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.table(), padding_idx=0)  # (..., d); no gradient reaches row 0


class UserGuided(nn.Module):
    """Trainable per-user attribute vectors ``g_u`` (initialized from the language model's user
    scores) added, times ``β``, to the first ``m`` dimensions of the query."""

    def __init__(self, initial: torch.Tensor, beta: float) -> None:
        super().__init__()
        self.vectors = nn.Embedding.from_pretrained(initial.clone().float(), freeze=False)  # (n_users + 1, m)
        self.beta = beta

    @property
    def dim(self) -> int:
        return self.vectors.embedding_dim

    def query(self, hidden: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """(..., d) hidden states and (...,) user ids → (..., d) queries ``[h[:m] + β·g_u ; h[m:]]``."""
        m = self.dim
        guided = hidden[..., :m] + self.beta * self.vectors(users)
        return torch.cat([guided, hidden[..., m:]], dim=-1)
