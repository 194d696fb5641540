"""Feature-store speed: ingest + materialize N items' attribute scores, then online reads.

Builds a store for a 10-attribute schema, ingests an ``item_attributes`` table of N random
items (10 Float32 fields + the vector + a content hash; online, the view holds the vector
alone), materializes it into the online store — SQLite by default, or Redis and a
PostgreSQL registry with ``--online``/``--registry`` — and times online reads of 1 and 100
random items (median and p99 over repeats). Writes benchmarks/results/feature_store.json,
one entry per backend.

Run: python benchmarks/feature_store.py --items 100000
     python benchmarks/feature_store.py --items 100000 --online redis://127.0.0.1:6379/0 \
         --registry postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from gerec import Workspace
from gerec.artifacts import read_json, write_json
from gerec.features import store
from gerec.features.definitions import field_name
from gerec.features.tables import float_lists
from gerec.guided.schema import load_schema

RESULTS = Path(__file__).parent / "results" / "feature_store.json"


def item_table(n: int, names: list[str], seed: int = 0) -> pa.Table:
    scores = np.random.default_rng(seed).uniform(1, 9, size=(n, len(names))).astype(np.float32)
    columns = {"item_id": pa.array(np.arange(1, n + 1), pa.int64())}
    columns.update({field_name(a): pa.array(scores[:, j]) for j, a in enumerate(names)})
    columns["vector"] = float_lists(scores)
    columns["content_hash"] = pa.array([f"{i:032x}" for i in range(n)])
    return pa.table(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--online", default="sqlite")
    parser.add_argument("--registry", default="file")
    args = parser.parse_args()
    schema = load_schema("movies")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.resolve(Path(tmp) / "ws")
        write_json(ws.guided_manifest_path, {"attributes": schema.names, "schema": schema.to_dict()})
        store.apply(ws, online=args.online, registry=args.registry)
        table = item_table(args.items, schema.names)
        started = time.perf_counter()
        rows = store.ingest_table(ws.feature_store_dir, "item_attributes", table)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        report = store.materialize(ws, views=["item_attributes"], show_progress=False)
        materialize_s = time.perf_counter() - started
        feast_store = store.open_store(ws)
        rng = np.random.default_rng(1)
        reads = {}
        for batch in (1, 100):
            times = []
            for _ in range(args.repeats):
                ids = rng.integers(1, args.items + 1, size=batch).tolist()
                started = time.perf_counter()
                out = store.read_online(ws, ["item_attributes:vector"], {"item_id": ids}, store=feast_store)
                times.append((time.perf_counter() - started) * 1000)
                assert all(v is not None for v in out["vector"])
            reads[batch] = {"median_ms": round(float(np.median(times)), 3),
                            "p99_ms": round(float(np.percentile(times, 99)), 3)}
        if args.online != "sqlite" or args.registry != "file":
            feast_store.teardown()  # leave the shared servers as found
    backend = f"online {args.online.split('://')[0]}, registry {args.registry.split('://')[0]}"
    result = {"backend": backend, "items": args.items, "ingested_rows": rows, "ingest_seconds": round(ingest_s, 2),
              "materialize_seconds": round(materialize_s, 2),
              "materialized_rows_per_second": round(args.items / materialize_s),
              "feast_materialize_seconds": report["views"]["item_attributes"]["seconds"],
              "online_read": {f"{k}_entities": v for k, v in reads.items()}, "repeats": args.repeats,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    previous = read_json(RESULTS) if RESULTS.exists() else {}
    runs = previous.get("runs", {})
    runs[backend] = result
    write_json(RESULTS, {"runs": runs, "before_compact_views": previous.get("before_compact_views", {})})
    print(f"{backend}: ingest {rows:,} rows: {ingest_s:.2f} s; materialize: {materialize_s:.2f} s "
          f"({result['materialized_rows_per_second']:,} rows/s)")
    for k, v in reads.items():
        print(f"online read of {k:>3} entities: median {v['median_ms']:.2f} ms, p99 {v['p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
