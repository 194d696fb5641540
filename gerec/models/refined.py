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

if TYPE_CHECKING:
    from gerec.models.sequential import SequentialModel


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
    # ids of items held out of training (cold): after training, their latent part is mapped from
    # their guided part, because training only ever saw them as negatives
    cold: tuple[int, ...] = ()

    @property
    def widened(self) -> bool:
        """Whether the trainable part is the whole base table (reduction ``none``): the model then
        starts from the whole base model and its table grows by the attribute columns."""
        return bool(self.info.get("widened"))

    def apply(self, model: "SequentialModel") -> None:
        """Swap the refined tables into ``model``; rows past the real items (BERT4Rec's mask
        token) get a zero frozen part and a freshly initialized trainable part — in a widened
        table, zero lead columns beside the model's own row (the base's, after a warm start)."""
        extra = model.items.n_rows - self.frozen.shape[0]
        dim = model.config.dim
        cpu = self.frozen.device  # built on the CPU like the model; refine() moves them to the model
        frozen = torch.cat([self.frozen, torch.zeros(extra, self.frozen.shape[1], device=cpu)])
        if self.widened:
            own = model.items.table().detach().to(cpu)[self.frozen.shape[0]:]  # (extra, d)
            rows = torch.cat([torch.zeros(extra, self.trainable.shape[1] - dim, device=cpu), own], dim=1)
        else:
            rows = torch.randn(extra, self.trainable.shape[1], device=cpu) * dim ** -0.5
        model.refine(frozen, torch.cat([self.trainable, rows]), self.users, self.beta, self.meta())
        if self.info.get("freeze_base"):
            model.freeze_base()

    def meta(self) -> dict[str, Any]:
        return {"frozen_dim": int(self.frozen.shape[1]), "trainable_dim": int(self.trainable.shape[1]),
                "item_rows": int(self.frozen.shape[0]),
                "user_rows": int(self.users.shape[0]) if self.users is not None else 0,
                "user_dim": int(self.users.shape[1]) if self.users is not None else 0,
                "beta": self.beta, **self.info}

    @classmethod
    def shell(cls, meta: dict[str, Any]) -> "Refinement":
        """Zero tensors of the saved shapes, on the CPU like a freshly built model: a checkpoint's
        ``load_state_dict`` fills them."""
        zeros = lambda rows, cols: torch.zeros(rows, cols, device="cpu")  # noqa: E731
        users = zeros(meta["user_rows"], meta["user_dim"]) if meta["user_rows"] else None
        return cls(zeros(meta["item_rows"], meta["frozen_dim"]), zeros(meta["item_rows"], meta["trainable_dim"]),
                   users, meta["beta"], dict(meta))
