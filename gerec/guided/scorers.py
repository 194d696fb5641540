"""Which scorer a backend name means: the offline encoder or a prompted causal language model."""

from __future__ import annotations

from gerec.errors import GerecError
from gerec.guided.score import TextScorer


def make_scorer(backend: str, model: str, generate: bool = False, dtype: str = "", batch_size: int = 0) -> TextScorer:
    """The scorer a backend name and model id ask for (heavy imports here, not at CLI start-up)."""
    if backend == "encoder":
        from gerec.guided.encoder import EncoderScorer

        return EncoderScorer(model, batch_size=batch_size or 512)
    if backend == "causal":
        from gerec.guided.causal import CausalScorer

        if model == "all-MiniLM-L6-v2":
            raise GerecError("the causal backend needs a model: a causal LM's local path or hub id")
        return CausalScorer(model, batch_size=batch_size or 8, generate=generate, dtype=dtype or None)
    raise GerecError(f"unknown backend '{backend}'; choose encoder or causal")
