"""Recommenders that score the full catalogue from a user's history."""

from __future__ import annotations

from gerec.errors import GerecError
from gerec.models.popularity import Popularity

MODELS = ("gru4rec", "sasrec", "bert4rec")

__all__ = ["MODELS", "Popularity", "build_model"]


def build_model(config, n_items: int):  # noqa: ANN001, ANN201 - torch types imported lazily
    """The sequential model named by ``config.model`` (a plain mapping, no string lookups via importlib)."""
    from gerec.models.bert4rec import BERT4Rec
    from gerec.models.gru4rec import GRU4Rec
    from gerec.models.sasrec import SASRec

    classes = {"gru4rec": GRU4Rec, "sasrec": SASRec, "bert4rec": BERT4Rec}
    if config.model not in classes:
        raise GerecError(f"unknown model '{config.model}'; choose one of: {', '.join(MODELS)}")
    return classes[config.model](config, n_items)
