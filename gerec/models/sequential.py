"""What GRU4Rec, SASRec and BERT4Rec share: the item table, the loss, and scoring.

A model only defines ``encode(inputs) -> (B, L, d)`` hidden states and, for BERT4Rec, how
training inputs and inference inputs are built. Scores are inner products of a hidden
state with the item table; the loss is cross-entropy over the full catalogue at every
target position of a window (or sampled softmax with uniform negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gerec.config import ConfigError, check, choice
from gerec.models.embedding import FusedItemTable, ItemTable, UserGuided
from gerec.names import MODELS


@dataclass
class ModelConfig:
    """Architecture of a sequential recommender (defaults follow the published setups)."""

    model: str = "sasrec"  # gru4rec | sasrec | bert4rec
    dim: int = 64  # embedding width d, shared by the item table and hidden states
    max_len: int | None = None  # events a model sees; None: 200 for MovieLens-like data (median length >= 50), else 50
    layers: int = 2  # transformer blocks or GRU layers
    heads: int = 2  # attention heads (transformers)
    dropout: float = 0.2
    mask_prob: float = 0.2  # BERT4Rec: share of positions hidden in cloze training
    loss: str = "ce"  # ce: softmax over all items; sampled: softmax over target + n_negatives uniform items
    n_negatives: int = 256  # for loss=sampled

    def __post_init__(self) -> None:
        choice("model", self.model, MODELS)
        check("dim", self.dim, 1)
        if self.max_len is not None:
            check("max_len", self.max_len, 2)
        check("layers", self.layers, 1)
        check("heads", self.heads, 1)
        if self.model != "gru4rec" and self.dim % self.heads:
            raise ConfigError(f"'heads' ({self.heads}) must divide 'dim' ({self.dim})")
        check("dropout", self.dropout, 0, 1, high_open=True)
        check("mask_prob", self.mask_prob, 0, 1, low_open=True, high_open=True)
        choice("loss", self.loss, ("ce", "sampled"))
        check("n_negatives", self.n_negatives, 1)


class SequentialModel(nn.Module):
    """Base class: subclasses implement :meth:`encode`."""

    causal: bool = True  # predicts the next item at every position (BERT4Rec: False)

    def __init__(self, config: ModelConfig, n_items: int) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        self.items: ItemTable | FusedItemTable = ItemTable(n_items + 1 + (0 if self.causal else 1), config.dim)
        self.user_guided: UserGuided | None = None  # refined models: β·g_u added to the query
        self.refinement: dict[str, Any] | None = None  # how a refined table was made (None: a base model)

    def refine(self, frozen: torch.Tensor, trainable: torch.Tensor, users: torch.Tensor | None, beta: float,
               info: dict[str, Any]) -> None:
        """Swap in a refined item table ``[frozen ; trainable]`` (rows as the current table) and,
        with ``users`` (n_users + 1, m), trainable user guided vectors; ``info`` says how they
        were made (parts, attributes, normalization) and is what :attr:`attributes` reads."""
        if frozen.shape[1] + trainable.shape[1] != self.config.dim:
            raise ValueError(f"refined width {frozen.shape[1]} + {trainable.shape[1]} != model dim {self.config.dim}")
        device = self.items.table().device
        self.items = FusedItemTable(frozen, trainable).to(device)
        self.user_guided = UserGuided(users, beta).to(device) if users is not None else None
        self.refinement = info

    @property
    def is_refined(self) -> bool:
        """True for a model trained on a refined item table (any ``parts``)."""
        return self.refinement is not None

    @property
    def attributes(self) -> list[str]:
        """Names of the frozen guided dimensions, in table order ([] when there are none):
        the one answer to "which dimensions of a score are attributes?"."""
        if not self.refinement or not self.refinement.get("frozen_dim"):
            return []
        return list(self.refinement["attributes"])[: self.refinement["frozen_dim"]]

    @property
    def device(self) -> torch.device:
        return self.items.table().device

    def query(self, hidden: torch.Tensor, users: torch.Tensor | None) -> torch.Tensor:
        """The vector scored against item rows: the hidden state, plus ``β·g_u`` in a refined model."""
        if self.user_guided is None:
            return hidden
        if users is None:
            raise ValueError("a refined model with user vectors needs the user ids")
        return self.user_guided.query(hidden, users)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, L) item ids, left-padded with 0 → (B, L, d) hidden states."""
        raise NotImplementedError

    def training_pair(self, window: torch.Tensor, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, max_len + 1) window → (inputs, targets), each (B, max_len); target 0 = no loss."""
        return window[:, :-1], window[:, 1:]

    def query_inputs(self, histories: torch.Tensor) -> torch.Tensor:
        """What the encoder reads at inference to predict the item after ``histories``."""
        return histories[:, -self.config.max_len:]

    def catalogue(self) -> torch.Tensor:
        """(n_items + 1, d): rows of real items and padding (never a mask token)."""
        return self.items.table()[: self.n_items + 1]

    def forward(self, window: torch.Tensor, generator: torch.Generator | None = None,
                users: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training step over (B, max_len + 1) windows of users (B,): returns (logits at target positions, loss)."""
        inputs, targets = self.training_pair(window, generator)
        hidden = self.encode(inputs)  # (B, L, d)
        keep = (targets > 0) & (inputs > 0)  # a target after padding has no history to predict from
        y = targets[keep]  # (T,)
        h = self.query(hidden[keep], users[:, None].expand_as(keep)[keep] if users is not None else None)  # (T, d)
        table = self.catalogue()
        if self.config.loss == "sampled":
            negatives = torch.randint(1, self.n_items + 1, (self.config.n_negatives,), generator=generator,
                                      device="cpu").to(h.device)  # the CPU generator: same draws on any device
            pos = (h * table[y]).sum(-1, keepdim=True)  # (T, 1)
            neg = h @ table[negatives].T  # (T, N)
            neg = neg.masked_fill(negatives[None, :] == y[:, None], float("-inf"))  # accidental hits
            logits = torch.cat([pos, neg], dim=1)
            return logits, F.cross_entropy(logits, torch.zeros_like(y))
        logits = h @ table.T  # (T, n_items + 1)
        logits[:, 0] = float("-inf")  # padding is never a target
        return logits, F.cross_entropy(logits, y)

    def user_vectors(self, histories: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) histories (and (B,) user ids) → (B, d) query vectors: what predicts the next item."""
        return self.query(self.encode(self.query_inputs(histories))[:, -1], users)

    def score(self, histories: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """(B, n_items + 1) scores of every item as the next one (evaluation interface)."""
        return self.user_vectors(histories, users) @ self.catalogue().T
