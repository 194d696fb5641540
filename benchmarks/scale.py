"""Scale-out figures on one machine (local mode only — every figure is labelled as such).

1. ``scoring``: guided scoring of Amazon Games' 16,859 items with the offline encoder — the
   local engine (one process, 2 threads) against Ray Data with 2 actors (1 thread each),
   each from an empty item cache (users are scored once beforehand and reused from the
   cache, so both legs score exactly the items): items/s including start-up (Ray, model
   loads). Both must give the same scores (checked to 1e-5).
2. ``ddp``: SASRec on Amazon Beauty for a few epochs, one process with 2 threads against
   ``torchrun --nproc_per_node 2`` with 1 thread each (gloo): seconds per epoch.

The feature-store comparison (Redis vs SQLite) is ``feature_store.py --online redis://…``.

Run: python benchmarks/scale.py --parts scoring,ddp
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

import gerec
from gerec.artifacts import read_json, write_json

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "scale.json"


def _workspace(workdir: Path, dataset: str) -> gerec.Workspace:
    ws = gerec.Workspace.resolve(workdir / dataset)
    if not ws.has_dataset():
        fmt, path, items = DATASETS[dataset]
        gerec.import_data(ws, fmt, path, items)
    return ws


def _vectors(ws: gerec.Workspace) -> np.ndarray:
    return np.stack([np.asarray(v, np.float64) for v in pq.read_table(ws.item_attributes_path)["vector"].to_pylist()])


def _score(ws: gerec.Workspace, engine: str, actors: int) -> dict[str, Any]:
    """gerec.score in a fresh process (peak memory and imports of its own); its timing and counts."""
    code = ("import json, time, gerec; from gerec.devices import set_threads; set_threads(2); "
            f"ws = gerec.Workspace.resolve({str(ws.root)!r}); t = time.perf_counter(); "
            f"m = gerec.score(ws, 'games', engine={engine!r}, actors={actors}, show_progress=False); "
            "print(json.dumps({'seconds': time.perf_counter() - t, 'items': m['items'], 'users': m['users']}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def scoring(workdir: Path, actors: int) -> list[dict[str, Any]]:
    """Local vs Ray scoring of Amazon Games' items, each from an empty item cache."""
    ws = _workspace(workdir, "amazon-games")
    _score(ws, "local", actors)  # users (and items) once: the legs below reuse the users from the cache
    out, scores = [], {}
    for engine in ("local", "ray"):
        for cached in ws.score_cache_dir.glob("item-*.parquet"):
            cached.unlink()
        result = _score(ws, engine, actors)
        assert result["users"]["newly_scored"] == 0, "users should come from the cache"
        items = result["items"]["newly_scored"]
        out.append({"engine": engine, "workers": 1 if engine == "local" else actors,
                    "threads_per_worker": 2 if engine == "local" else 1, "items": items,
                    "seconds": round(result["seconds"], 1), "items_per_second": round(items / result["seconds"], 1)})
        scores[engine] = _vectors(ws)
        print(out[-1], flush=True)
    out[-1]["same_scores"] = bool(np.allclose(scores["local"], scores["ray"], atol=1e-5))
    return out


def ddp(workdir: Path, epochs: int) -> list[dict[str, Any]]:
    """Seconds per epoch of SASRec on Beauty: one process (2 threads) vs torchrun with 2 (1 thread each)."""
    ws = _workspace(workdir, "amazon-beauty")
    args = ["base", "train", "--model", "sasrec", "--set", f"epochs={epochs}", "--set", "patience=1000",
            "--quiet", "--json"]
    runs = [("1 process × 2 threads", [sys.executable, "-m", "gerec_cli", "--threads", "2"], "2"),
            ("torchrun 2 processes × 1 thread", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                                                 "2", "-m", "gerec_cli", "--threads", "1"], "1")]
    out = []
    for label, command, threads in runs:
        copy = workdir / "ddp-beauty"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(ws.root, copy)
        started = time.perf_counter()
        subprocess.run([*command, "--workspace", str(copy), *args], check=True, capture_output=True,
                       env={**os.environ, "OMP_NUM_THREADS": threads})
        wall = time.perf_counter() - started
        metrics = read_json(copy / "models" / "base-sasrec" / "metrics.json")
        out.append({"run": label, "epochs": metrics["epochs"], "seconds_per_epoch": metrics["seconds_per_epoch"],
                    "wall_seconds": round(wall, 1), "valid_NDCG@10": round(metrics["valid"]["NDCG@10"], 4)})
        print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="scoring,ddp")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/gerec-bench")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    result = read_json(RESULTS) if RESULTS.exists() else {}
    if "scoring" in args.parts:
        result["scoring"] = scoring(workdir, args.actors)
    if "ddp" in args.parts:
        result["ddp"] = ddp(workdir, args.epochs)
    result.update(machine=f"{platform.machine()}, {os.cpu_count()} cores", date=time.strftime("%Y-%m-%d"),
                  mode="local only: Ray and torchrun on this one machine")
    write_json(RESULTS, result)


if __name__ == "__main__":
    main()
