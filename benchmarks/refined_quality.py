"""Refined vs base vs reduced-only: dataset × model → MRR/Recall/NDCG@{5,10,20} with 95% intervals.

Per dataset: import, score items and users with the offline encoder (the dataset's schema),
train each base model, put the guided scores and reduced base embeddings in the Feast store,
train the refined model (``--parts both``) and the reduced-only ablation (``--parts reduced``)
from the store, and compare all three on the test split (paired bootstrap over users).
Each (dataset, model) is written to benchmarks/results/refined_quality.json as it finishes,
so a sweep can be stopped and resumed (``--skip-done``).

Run: python benchmarks/refined_quality.py --datasets ml-100k --models gru4rec,sasrec,bert4rec --threads 2
     python benchmarks/refined_quality.py --datasets amazon-beauty,amazon-games --set max_minutes=3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from rich.console import Console

import gerec
from gerec.artifacts import read_json, write_json

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "refined_quality.json"
SCHEMAS = {"ml-100k": "movies", "amazon-games": "games", "amazon-beauty": "beauty"}
HEADLINE = ("MRR@10", "Recall@10", "NDCG@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="ml-100k,amazon-beauty,amazon-games")
    parser.add_argument("--models", default="gru4rec,sasrec,bert4rec")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="setting override key=value for every run")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--reduction", default="pca")
    parser.add_argument("--skip-done", action="store_true", help="skip (dataset, model) pairs already in the results")
    parser.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/gerec-refined-bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from gerec.config import parse_overrides

    overrides = parse_overrides(args.set)
    console = Console(stderr=True)
    results = read_json(RESULTS) if RESULTS.exists() else {"runs": {}}
    for dataset in args.datasets.split(","):
        fmt, path, items = DATASETS[dataset]
        ws = gerec.Workspace.resolve(Path(args.workdir) / dataset)
        if not ws.has_dataset():
            gerec.import_data(ws, fmt, path, items)
        started = time.perf_counter()
        guided = gerec.score(ws, SCHEMAS[dataset], console=console)
        score_seconds = time.perf_counter() - started
        gerec.apply_store(ws)
        for model in args.models.split(","):
            key = f"{dataset}/{model}"
            if args.skip_done and key in results["runs"]:
                continue
            seconds = {}
            started = time.perf_counter()
            gerec.train_base(ws, model, overrides, console=console)
            seconds["base"] = time.perf_counter() - started
            started = time.perf_counter()
            report = gerec.materialize(ws, [model], args.reduction, console=console)
            seconds["features"] = time.perf_counter() - started
            for variant in ("reduced", "refined"):
                started = time.perf_counter()
                gerec.train_refined(ws, model, variant, overrides, alpha=args.alpha, beta=args.beta, console=console)
                seconds[variant] = time.perf_counter() - started
            table = gerec.evaluate(ws, [model], write=False)
            row = table["rows"][0]
            results["runs"][key] = {
                "dataset": dataset, "model": model, "users": row["users"], "variants": row["variants"],
                "gains": row["gains"], "reduction": report["reduced"][0], "beta": args.beta, "alpha": args.alpha,
                "schema": SCHEMAS[dataset], "scored": {"items": guided["items"]["rows"], "users": guided["users"]["rows"],
                                                       "seconds": round(score_seconds, 1)},
                "epochs": {v: read_json(ws.model_dir(v, model) / "metrics.json")["epochs"]
                           for v in ("base", "reduced", "refined")},
                "stopped": {v: read_json(ws.model_dir(v, model) / "metrics.json")["stopped"]
                            for v in ("base", "reduced", "refined")},
                "seconds": {k: round(v, 1) for k, v in seconds.items()}, "overrides": overrides,
                "threads": args.threads, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "date": time.strftime("%Y-%m-%d"),
            }
            write_json(RESULTS, results)
            print_row(key, results["runs"][key])


def print_row(key: str, run: dict) -> None:
    for variant, values in run["variants"].items():
        print(f"{key:<24}{variant:<9}" + "".join(f"{values[m]['mean']:>9.4f}" for m in HEADLINE), flush=True)
    for gain, values in run["gains"].items():
        print(f"{key:<24}{gain:<22}" + "".join(f"{values[m]['mean']:>+9.1%}" for m in HEADLINE), flush=True)


if __name__ == "__main__":
    main()
