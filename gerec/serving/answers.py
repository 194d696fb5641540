"""Answers as people and HTTP clients read them: items with titles, scores and the attributes
behind each — what `gerec recommend`, `gerec similar`, the HTTP service and the report show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gerec.serving.recommender import Recommender


@dataclass
class Ask:
    """One recommendation request: a user, a history or both; optional steering and filters."""

    user_id: int | None = None
    history: list[int] | None = None
    k: int = 10
    steer: dict[str, float] | None = None  # attribute → weight: "more humor, less darkness"
    include: list[int] | None = None  # only these items may be recommended
    exclude: list[int] | None = None  # never these (the history is always excluded)


def recommendations(rec: Recommender, user_id: int | None = None, history: list[int] | None = None, k: int = 10,
                    top_reasons: int = 3, **options: Any) -> dict[str, Any]:
    """Top-k items for a known user (history from the store) or a given history, each with the
    attributes that drove it; an unknown user with no history gets the most popular items.
    ``options``: ``steer``, ``include``, ``exclude`` (see :class:`Ask`)."""
    return recommend_many(rec, [Ask(user_id, history, k, **options)], top_reasons)[0]


def recommend_many(rec: Recommender, asks: list[Ask], top_reasons: int = 3) -> list[dict[str, Any]]:
    """Answers to several requests with one model pass and one index search for all of them."""
    answers: list[dict[str, Any] | None] = [None] * len(asks)
    pending = []  # (position, history, user id if known)
    for j, ask in enumerate(asks):
        rec.check_k(ask.k)
        if ask.history is None and ask.user_id is not None and not rec.known(ask.user_id):
            answers[j] = _popular(rec, ask)
            continue
        history, known = rec.resolve(ask.user_id, ask.history)
        pending.append((j, history, ask.user_id if known else None))
    if pending:
        queries = rec.queries([h for _, h, _ in pending], [u for _, _, u in pending])
        queries = np.stack([rec.steer(q, asks[j].steer) if asks[j].steer else q for (j, _, _), q in zip(pending, queries)])
        k = max(asks[j].k for j, _, _ in pending)
        ids, _ = rec.find(queries, k, [set(h) | set(asks[j].exclude or ()) for j, h, _ in pending],
                          [set(asks[j].include) if asks[j].include is not None else None for j, _, _ in pending])
        for (j, history, user), query, row in zip(pending, queries, ids):
            items = rec.contributions(query, [int(i) for i in row[: asks[j].k] if i >= 0])
            for item in items:
                ranked = sorted(item["attributes"].items(), key=lambda kv: kv[1], reverse=True)
                item["reasons"] = [{"attribute": a, "contribution": v} for a, v in ranked[:top_reasons] if v > 0]
            answers[j] = {"user_id": asks[j].user_id, "cold_start": user is None, "history": history[-20:],
                          "items": items, **({"steer": asks[j].steer} if asks[j].steer else {})}
    return answers  # type: ignore[return-value]


def _popular(rec: Recommender, ask: Ask) -> dict[str, Any]:
    """A user nobody knows, with no history: the most popular items (filters applied)."""
    allowed = set(ask.include) if ask.include is not None else None
    skip = set(ask.exclude or ())
    chosen = [int(i) for i in rec.popular if int(i) not in skip and (allowed is None or int(i) in allowed)][: ask.k]
    items = [{"item_id": i, "title": rec.titles.get(i, ""), "score": None, "attributes": {}, "latent": None,
              "reasons": []} for i in chosen]
    return {"user_id": ask.user_id, "cold_start": True, "fallback": "popularity", "history": [], "items": items}


def similar(rec: Recommender, item_id: int, k: int = 10, top_shared: int = 3) -> dict[str, Any]:
    """Nearest items by inner product, with the attributes on which both score high."""
    ids, _ = rec.similar_items(item_id, k)
    query = rec.index.vectors([item_id])[0]
    items = rec.contributions(query, [int(i) for i in ids if i >= 0])
    for item in items:
        ranked = sorted(item["attributes"].items(), key=lambda kv: kv[1], reverse=True)
        item["shared"] = [a for a, v in ranked[:top_shared] if v > 0]
    return {"item_id": item_id, "title": rec.titles.get(item_id, ""), "items": items}
