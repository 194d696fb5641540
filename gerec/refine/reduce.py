"""Reduce the base model's item embeddings to ``k`` dimensions (DESIGN step 5).

Three linear maps ``r = (e − mean) · Wᵀ``, all fit on the base model before refinement, and
one that keeps the table whole:

- ``pca``: scikit-learn PCA of the base item table — keeps the directions along which
  items differ most.
- ``linear``: the rank-k map that best preserves the base model's *scores*. Items matter
  only through ``<q_u, e_i>``, so directions users never query are worth nothing: with
  ``C = E[q qᵀ]`` over the base model's user queries, ``W = U_kᵀ C^{1/2}`` where ``U_k``
  are the top-k left singular vectors of ``C^{1/2} Eᵀ``. It minimizes
  ``‖Q Eᵀ − Q P Eᵀ‖`` over rank-k projections ``P`` (and is exact at ``k = d``).
- ``orthogonal``: PCA of what the guided scores do *not* explain — the base table less its
  least-squares fit on the items' (centred) attribute scores, ``r = (e − mean − (g − ḡ)·B) · Wᵀ``.
  In the refined table the frozen ĝ already carries the attribute directions; this starts the
  trainable part on the rest instead of spending its width on a copy of them (issue 16).
- ``none``: the base table as it is (``k = d``). Each truncation above drops about the same
  share of every item's vector, and a rare item has too few events to win it back: on Beauty,
  Games and Beauty-extended SASRec the reduced-only arm lost 12–28% against base-continued on
  items with 1–4 training events (benchmarks/README.md). With ``none`` the refined model keeps
  the whole base model and widens instead, ``[ĝ (m) ; e (d)]`` (gerec/models/embedding.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gerec.errors import GerecError

REDUCTIONS = ("pca", "linear", "orthogonal", "none")


@dataclass(frozen=True)
class Reduction:
    method: str
    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d)
    explained: float  # share of the criterion kept: item variance (pca), query-weighted energy (linear),
    # or the variance left after the guided fit (orthogonal)
    guided_map: np.ndarray | None = None  # (m, d) least-squares map from centred scores (orthogonal)
    guided_mean: np.ndarray | None = None  # (m,)
    guided_r2: float | None = None  # share of the table's variance the guided scores explain (orthogonal)

    @property
    def k(self) -> int:
        return self.components.shape[0]

    def transform(self, table: np.ndarray, guided: np.ndarray | None = None) -> np.ndarray:
        """(n, d) base embeddings → (n, k) reduced ones; ``orthogonal`` also needs the rows' scores (n, m)."""
        centred = table - self.mean
        if self.guided_map is not None:
            if guided is None or len(guided) != len(table):
                raise GerecError("the 'orthogonal' reduction needs each row's guided scores")
            centred = centred - (guided - self.guided_mean) @ self.guided_map
        return (centred @ self.components.T).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.guided_r2 is None else {"guided_r2": self.guided_r2}
        return {"method": self.method, "k": self.k, "explained": self.explained, **extra}


def fit_reduction(table: np.ndarray, k: int, method: str = "pca", queries: np.ndarray | None = None,
                  seed: int = 42, guided: np.ndarray | None = None) -> Reduction:
    """Fit a ``k``-dimensional reduction of ``table`` (n, d); ``linear`` needs the base ``queries``
    (U, d), ``orthogonal`` the guided scores of the same rows (n, m). ``none`` needs ``k = d``."""
    n, d = table.shape
    if method == "none":
        if k != d:
            raise GerecError(f"the 'none' reduction keeps all d={d} dimensions, not k={k}")
        return Reduction("none", np.zeros(d), np.eye(d), 1.0)
    if not 1 <= k <= min(n, d):
        raise GerecError(f"reduced width k={k} must be between 1 and min(items, base width) = {min(n, d)}")
    if method in ("pca", "orthogonal"):
        from sklearn.decomposition import PCA

        fit: dict[str, Any] = {}
        if method == "orthogonal":
            if guided is None or len(guided) != n:
                raise GerecError("the 'orthogonal' reduction needs the guided scores of the items it is fit on")
            scores = guided - guided.mean(axis=0)
            centred = table - table.mean(axis=0)
            coef = np.linalg.lstsq(scores, centred, rcond=None)[0]  # (m, d)
            rest = centred - scores @ coef
            fit = {"guided_map": coef, "guided_mean": guided.mean(axis=0),
                   "guided_r2": float(1.0 - (rest ** 2).sum() / max((centred ** 2).sum(), 1e-12))}
            table = rest + table.mean(axis=0)  # the PCA's mean stays the table's
        pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(table)
        return Reduction(method, pca.mean_, pca.components_, float(pca.explained_variance_ratio_.sum()), **fit)
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
