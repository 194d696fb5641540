"""Base-model quality and speed: dataset × model → MRR@10, Recall@10, NDCG@10, epochs, time.

Each model trains with its defaults (full cross-entropy, early stopping on validation
NDCG@10 with patience 5) on the leave-one-out split, ranked over the full catalogue with
history excluded. Results are appended to benchmarks/results/base_models.json as each
run finishes, so a long sweep can be stopped and resumed.

Run: python benchmarks/base_models.py --datasets ml-100k --models gru4rec,sasrec,bert4rec --threads 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

import gerec
from gerec.artifacts import read_json, write_json

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "base_models.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="ml-100k,amazon-beauty,amazon-games")
    parser.add_argument("--models", default="gru4rec,sasrec,bert4rec")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="setting override key=value for every run")
    parser.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/gerec-bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from gerec.config import parse_overrides

    overrides = parse_overrides(args.set)
    results = read_json(RESULTS) if RESULTS.exists() else {"runs": {}}
    for dataset in args.datasets.split(","):
        fmt, path, items = DATASETS[dataset]
        ws = gerec.Workspace.resolve(Path(args.workdir) / dataset)
        gerec.import_data(ws, fmt, path, items)
        for model in args.models.split(","):
            started = time.perf_counter()
            result = gerec.train_base(ws, model, overrides)
            metrics = read_json(ws.model_dir("base", model) / "metrics.json")
            meta = read_json(ws.model_dir("base", model) / "config.json")
            results["runs"][f"{dataset}/{model}"] = {
                "dataset": dataset, "model": model, "settings": {**meta["model"], **meta["train"]},
                "test": result.test, "valid": result.valid, "best_epoch": result.best_epoch,
                "epochs": metrics["epochs"], "stopped": metrics["stopped"], "seconds_per_epoch": metrics["seconds_per_epoch"],
                "train_seconds": metrics["seconds"], "wall_seconds": round(time.perf_counter() - started, 1),
                "threads": args.threads, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "date": time.strftime("%Y-%m-%d"), "overrides": overrides,
            }
            write_json(RESULTS, results)
    print(f"{'dataset/model':<26}{'MRR@10':>8}{'Rec@10':>8}{'NDCG@10':>9}{'best/run':>10}{'s/epoch':>9}{'train s':>9}  stopped")
    for key, r in results["runs"].items():
        t = r["test"]
        print(f"{key:<26}{t['MRR@10']:>8.4f}{t['Recall@10']:>8.4f}{t['NDCG@10']:>9.4f}"
              f"{r['best_epoch']:>6}/{r['epochs']:<3}{r['seconds_per_epoch']:>9.1f}{r['train_seconds']:>9.0f}  {r.get('stopped', '')}")


if __name__ == "__main__":
    main()
