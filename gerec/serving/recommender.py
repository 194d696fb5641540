"""A trained model and its FAISS index as one recommender, in the spirit of benfred/implicit.

``recommend(users | histories, N, filter_items=...)`` and ``similar_items(items, N)``
return ``(ids, scores)`` arrays — 1-D for one user or item, 2-D for a batch — and
``explain(user, item)`` splits one score into per-attribute contributions.

For a refined model the score is one inner product ``<q_u, e_i>`` with
``q_u = [h_u[:m] + β·g_u ; h_u[m:]]`` and ``e_i = [ĝ_i ; r_i]``, so it splits exactly into
per-attribute contributions ``q_u[a]·ĝ_i[a]`` and a latent remainder ``<q_u[m:], r_i>``.
A user the model has never seen (a history only) gets ``g_u = 0``: their query is the
sequence encoder's state alone.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gerec.errors import GerecError
from gerec.models.sequential import SequentialModel
from gerec.retrieval.index import ItemIndex

MAX_K = 1000


class RequestError(GerecError):
    """A request that cannot be answered as asked (unknown id, bad k, malformed history)."""

    status = 400


class UnknownItem(RequestError):
    status = 404


class MissingFeatures(RequestError):
    """The feature store lacks what a known user needs: the service's fault, not the request's."""

    status = 503


@dataclass
class Recommender:
    """``model`` (a trained sequential model), ``index`` (built from its item table), item
    ``titles``, ``popular`` item ids (the answer for someone with no history) and ``recent``,
    a reader of a known user's latest items (the feature store's ``user_recent_items``)."""

    model: SequentialModel
    index: ItemIndex
    titles: dict[int, str]
    n_users: int
    popular: np.ndarray
    recent: Callable[[int], list[int] | None] | None = None
    # (stage, seconds) of each feature read, model pass, search and explanation: metrics hook
    observe: Callable[[str, float], None] = field(default=lambda stage, seconds: None, repr=False)

    @contextlib.contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(stage, time.perf_counter() - started)

    @property
    def attributes(self) -> list[str]:
        """Names of the attribute dimensions of every score ([] for a model without a guided part)."""
        return self.model.attributes

    @property
    def m(self) -> int:
        return len(self.attributes)

    # -- the array API ---------------------------------------------------------------------
    def recommend(self, users: int | Sequence[int] | np.ndarray | None = None, N: int = 10, *,
                  histories: Sequence[int] | Sequence[Sequence[int]] | None = None,
                  filter_items: Sequence[int] | None = None, filter_already_liked_items: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``N`` (ids, scores) for known ``users`` (histories from the store) or for
        ``histories`` (item ids, oldest first; with ``users`` too, their guided vectors apply).

        One user or history gives (N,) arrays, a batch (B, N); ids are -1 (score -inf) where
        fewer than N items remain. ``filter_items`` are never returned; nor, by default, the
        items of the user's history.
        """
        single = (histories is None and np.isscalar(users)) or (histories is not None and _is_flat(histories))
        user_list = _as_list(users)
        history_list = [list(histories)] if histories is not None and _is_flat(histories) else (
            [list(h) for h in histories] if histories is not None else None)
        if history_list is not None and user_list is not None and len(user_list) != len(history_list):
            raise RequestError(f"{len(user_list)} users but {len(history_list)} histories")
        if history_list is None and user_list is None:
            raise RequestError("give users or histories")
        n = len(history_list if history_list is not None else user_list)  # type: ignore[arg-type]
        resolved = [self.resolve(user_list[b] if user_list else None, history_list[b] if history_list else None)
                    for b in range(n)]
        ids, scores = self.search([h for h, _ in resolved], [u if known else None for (_, known), u in
                                                             zip(resolved, user_list or [None] * n)],
                                  N, filter_items, filter_already_liked_items)
        return (ids[0], scores[0]) if single else (ids, scores)

    def similar_items(self, items: int | Sequence[int] | np.ndarray, N: int = 10,
                      filter_items: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``N`` items nearest each of ``items`` by the model's inner product (the item
        itself left out): (N,) arrays for one item, (B, N) for several."""
        item_list = _as_list(items) or []
        self.check_k(N)
        self.check_items(item_list)
        queries = self.index.vectors(np.asarray(item_list))
        extra = set(filter_items or [])
        ids, scores = self.find(queries, N, [{i} | extra for i in item_list])
        return (ids[0], scores[0]) if np.isscalar(items) else (ids, scores)

    def explain(self, user: int | None, item: int, history: Sequence[int] | None = None) -> dict[str, Any]:
        """The score of (user or history, item) split into per-attribute contributions and the
        latent remainder (exact: the parts sum to the score)."""
        self.check_items([item])
        if not self.m:
            raise RequestError("explanations need a refined model (its index has no attribute dimensions)")
        stored, known = self.resolve(user, list(history) if history is not None else None)
        query = self.queries([stored], [user if known else None])[0]
        (split,) = self.contributions(query, [item])
        return {"user_id": user, "cold_start": not known, **split}

    # -- the parts ------------------------------------------------------------------------
    def check_k(self, k: int) -> int:
        if not 1 <= k <= min(MAX_K, len(self.index)):
            raise RequestError(f"k must be between 1 and {min(MAX_K, len(self.index))}, got {k}")
        return k

    def check_items(self, items: Sequence[int]) -> Sequence[int]:
        unknown = [i for i in items if int(i) not in self.index]
        if unknown:
            raise UnknownItem(f"unknown item id {unknown[0]}")
        return items

    def known(self, user_id: int | None) -> bool:
        return user_id is not None and 1 <= user_id <= self.n_users

    def history(self, user_id: int) -> list[int] | None:
        """The user's recent items from the online store, or None for a user the dataset does not
        know. A known user the store lacks is an error: never silently treated as a new user."""
        if self.recent is None or not self.known(user_id):
            return None
        with self._timed("feature read"):
            stored = self.recent(user_id)
        if not stored:
            raise MissingFeatures(f"user {user_id} is in the dataset but not in the online feature store: "
                                  "materialize it (`gerec features materialize`)")
        return stored

    def check_store(self) -> None:
        """Raise if the online store cannot answer for a known user (readiness)."""
        if self.recent is not None and self.n_users:
            self.history(1)

    def resolve(self, user_id: int | None, history: list[int] | None) -> tuple[list[int], bool]:
        """(history, known user?): a known user's recent items from the store, or the given
        history — whose user counts as known (their guided vector applies) only with a valid id."""
        if history is None:
            if user_id is None:
                raise RequestError("give a user id or a history")
            stored = self.history(user_id)
            if stored is None:
                raise RequestError(f"unknown user {user_id}: send their history instead")
            return stored, True
        self.check_items(history)
        return history, self.known(user_id)

    def queries(self, histories: list[list[int]], users: list[int | None]) -> np.ndarray:
        """(B, d) query vectors: the model's state after each history, plus ``β·g_u`` for a known user."""
        max_len = int(self.model.config.max_len or 200)
        rows = []
        for history in histories:
            model_items = [i for i in history if i <= self.model.n_items]  # items added later have no model row
            if not model_items:
                raise RequestError("a history needs at least one item known to the model")
            rows.append(model_items[-max_len:])
        width = max(len(r) for r in rows)
        padded = torch.tensor([[0] * (width - len(r)) + r for r in rows], device=self.model.device)  # (B, L) left-padded
        with torch.inference_mode(), self._timed("model"):
            ids = (torch.tensor([u if u is not None else 0 for u in users], device=padded.device)  # row 0: g = 0
                   if self.model.user_guided is not None else None)
            hidden = self.model.user_vectors(padded, ids)  # (B, d): the path evaluation scores with
        return hidden.cpu().numpy().astype(np.float32)

    def search(self, histories: list[list[int]], users: list[int | None], k: int,
               filter_items: Sequence[int] | None = None, filter_history: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
        """(B, k) ids and scores for each (history, user) — one forward pass, one index search."""
        self.check_k(k)
        extra = set(int(i) for i in filter_items or [])
        exclude = [(set(h) if filter_history else set()) | extra for h in histories]
        return self.find(self.queries(histories, users), k, exclude)

    def find(self, queries: np.ndarray, k: int, exclude: list[set[int]],
             include: list[set[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The index search, timed."""
        with self._timed("search"):
            return self.index.search(queries, k, exclude=exclude, include=include)

    def steer(self, query: np.ndarray, weights: dict[str, float]) -> np.ndarray:
        """``query`` shifted along named attributes: ``q[a] += w_a · s`` with ``s`` the mean size of
        the query's attribute coordinates, so ``{"humor": 1}`` about doubles humor's pull and
        ``{"darkness": -1}`` cancels darkness's. Scores stay one inner product, so the
        per-attribute explanation of a steered recommendation is as exact as any other."""
        unknown = [a for a in weights if a not in self.attributes]
        if unknown:
            raise RequestError(f"unknown attribute '{unknown[0]}'; this index explains "
                               f"{', '.join(self.attributes) or 'no attributes'}")
        if not all(math.isfinite(w) and abs(w) <= 100 for w in weights.values()):
            raise RequestError("steering weights must be finite numbers between -100 and 100")
        steered = query.copy()
        scale = float(np.abs(query[: self.m]).mean()) if self.m else 0.0
        for attribute, weight in weights.items():
            steered[self.attributes.index(attribute)] += weight * (scale or 1.0)
        return steered

    def contributions(self, query: np.ndarray, item_ids: list[int]) -> list[dict[str, Any]]:
        """Per-attribute split of ``<q, e_i>`` for each item (exact: parts sum to the score)."""
        with self._timed("explanation"):
            return self._contributions(query, item_ids)

    def _contributions(self, query: np.ndarray, item_ids: list[int]) -> list[dict[str, Any]]:
        vectors = self.index.vectors(np.asarray(item_ids))
        out = []
        for item, vector in zip(item_ids, vectors):
            parts = query[: self.m] * vector[: self.m]
            out.append({"item_id": int(item), "title": self.titles.get(int(item), ""),
                        "score": float(query @ vector),
                        "attributes": {a: float(v) for a, v in zip(self.attributes, parts)},
                        "latent": float(query[self.m:] @ vector[self.m:])})
        return out


def _is_flat(histories: Sequence[Any]) -> bool:
    """True for one history (a flat list of ids), False for a list of histories."""
    return len(histories) == 0 or np.isscalar(histories[0])


def _as_list(values: int | Sequence[int] | np.ndarray | None) -> list[int] | None:
    if values is None:
        return None
    return [int(values)] if np.isscalar(values) else [int(v) for v in values]  # type: ignore[arg-type]
