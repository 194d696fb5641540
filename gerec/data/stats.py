"""Dataset statistics: the numbers a reader checks against a dataset's README."""

from __future__ import annotations

from typing import Any

import duckdb

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
