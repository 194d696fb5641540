"""Per-attribute normalization of guided scores: ``ĝ = α·norm(g)`` (DESIGN step 4).

Raw attribute scores live on a 1–9 scale whose spread differs per attribute; the refined
table needs them centred and on the scale of the reduced part beside them, or one block
dominates every inner product. The statistics are kept so a later item (cold start) is
normalized exactly like the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gerec.errors import GerecError

METHODS = ("zscore", "minmax")


@dataclass(frozen=True)
class Normalizer:
    method: str  # zscore: (g − mean) / std; minmax: (g − min) / (max − min)
    center: np.ndarray  # (m,)
    scale: np.ndarray  # (m,)
    alpha: float

    @classmethod
    def fit(cls, scores: np.ndarray, method: str = "zscore", alpha: float = 1.0) -> "Normalizer":
        """Statistics per attribute (column) of ``scores`` (n, m)."""
        if method not in METHODS:
            raise GerecError(f"unknown normalization '{method}'; choose {' or '.join(METHODS)}")
        if len(scores) == 0:
            raise GerecError("cannot normalize an empty score table")
        if not np.isfinite(scores).all():
            raise GerecError("guided scores contain NaN or infinite values: re-run `gerec guided score`")
        if method == "zscore":
            center, scale = scores.mean(axis=0), scores.std(axis=0)
        else:
            center, scale = scores.min(axis=0), scores.max(axis=0) - scores.min(axis=0)
        return cls(method, center, np.where(scale > 1e-12, scale, 1.0), float(alpha))

    def apply(self, scores: np.ndarray) -> np.ndarray:
        return (self.alpha * (scores - self.center) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "center": self.center.tolist(), "scale": self.scale.tolist(), "alpha": self.alpha}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Normalizer":
        return cls(d["method"], np.asarray(d["center"]), np.asarray(d["scale"]), float(d["alpha"]))
