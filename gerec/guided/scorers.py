"""Which scorer a backend name means: the offline encoder or a prompted causal language model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gerec.errors import GerecError
from gerec.guided.score import TextScorer
from gerec.names import DEFAULT_ENCODER, SCORER_BACKENDS

if TYPE_CHECKING:
    from gerec.guided.causal import CausalScorer
    from gerec.guided.encoder import EncoderScorer


def scorer_class(backend: str, model: str = DEFAULT_ENCODER) -> type[EncoderScorer] | type[CausalScorer]:
    """The class a backend name means, checked against the model id (heavy imports here, not at CLI start-up)."""
    if backend == "encoder":
        from gerec.guided.encoder import EncoderScorer

        return EncoderScorer
    if backend == "causal":
        from gerec.guided.causal import CausalScorer

        if model == DEFAULT_ENCODER:
            raise GerecError("the causal backend needs a model: a causal LM's local path or hub id")
        return CausalScorer
    raise GerecError(f"unknown backend '{backend}'; choose one of: {', '.join(SCORER_BACKENDS)}")


def make_scorer(backend: str, model: str = DEFAULT_ENCODER, generate: bool = False, dtype: str = "",
                batch_size: int = 0, device: str | None = None, adapter: str | None = None) -> TextScorer:
    """The scorer a backend name and model id ask for, loaded."""
    cls = scorer_class(backend, model)
    if backend == "encoder":
        return cls(model, batch_size=batch_size or 512, device=device, adapter=adapter)
    return cls(model, batch_size=batch_size or 8, generate=generate, dtype=dtype or None, device=device, adapter=adapter)
