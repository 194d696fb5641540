"""Serving verbs: a recommender loaded from a workspace's index, model and feature store; the
HTTP app that `gerec serve` runs in each worker process."""

from __future__ import annotations

import os
from typing import Any

from gerec.devices import set_threads
from gerec.features.store import open_store, read_online
from gerec.models.popularity import Popularity
from gerec.names import DEFAULT_INDEX
from gerec.retrieval.index import load_index
from gerec.serving.recommender import MAX_K, MissingFeatures, Recommender
from gerec.steps.data import sequences
from gerec.steps.index import indexed_model
from gerec.workspace import Workspace


def load_recommender(ws: Workspace, index: str = DEFAULT_INDEX, device: str | None = None,
                     with_store: bool = True) -> Recommender:
    """The model an index was built from, the index (verified), titles, popularity and (with
    ``with_store``) the online store's recent items of every known user."""
    import pyarrow.parquet as pq

    folder = ws.index_dir(index)
    loaded = load_index(folder)
    model = indexed_model(ws, loaded, device)
    titles_table = pq.read_table(folder / "items.parquet")
    titles = dict(zip(titles_table["item_id"].to_pylist(), titles_table["title"].to_pylist()))
    recent = _store_history(ws) if with_store else None
    popular = Popularity.fit(sequences(ws)).top(MAX_K)
    return Recommender(model, loaded, titles, ws.data_manifest()["final"]["users"], popular, recent)


def _store_history(ws: Workspace) -> Any:
    """A reader of ``user_recent_items`` from the Feast online store (one store object, reused)."""
    store = open_store(ws)

    def recent(user_id: int) -> list[int] | None:
        try:
            values = read_online(ws, ["user_recent_items:recent_items"], {"user_id": [int(user_id)]}, store=store)
        except Exception as err:  # noqa: BLE001 - whatever the online store raised, the request cannot be answered
            raise MissingFeatures(f"the online feature store cannot answer ({str(err).splitlines()[0]}): "
                                  "materialize it (`gerec features materialize`)") from None
        items = values["recent_items"][0]
        return [int(i) for i in items] if items else None

    return recent


def app_from_env() -> Any:
    """The FastAPI app for ``GEREC_WORKSPACE`` / ``GEREC_INDEX`` / ``GEREC_API_KEY`` / ``GEREC_DEVICE`` /
    ``GEREC_MAX_BATCH`` / ``GEREC_MAX_WAIT_MS``: what each uvicorn worker process builds when `gerec serve` runs."""
    from gerec.serving.http import create_app

    ws = Workspace.resolve(os.environ["GEREC_WORKSPACE"])
    index = os.environ.get("GEREC_INDEX", DEFAULT_INDEX)
    if os.environ.get("GEREC_THREADS"):
        set_threads(int(os.environ["GEREC_THREADS"]))
    return create_app(lambda: load_recommender(ws, index, device=None), ws.index_dir(index) / "manifest.json",
                      os.environ.get("GEREC_API_KEY") or None, max_batch=int(os.environ.get("GEREC_MAX_BATCH", 32)),
                      max_wait=float(os.environ.get("GEREC_MAX_WAIT_MS", 0)) / 1000)
