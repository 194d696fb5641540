"""The item tables every sequential model reads, behind one small interface, and the user
guided vectors of a refined model.

Models never own an ``nn.Embedding`` for items directly: they hold an :class:`ItemTable`,
so refinement can swap in a :class:`FusedItemTable` whose first columns are frozen guided
scores and whose rest is trainable, at the same width ``d``.
"""

from __future__ import annotations

import numpy as np
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
    runs on it unchanged. Usually the rows are as wide as the encoder (m_frozen + k = d). A
    *widened* table (``width`` = d given, m_frozen + k = d + lead: the whole base table beside
    the scores, reduction ``none``) feeds the encoder its last d columns plus a learned map of
    the ``lead`` ones, zero at the start, so a widened model starts as the base model it came
    from; scores use every column, against a query widened to match (SequentialModel.query).
    """

    def __init__(self, frozen: torch.Tensor, trainable: torch.Tensor, learn_scales: bool = False,
                 width: int | None = None) -> None:
        super().__init__()
        if frozen.shape[0] != trainable.shape[0]:
            raise ValueError(f"frozen rows {frozen.shape[0]} != trainable rows {trainable.shape[0]}")
        frozen, trainable = frozen.clone().float(), trainable.clone().float()
        frozen[0], trainable[0] = 0.0, 0.0
        self.register_buffer("frozen", frozen)  # (n_rows, m): saved with the weights, never trained
        self.trainable = nn.Parameter(trainable)  # (n_rows, k)
        # learn_scales: one positive weight per attribute column, exp(log_scale) (starts at 1): what
        # the model makes of each attribute, readable as its importance; the scores stay the LM's
        self.log_scales = nn.Parameter(torch.zeros(frozen.shape[1])) if learn_scales else None
        lead = self.dim - width if width is not None else 0
        if lead < 0:
            raise ValueError(f"a widened table needs more than the encoder's {width} columns, not {self.dim}")
        self.adapter = nn.Parameter(torch.zeros(width, lead)) if lead else None  # (d, lead): lead columns → input

    def scales(self) -> torch.Tensor:
        """(m,) the positive per-attribute weights (ones when not learned)."""
        if self.log_scales is None:
            return torch.ones(self.frozen.shape[1], device=self.frozen.device)
        return self.log_scales.exp()

    def guided(self) -> torch.Tensor:
        """(n_rows, m) the attribute columns as scored: the frozen scores times their weights."""
        return self.frozen if self.log_scales is None else self.frozen * self.log_scales.exp()

    @property
    def dim(self) -> int:
        return self.frozen.shape[1] + self.trainable.shape[1]

    @property
    def n_rows(self) -> int:
        return self.trainable.shape[0]

    def table(self) -> torch.Tensor:
        return torch.cat([self.guided(), self.trainable], dim=1)  # (n_rows, m + k): d, or wider when widened

    @property
    def lead(self) -> int:
        """Columns beyond the encoder's width (0 unless widened)."""
        return 0 if self.adapter is None else self.adapter.shape[1]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        table = self.table()
        if self.adapter is not None:
            table = table[:, self.lead:] + table[:, :self.lead] @ self.adapter.T  # (n_rows, d)
        return F.embedding(ids, table, padding_idx=0)  # (..., d); no gradient reaches row 0


class HistoryProfile(nn.Module):
    """A user's profile in the items' own attribute space, position by position: the
    recency-weighted mean of the guided rows of the items *before and at* each position
    (never a later one, so never the target), added with a learned positive weight to the
    query's attribute dimensions. Unlike a static LM profile of the user, it follows the
    history as it grows and speaks the items' language (one calibration, one normalization)."""

    def __init__(self, decay: float, n_items: int) -> None:
        super().__init__()
        self.decay = decay
        self.n_items = n_items
        self.log_weight = nn.Parameter(torch.zeros(()))  # weight exp(·), starts at 1

    def forward(self, inputs: torch.Tensor, guided: torch.Tensor) -> torch.Tensor:
        """(B, L) item ids (0 padding; ids above n_items, e.g. a mask token, are skipped) and the
        (n_rows, m) guided rows → (B, L, m) profiles (zero where nothing came before)."""
        length = inputs.shape[1]
        steps = torch.arange(length, device=inputs.device)
        lag = (steps[:, None] - steps[None, :]).float()  # (L, L): t − s
        weights = torch.where(lag >= 0, self.decay ** lag.clamp(min=0), torch.zeros_like(lag))  # s <= t only
        known = ((inputs > 0) & (inputs <= self.n_items)).float()  # (B, L)
        rows = guided[inputs] * known[..., None]  # (B, L, m)
        total = weights @ rows  # (B, L, m): Σ_s≤t decay^(t−s) ĝ_s
        mass = (weights @ known[..., None]).clamp(min=1e-12)  # (B, L, 1)
        return self.log_weight.exp() * total / mass


class UserGuided(nn.Module):
    """Trainable per-user attribute vectors ``g_u`` (initialized from the language model's user
    scores) added, times ``β``, to the first ``m`` dimensions of the query."""

    def __init__(self, initial: torch.Tensor, beta: float, learn_beta: bool = False) -> None:
        super().__init__()
        self.vectors = nn.Embedding.from_pretrained(initial.clone().float(), freeze=False)  # (n_users + 1, m)
        self.beta = beta
        # learn_beta: β = exp(log_beta), positive, starting at the given β
        self.log_beta = nn.Parameter(torch.tensor(float(np.log(beta)))) if learn_beta and beta > 0 else None

    def weight(self) -> torch.Tensor | float:
        return self.beta if self.log_beta is None else self.log_beta.exp()

    @property
    def dim(self) -> int:
        return self.vectors.embedding_dim

    def query(self, hidden: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """(..., d) hidden states and (...,) user ids → (..., d) queries ``[h[:m] + β·g_u ; h[m:]]``."""
        m = self.dim
        guided = hidden[..., :m] + self.weight() * self.vectors(users)
        return torch.cat([guided, hidden[..., m:]], dim=-1)
