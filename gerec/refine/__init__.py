"""Refinement: normalized guided scores joined with reduced base embeddings (DESIGN steps 4–6)."""

from gerec.refine.normalize import Normalizer
from gerec.refine.reduce import REDUCTIONS, Reduction, fit_reduction

__all__ = ["REDUCTIONS", "Normalizer", "Reduction", "fit_reduction"]
