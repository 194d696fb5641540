"""The shape of the real datasets, the reference the synthetic default is held to.

Imports MovieLens-100K, Amazon Beauty and Amazon Games from ../shared/data and the synthetic
default, computes :func:`gerec.data.stats.realism` on each (long tail, new and rare test
items, history lengths), and writes the real ones to gerec/data/reference_shapes.json —
what `gerec data stats` and the report print beside any dataset — and all four to
benchmarks/results/realism.json.

Run: python benchmarks/realism.py
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import duckdb

import gerec
from gerec.artifacts import write_json
from gerec.data.stats import REFERENCE_SHAPES, realism

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "realism.json"


def shape(ws: gerec.Workspace) -> dict[str, float]:
    con = duckdb.connect()
    con.read_parquet(str(ws.interactions_path)).create_view("inter")
    return realism(con, "inter")


def main() -> None:
    shapes = {}
    for name, (fmt, path, items) in DATASETS.items():
        ws = gerec.Workspace.resolve(tempfile.mkdtemp(prefix="gerec-realism-"))
        gerec.import_data(ws, fmt, path, items)
        shapes[name] = shape(ws)
    ws = gerec.Workspace.resolve(tempfile.mkdtemp(prefix="gerec-realism-"))
    gerec.synthesize(ws)
    meta = {"command": "python benchmarks/realism.py", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d")}
    write_json(REFERENCE_SHAPES, {**meta, "datasets": shapes})
    write_json(RESULTS, {**meta, "datasets": {**shapes, "synthetic (default)": shape(ws)}})
    for name, values in {**shapes, "synthetic (default)": shape(ws)}.items():
        print(f"{name:<22}" + "  ".join(f"{k} {v:g}" for k, v in values.items()), flush=True)


if __name__ == "__main__":
    main()
