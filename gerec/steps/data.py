"""Data verbs: import a dataset into a workspace, generate the synthetic default, read it back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq

from gerec.artifacts import atomic_dir, write_json
from gerec.data.formats import ColumnMap, read_dataset
from gerec.data.prepare import ImportOptions, prepare
from gerec.data.sequences import Sequences
from gerec.data.stats import describe, realism
from gerec.data.synth import COLUMNS, SynthConfig, write_synthetic
from gerec.errors import DataError
from gerec.workspace import Workspace


def import_data(ws: Workspace, fmt: str, path: str | Path, items: str | Path | None = None,
                columns: ColumnMap | None = None, options: ImportOptions | None = None) -> dict[str, Any]:
    """Read ``path`` in format ``fmt`` and write the workspace's canonical dataset.

    Returns the manifest (also written to ``data/manifest.json``). The data folder is
    swapped in whole at the end: an error leaves the previous dataset untouched.
    """
    options = options or ImportOptions()
    started = time.perf_counter()
    raw = read_dataset(fmt, path, items, columns)
    with atomic_dir(ws.data_dir) as tmp:
        manifest = prepare(raw, options, tmp)
        manifest["format"] = fmt
        manifest["seconds"] = round(time.perf_counter() - started, 3)
        write_json(tmp / "manifest.json", manifest)
    return manifest


def synthesize(ws: Workspace, config: SynthConfig | None = None, do_import: bool = True,
               options: ImportOptions | None = None) -> dict[str, Any] | None:
    """Write the synthetic dataset and its ground truth to ``synthetic/`` and (by default)
    import it through the ordinary Parquet reader; returns the import manifest."""
    write_synthetic(config or SynthConfig(), ws.synthetic_dir)
    return import_synthetic(ws, options) if do_import else None


def import_synthetic(ws: Workspace, options: ImportOptions | None = None) -> dict[str, Any]:
    """Import the workspace's ``synthetic/`` folder as its dataset."""
    src = ws.synthetic_dir
    if not (src / "manifest.json").exists():
        raise DataError(f"no synthetic data in {src}: generate it first (`gerec data synth`)")
    return import_data(ws, "parquet", src / "interactions.parquet", src / "items.parquet", COLUMNS, options)


def stats(ws: Workspace) -> dict[str, Any]:
    """Stats of the imported dataset: as imported (raw), after filtering, and the split."""
    manifest = ws.data_manifest()
    con = duckdb.connect()
    con.read_parquet(str(ws.interactions_path)).create_view("inter")  # a relation: the path is never SQL text
    return {"format": manifest.get("format"), "raw": manifest["raw"], "final": describe(con, "inter"),
            "dropped": manifest["dropped"], "split": manifest["split"], "shape": realism(con, "inter")}


def sequences(ws: Workspace) -> Sequences:
    """Every user's time-ordered items: what training and evaluation read."""
    final = ws.data_manifest()["final"]
    return Sequences.from_parquet(ws.interactions_path, final["users"], final["items"])


def cold_items(ws: Workspace) -> np.ndarray:
    """Ids of the items held out of training (``gerec data import --cold-items``); empty if none."""
    columns = pq.read_schema(ws.items_path).names
    if "cold" not in columns:  # a dataset imported before cold items existed
        return np.zeros(0, dtype=np.int64)
    table = pq.read_table(ws.items_path, columns=["item_id", "cold"])
    ids = table.column("item_id").to_numpy()
    return ids[table.column("cold").to_numpy(zero_copy_only=False)].astype(np.int64)
