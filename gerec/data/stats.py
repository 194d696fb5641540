"""Dataset statistics: the numbers a reader checks against a dataset's README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from gerec.artifacts import read_json

# realism() of MovieLens-100K, Amazon Beauty and Amazon Games (benchmarks/realism.py writes it)
REFERENCE_SHAPES = Path(__file__).with_name("reference_shapes.json")
SHAPE_LABELS = {"median_item_train_events": "median train events/item",
                "items_under_5_train_events": "items, < 5 train events",
                "top10pct_items_event_share": "events on top 10% items",
                "test_items_without_train_events": "test items, 0 train events",
                "test_items_under_5_train_events": "test items, < 5 train ev.",
                "median_user_events": "median events/user", "p95_user_events": "p95 events/user"}

PERCENTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def describe(con: duckdb.DuckDBPyConnection, table: str, user: str = "user_id", item: str = "item_id") -> dict[str, Any]:
    """Users, items, interactions, density and sequence-length percentiles of ``table``."""
    users, items, n = con.execute(f"SELECT count(DISTINCT {user}), count(DISTINCT {item}), count(*) FROM {table}").fetchall()[0]
    lengths = con.execute(f"""
        SELECT min(n), quantile_disc(n, {list(PERCENTILES)}), max(n), avg(n)
        FROM (SELECT count(*) AS n FROM {table} GROUP BY {user})""").fetchall()[0]
    quant = {f"p{round(p * 100)}": int(v) for p, v in zip(PERCENTILES, lengths[1] or [])}
    return {
        "users": int(users),
        "items": int(items),
        "interactions": int(n),
        "density": float(n) / (users * items) if users and items else 0.0,
        "sequence_length": {"min": int(lengths[0] or 0), **quant, "max": int(lengths[2] or 0),
                            "mean": round(float(lengths[3] or 0), 2)},
    }


def realism(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, float]:
    """How a split dataset's shape compares with real catalogues: the long tail of items, how
    many test items are new or rare, and how long histories are.

    ``table`` has ``user_id``, ``item_id`` and ``split`` (train | valid | test) columns; item
    counts are training events over the catalogue of items that have any event.
    """
    row = con.execute(f"""
        WITH counts AS (
            SELECT item_id, count(*) FILTER (WHERE split = 'train') AS n FROM {table} GROUP BY item_id),
        ranked AS (SELECT n, row_number() OVER (ORDER BY n DESC) AS r, count(*) OVER () AS c FROM counts),
        tests AS (SELECT coalesce(c.n, 0) AS n FROM {table} t LEFT JOIN counts c USING (item_id)
                  WHERE t.split = 'test'),
        lengths AS (SELECT count(*) AS n FROM {table} GROUP BY user_id)
        SELECT (SELECT median(n) FROM counts),
               (SELECT avg((n < 5)::INT) FROM counts),
               (SELECT sum(n) FILTER (WHERE r <= ceil(c * 0.1)) / nullif(sum(n), 0) FROM ranked),
               (SELECT avg((n = 0)::INT) FROM tests),
               (SELECT avg((n < 5)::INT) FROM tests),
               (SELECT median(n) FROM lengths),
               (SELECT quantile_cont(n, 0.95) FROM lengths)""").fetchall()[0]
    names = ("median_item_train_events", "items_under_5_train_events", "top10pct_items_event_share",
             "test_items_without_train_events", "test_items_under_5_train_events", "median_user_events",
             "p95_user_events")
    return {name: round(float(v or 0.0), 4) for name, v in zip(names, row)}


def reference_shapes() -> dict[str, dict[str, float]]:
    """The real datasets' :func:`realism` statistics, by dataset name."""
    return read_json(REFERENCE_SHAPES)["datasets"]


def within_reference(shape: dict[str, float]) -> dict[str, bool]:
    """Per statistic: whether ``shape`` lies within the real datasets' range."""
    refs = reference_shapes().values()
    return {k: min(r[k] for r in refs) <= v <= max(r[k] for r in refs) for k, v in shape.items()}


def shape_value(key: str, value: float) -> str:
    """A :func:`realism` statistic as printed: shares in percent, counts as numbers."""
    if not key.startswith(("items", "test", "top")):
        return f"{value:g}"
    return f"{value:.2%}" if value < 0.01 else f"{value:.1%}"
