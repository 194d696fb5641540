"""Per-attribute calibration of raw scores onto the 1–9 scale.

``score = 1 + 8·Φ((raw − mean) / std)`` with mean and std taken over the population
(the catalogue for items, all users for users): monotonic, so rankings are kept, with
the population's middle at 5 and its tails toward 1 and 9. The parameters are saved in
the manifest so later texts (cold-start items) are scored on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr


@dataclass(frozen=True)
class Calibration:
    mean: np.ndarray  # (m,)
    std: np.ndarray  # (m,)

    @classmethod
    def fit(cls, raw: np.ndarray) -> "Calibration":
        std = raw.std(axis=0)
        return cls(raw.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 + 8.0 * ndtr((raw - self.mean) / self.std)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> "Calibration":
        return cls(np.asarray(d["mean"]), np.asarray(d["std"]))
