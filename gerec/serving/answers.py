"""Answers as people and HTTP clients read them: items with titles, scores and the attributes
behind each — what `gerec recommend`, `gerec similar`, the HTTP service and the report show."""

from __future__ import annotations

from typing import Any

from gerec.serving.recommender import Recommender


def recommendations(rec: Recommender, user_id: int | None = None, history: list[int] | None = None, k: int = 10,
                    top_reasons: int = 3) -> dict[str, Any]:
    """Top-k items for a known user (history from the store) or a given history, each with the
    attributes that drove it; an unknown user with no history gets the most popular items."""
    rec.check_k(k)
    if history is None and user_id is not None and rec.history(user_id) is None:
        items = [{"item_id": int(i), "title": rec.titles.get(int(i), ""), "score": None, "attributes": {},
                  "latent": None, "reasons": []} for i in rec.popular[:k]]
        return {"user_id": user_id, "cold_start": True, "fallback": "popularity", "history": [], "items": items}
    history, known = rec.resolve(user_id, history)
    query = rec.queries([history], [user_id if known else None])
    ids, _ = rec.index.search(query, k, exclude=[set(history)])
    items = rec.contributions(query[0], [int(i) for i in ids[0] if i >= 0])
    for item in items:
        ranked = sorted(item["attributes"].items(), key=lambda kv: kv[1], reverse=True)
        item["reasons"] = [{"attribute": a, "contribution": v} for a, v in ranked[:top_reasons] if v > 0]
    return {"user_id": user_id, "cold_start": not known, "history": history[-20:], "items": items}


def similar(rec: Recommender, item_id: int, k: int = 10, top_shared: int = 3) -> dict[str, Any]:
    """Nearest items by inner product, with the attributes on which both score high."""
    ids, _ = rec.similar_items(item_id, k)
    query = rec.index.vectors([item_id])[0]
    items = rec.contributions(query, [int(i) for i in ids if i >= 0])
    for item in items:
        ranked = sorted(item["attributes"].items(), key=lambda kv: kv[1], reverse=True)
        item["shared"] = [a for a, v in ranked[:top_shared] if v > 0]
    return {"item_id": item_id, "title": rec.titles.get(item_id, ""), "items": items}
