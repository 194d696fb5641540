"""Recommendations with reasons: a trained model's query vector, the FAISS index, the feature store.

For a refined model the score is one inner product ``<q_u, e_i>`` with
``q_u = [h_u[:m] + β·g_u ; h_u[m:]]`` and ``e_i = [ĝ_i ; r_i]``, so it splits exactly into
per-attribute contributions ``q_u[a]·ĝ_i[a]`` and a latent remainder ``<q_u[m:], r_i>``.
A user the model has never seen (a history only) gets ``g_u = 0``: their query is the
sequence encoder's state alone, and answers carry ``cold_start: true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq
import torch

from gerec.errors import GerecError
from gerec.retrieval.index import ItemIndex, load_index
from gerec.workspace import Workspace

MAX_K = 1000


class RequestError(GerecError):
    """A request that cannot be answered as asked (unknown id, bad k, malformed history)."""

    status = 400


class UnknownItem(RequestError):
    status = 404


def index_dir(ws: Workspace, name: str) -> Path:
    return ws.root / "indexes" / name


@dataclass
class Recommender:
    model: Any  # a trained SequentialModel
    index: ItemIndex
    titles: dict[int, str]
    attributes: list[str]  # names of the first m dimensions ([] for a model without a guided part)
    n_users: int
    popular: list[int]  # item ids by train-split popularity: the answer for a user with no history at all
    recent: Any = None  # callable user_id -> list[int] | None (the feature store's user_recent_items)

    @property
    def m(self) -> int:
        return len(self.attributes)

    @classmethod
    def load(cls, ws: Workspace, index: str = "refined-sasrec", with_store: bool = True) -> "Recommender":
        """The model an index was built from, the index (verified), titles and the online store."""
        from gerec.training import load_checkpoint

        folder = index_dir(ws, index)
        loaded = load_index(folder)
        model_dir = Path(loaded.manifest["source"]["model_dir"])
        model = load_checkpoint(model_dir)
        if loaded.dim != model.config.dim:
            raise GerecError(f"index {folder} has width {loaded.dim}, model {model_dir} {model.config.dim}: rebuild it")
        refine = getattr(model.items, "n_frozen", 0)
        attributes = list(loaded.manifest["source"].get("attributes", []))[:refine] if refine else []
        titles_table = pq.read_table(folder / "items.parquet")
        titles = dict(zip(titles_table["item_id"].to_pylist(), titles_table["title"].to_pylist()))
        recent = _store_history(ws) if with_store else None
        n_users = ws.data_manifest()["final"]["users"]
        popular = duckdb.sql(f"""SELECT item_id FROM read_parquet('{ws.interactions_path}') WHERE split = 'train'
                                 GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT {MAX_K}""").fetchnumpy()["item_id"]
        return cls(model, loaded, titles, attributes, n_users, [int(i) for i in popular], recent)

    # -- queries -------------------------------------------------------------------------
    def check_k(self, k: int) -> int:
        if not 1 <= k <= min(MAX_K, len(self.index)):
            raise RequestError(f"k must be between 1 and {min(MAX_K, len(self.index))}, got {k}")
        return k

    def check_items(self, items: list[int]) -> list[int]:
        unknown = [i for i in items if i not in self.index.lookup]
        if unknown:
            raise UnknownItem(f"unknown item id {unknown[0]}")
        return items

    def history(self, user_id: int) -> list[int] | None:
        """The user's recent items from the online store, or None for a user it does not know."""
        if self.recent is None or not 1 <= user_id <= self.n_users:
            return None
        return self.recent(user_id)

    def resolve(self, user_id: int | None, history: list[int] | None) -> tuple[list[int], bool]:
        """(history, cold start?): a known user's recent items from the store, or the given
        history — cold unless it comes with a known user's id (whose guided vector then applies)."""
        if history is None:
            if user_id is None:
                raise RequestError("give a user id or a history")
            stored = self.history(user_id)
            if stored is None:
                raise RequestError(f"unknown user {user_id}: send their history instead")
            return stored, False
        self.check_items(history)
        return history, user_id is None or not 1 <= user_id <= self.n_users

    def query(self, history: list[int], user_id: int | None) -> np.ndarray:
        """(d,) the query vector: the model's state after ``history`` (+ β·g_u for a known user)."""
        if not history:
            raise RequestError("a history needs at least one item")
        model_items = [i for i in history if i <= self.model.n_items]  # items added later have no model row
        if not model_items:
            raise RequestError("none of the history's items is known to the model")
        histories = torch.tensor([model_items[-(self.model.config.max_len or 200):]])
        with torch.inference_mode():
            hidden = self.model.encode(self.model.query_inputs(histories))[:, -1]  # (1, d)
            if user_id is not None and self.model.user_guided is not None:
                hidden = self.model.query(hidden, torch.tensor([user_id]))
        return hidden[0].numpy().astype(np.float32)

    def contributions(self, query: np.ndarray, item_ids: list[int]) -> list[dict[str, Any]]:
        """Per-attribute split of ``<q, e_i>`` for each item (exact: parts sum to the score)."""
        vectors = self.index.vectors(np.asarray(item_ids))
        out = []
        for item, vector in zip(item_ids, vectors):
            parts = query[: self.m] * vector[: self.m]
            out.append({"item_id": int(item), "title": self.titles.get(int(item), ""),
                        "score": float(query @ vector),
                        "attributes": {a: float(v) for a, v in zip(self.attributes, parts)},
                        "latent": float(query[self.m:] @ vector[self.m:])})
        return out

    def recommend(self, user_id: int | None = None, history: list[int] | None = None, k: int = 10,
                  top_reasons: int = 3) -> dict[str, Any]:
        """Top-k items for a known user (history from the store) or for a given history (cold start)."""
        self.check_k(k)
        stored = self.history(user_id) if history is None and user_id is not None else None
        if history is None and user_id is not None and stored is None:
            # a user nobody knows, with no history: the most popular items
            items = [{"item_id": i, "title": self.titles.get(i, ""), "score": None, "attributes": {},
                      "latent": None, "reasons": []} for i in self.popular[:k]]
            return {"user_id": user_id, "cold_start": True, "fallback": "popularity", "history": [], "items": items}
        history, cold = (stored, False) if stored is not None else self.resolve(user_id, history)
        query = self.query(history, None if cold else user_id)
        ids, _ = self.index.search(query[None, :], k, exclude=[set(history)])
        items = self.contributions(query, [int(i) for i in ids[0] if i >= 0])
        for item in items:
            ranked = sorted(item["attributes"].items(), key=lambda kv: kv[1], reverse=True)
            item["reasons"] = [{"attribute": a, "contribution": v} for a, v in ranked[:top_reasons] if v > 0]
        return {"user_id": user_id, "cold_start": cold, "history": history[-20:], "items": items}

    def similar(self, item_id: int, k: int = 10, top_shared: int = 3) -> dict[str, Any]:
        """Nearest items by inner product, with the attributes on which both score high."""
        self.check_k(k)
        self.check_items([item_id])
        query = self.index.vectors(np.asarray([item_id]))[0]
        ids, _ = self.index.search(query[None, :], k, exclude=[{item_id}])
        items = self.contributions(query, [int(i) for i in ids[0] if i >= 0])
        for item in items:
            ranked = sorted(item["attributes"].items(), key=lambda kv: kv[1], reverse=True)
            item["shared"] = [a for a, v in ranked[:top_shared] if v > 0]
        return {"item_id": item_id, "title": self.titles.get(item_id, ""), "items": items}

    def explain(self, item_id: int, user_id: int | None = None, history: list[int] | None = None) -> dict[str, Any]:
        """The score of one (user, item) split into per-attribute contributions and the latent remainder."""
        self.check_items([item_id])
        if not self.m:
            raise RequestError("explanations need a refined model (its index has no attribute dimensions)")
        history, cold = self.resolve(user_id, history)
        query = self.query(history, None if cold else user_id)
        (item,) = self.contributions(query, [item_id])
        return {"user_id": user_id, "cold_start": cold, **item}


def _store_history(ws: Workspace) -> Any:
    """A reader of ``user_recent_items`` from the Feast online store (one store object, reused)."""
    from gerec.features.store import open_store, read_online

    store = open_store(ws)

    def recent(user_id: int) -> list[int] | None:
        values = read_online(ws, ["user_recent_items:recent_items"], {"user_id": [int(user_id)]}, store=store)
        items = values["recent_items"][0]
        return [int(i) for i in items] if items else None

    return recent
