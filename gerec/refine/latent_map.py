"""The latent part of an item known only by its text: a ridge map from the guided part.

A refined item row is ``[ĝ ; r]``; ``ĝ`` comes from the language model and ``r`` from
training. For an item training never saw as a target (a new item, or one held out as
cold), ``r`` is predicted from ``ĝ`` by a ridge regression fit on the items it did see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from gerec.models.sequential import SequentialModel


def latent_map(model: SequentialModel, ridge: float = 1.0, known: np.ndarray | None = None) -> Any:
    """sklearn Ridge from the frozen guided part to the trainable latent part over the ``known``
    items (ids; default: every item of the catalogue)."""
    from sklearn.linear_model import Ridge

    m = len(model.attributes)
    table = model.catalogue().detach()[1:].cpu().numpy()
    if known is not None:
        table = table[np.asarray(known) - 1]
    return Ridge(alpha=ridge).fit(table[:, :m], table[:, m:])


def map_cold_items(model: SequentialModel, cold: np.ndarray) -> bool:
    """Give a refined model's held-out ``cold`` items (ids) their cold-start latent part, in place:
    predicted from their guided part by the map fit on every other item. Training only ever saw
    a cold item as a negative, so its trained latent row says nothing; its text does. Returns
    whether anything changed (False for a model without a guided part: it cannot know them)."""
    cold = np.asarray(cold, dtype=np.int64)
    if not model.attributes or not cold.size:
        return False
    known = np.setdiff1d(np.arange(1, model.n_items + 1), cold)
    table = model.catalogue().detach().cpu().numpy()
    m = len(model.attributes)
    latent = latent_map(model, known=known).predict(table[cold, :m])
    with torch.no_grad():
        model.items.trainable[torch.from_numpy(cold)] = torch.from_numpy(latent.astype(np.float32)).to(
            model.items.trainable.device)
    return True
