"""Reduce the base model's item embeddings to ``k`` dimensions (DESIGN step 5).

Two linear maps ``r = (e − mean) · Wᵀ``, both fit on the base model before refinement:

- ``pca``: scikit-learn PCA of the base item table — keeps the directions along which
  items differ most.
- ``linear``: the rank-k map that best preserves the base model's *scores*. Items matter
  only through ``<q_u, e_i>``, so directions users never query are worth nothing: with
  ``C = E[q qᵀ]`` over the base model's user queries, ``W = U_kᵀ C^{1/2}`` where ``U_k``
  are the top-k left singular vectors of ``C^{1/2} Eᵀ``. It minimizes
  ``‖Q Eᵀ − Q P Eᵀ‖`` over rank-k projections ``P`` (and is exact at ``k = d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gerec.errors import GerecError

REDUCTIONS = ("pca", "linear")


@dataclass(frozen=True)
class Reduction:
    method: str
    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d)
    explained: float  # share of the criterion kept: item variance (pca) or query-weighted energy (linear)

    @property
    def k(self) -> int:
        return self.components.shape[0]

    def transform(self, table: np.ndarray) -> np.ndarray:
        """(n, d) base embeddings → (n, k) reduced ones."""
        return ((table - self.mean) @ self.components.T).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "k": self.k, "explained": self.explained}


def fit_reduction(table: np.ndarray, k: int, method: str = "pca", queries: np.ndarray | None = None,
                  seed: int = 42) -> Reduction:
    """Fit a ``k``-dimensional reduction of ``table`` (n, d); ``linear`` needs the base ``queries`` (U, d)."""
    n, d = table.shape
    if not 1 <= k <= min(n, d):
        raise GerecError(f"reduced width k={k} must be between 1 and min(items, base width) = {min(n, d)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(table)
        return Reduction("pca", pca.mean_, pca.components_, float(pca.explained_variance_ratio_.sum()))
    if method == "linear":
        if queries is None or len(queries) == 0:
            raise GerecError("the 'linear' reduction needs the base model's user queries")
        cov = queries.T @ queries / len(queries)  # (d, d)
        vals, vecs = np.linalg.eigh(cov)
        root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T  # C^{1/2}
        weighted = root @ table.T  # (d, n)
        energy, left = np.linalg.eigh(weighted @ weighted.T)  # left singular vectors of C^{1/2} Eᵀ
        order = np.argsort(energy)[::-1]
        top = left[:, order[:k]]  # (d, k)
        kept = float(energy[order[:k]].sum() / max(energy.sum(), 1e-12))
        return Reduction("linear", np.zeros(d), top.T @ root, kept)
    raise GerecError(f"unknown reduction '{method}'; choose {' or '.join(REDUCTIONS)}")
