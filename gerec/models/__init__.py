"""Recommenders that score the full catalogue from a user's history."""

from __future__ import annotations

from gerec.errors import GerecError
from gerec.models.popularity import Popularity
from gerec.names import MODELS

__all__ = ["MODELS", "Popularity", "build_model"]


def build_model(config, n_items: int):  # noqa: ANN001, ANN201 - torch types imported lazily
    """The sequential model named by ``config.model`` (a plain mapping, no string lookups via importlib),
    initialized on the CPU whatever the default device: a seed gives the same weights on any
    device, and callers move the model where it runs."""
    import torch

    from gerec.models.bert4rec import BERT4Rec
    from gerec.models.gru4rec import GRU4Rec
    from gerec.models.sasrec import SASRec

    classes = {"gru4rec": GRU4Rec, "sasrec": SASRec, "bert4rec": BERT4Rec}
    if config.model not in classes:
        raise GerecError(f"unknown model '{config.model}'; choose one of: {', '.join(MODELS)}")
    with torch.device("cpu"):
        return classes[config.model](config, n_items)
