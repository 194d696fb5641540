"""The tables a workspace contributes to the feature store, built from its artifacts.

- ``item_attributes`` / ``user_attributes``: the guided scores (``gerec guided score``).
- ``item_base_reduced``: each trained base model's item table reduced to ``k = d − m``
  (written by :func:`write_reduced`, one Parquet file per base model).
- ``user_recent_items``: each user's latest item ids — all known events, since serving
  recommends what comes *after* everything we know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gerec.artifacts import atomic_file
from gerec.features.definitions import TIMESTAMP, field_name
from gerec.workspace import Workspace

RECENT_ITEMS = 200  # enough for the longest model window (max_len 200)


def float_lists(vectors: np.ndarray) -> pa.Array:
    """(n, w) floats as an Arrow list column: the vector field type Feast stores."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def attribute_table(ws: Workspace, kind: str) -> pa.Table:
    """``item_attributes`` or ``user_attributes`` with Feast field names (no timestamp yet)."""
    manifest = ws.guided_manifest()
    id_name = f"{kind}_id"
    table = pq.read_table(ws.features_dir / f"{kind}_attributes.parquet")
    names = manifest["attributes"]
    vectors = np.stack([table[n].to_numpy() for n in names], axis=1).astype(np.float32)
    columns: dict[str, Any] = {id_name: table[id_name].cast(pa.int64())}
    columns.update({field_name(n): pa.array(vectors[:, j]) for j, n in enumerate(names)})
    columns["vector"] = float_lists(vectors)
    columns["content_hash"] = table["content_hash"]
    return pa.table(columns)


def reduced_table(ws: Workspace, base_model: str) -> pa.Table:
    path = ws.reduced_path(base_model)
    table = pq.read_table(path)
    return pa.table({"item_id": table["item_id"].cast(pa.int64()), "base_model": table["base_model"],
                     "vector": table["vector"].cast(pa.list_(pa.float32())), "reduction": table["reduction"]})


def recent_items_table(ws: Workspace, n: int = RECENT_ITEMS) -> pa.Table:
    """Each user's last ``n`` item ids, oldest first."""
    rows = duckdb.sql("""
        SELECT user_id::BIGINT AS user_id, list(item_id::BIGINT ORDER BY seq) AS recent_items FROM (
            SELECT user_id, item_id, seq, row_number() OVER (PARTITION BY user_id ORDER BY seq DESC) AS back
            FROM read_parquet($path))
        WHERE back <= $n GROUP BY user_id ORDER BY user_id""", params={"path": str(ws.interactions_path), "n": n}).to_arrow_table()
    return pa.table({"user_id": rows["user_id"], "recent_items": rows["recent_items"].cast(pa.list_(pa.int64()))})


def workspace_tables(ws: Workspace) -> dict[str, pa.Table]:
    """Every table the store ingests from ``ws`` (reduced tables for each base model reduced so far)."""
    ws.data_manifest()
    tables = {"item_attributes": attribute_table(ws, "item"), "user_attributes": attribute_table(ws, "user"),
              "user_recent_items": recent_items_table(ws)}
    reduced = sorted((ws.features_dir / "reduced").glob("*.parquet"))
    if reduced:
        tables["item_base_reduced"] = pa.concat_tables([reduced_table(ws, p.stem) for p in reduced])
    return tables


def with_timestamp(table: pa.Table, stamp: datetime) -> pa.Table:
    return table.append_column(TIMESTAMP, pa.array([stamp] * table.num_rows, pa.timestamp("us", tz="UTC")))


def write_reduced(ws: Workspace, base_model: str, vectors: np.ndarray, reduction: str) -> None:
    """Save ``vectors`` (n_items, k), rows in item-id order 1..n, as ``features/reduced/<model>.parquet``."""
    n = len(vectors)
    table = pa.table({"item_id": pa.array(np.arange(1, n + 1), pa.int64()), "base_model": [base_model] * n,
                      "vector": float_lists(vectors), "reduction": [reduction] * n})
    with atomic_file(ws.reduced_path(base_model)) as tmp:
        pq.write_table(table, tmp)
