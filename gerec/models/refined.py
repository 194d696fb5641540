"""Refined embeddings (DESIGN step 6): the item table ``[ĝ ; r]`` and trainable user guided vectors.

The item table is a frozen block (the language model's normalized attribute scores ``ĝ``,
so attributes keep their meaning) beside a trainable block (the base model's reduced
embeddings ``r``, fine-tuned). A user's query gets ``β·g_u`` added on the attribute
dimensions, so the score ``<h_u, e_i> + β·<g_u, ĝ_i>`` stays one inner product
``<q_u, e_i>`` and a maximum-inner-product index returns the model's exact top-k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from gerec.models.sequential import SequentialModel


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

    @property
    def n_frozen(self) -> int:
        return self.frozen.shape[1]

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


@dataclass
class Refinement:
    """Everything that turns a base architecture into a refined one, for real items' rows.

    ``frozen`` (n_items + 1, m_f) and ``trainable`` (n_items + 1, k) with row 0 padding;
    ``users`` (n_users + 1, m) initial user guided vectors or None. ``info`` says how they
    were made (parts, reduction, normalization) and is saved in the model's config.
    """

    frozen: torch.Tensor
    trainable: torch.Tensor
    users: torch.Tensor | None
    beta: float
    info: dict[str, Any] = field(default_factory=dict)

    def apply(self, model: "SequentialModel") -> None:
        """Swap the refined tables into ``model``; rows past the real items (BERT4Rec's mask
        token) get a zero frozen part and a freshly initialized trainable part."""
        extra = model.items.n_rows - self.frozen.shape[0]
        dim = model.config.dim
        frozen = torch.cat([self.frozen, torch.zeros(extra, self.frozen.shape[1])])
        trainable = torch.cat([self.trainable, torch.randn(extra, self.trainable.shape[1]) * dim ** -0.5])
        model.refine(frozen, trainable, self.users, self.beta)

    def meta(self) -> dict[str, Any]:
        return {"frozen_dim": int(self.frozen.shape[1]), "trainable_dim": int(self.trainable.shape[1]),
                "item_rows": int(self.frozen.shape[0]),
                "user_rows": int(self.users.shape[0]) if self.users is not None else 0,
                "user_dim": int(self.users.shape[1]) if self.users is not None else 0,
                "beta": self.beta, **self.info}

    @classmethod
    def shell(cls, meta: dict[str, Any]) -> "Refinement":
        """Zero tensors of the saved shapes: a checkpoint's ``load_state_dict`` fills them."""
        users = torch.zeros(meta["user_rows"], meta["user_dim"]) if meta["user_rows"] else None
        return cls(torch.zeros(meta["item_rows"], meta["frozen_dim"]),
                   torch.zeros(meta["item_rows"], meta["trainable_dim"]), users, meta["beta"])
