"""The full protocol (PROTOCOL.md) on real data: every arm, several seeds, converged, resumable.

Each (dataset, model) is one `gerec run` pipeline in its own workspace: base models seed by
seed, guided scores, reduced tables, then per seed the reduced-only, refined and
shuffled-score arms and base-continued, then the comparison. The pipeline skips every
stage already done, so a sweep stopped at any point (Ctrl-C, a reboot) resumes where it
stopped; the comparison of whatever replicas are complete is written to
benchmarks/results/protocol.json after each (dataset, model), with which rows are complete.

Order (most informative first): SASRec on each dataset, then GRU4Rec, then BERT4Rec on ML-100K.
Base settings are the converged ones measured in benchmarks/results/time_to_quality.json.

Run: python benchmarks/protocol.py --threads 2                      # the whole plan, resumable
     python benchmarks/protocol.py --plan ml-100k/sasrec --seeds 3  # one row
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from gerec.artifacts import read_json, write_json
from gerec.devices import set_threads
from gerec.names import VARIANTS, replica
from gerec.steps.run import ARMS, RunConfig, run
from gerec.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "protocol.json"
SCHEMAS = {"ml-100k": "movies", "amazon-games": "games", "amazon-beauty": "beauty"}
PLAN = ("ml-100k/sasrec", "amazon-beauty/sasrec", "amazon-games/sasrec", "ml-100k/gru4rec", "amazon-beauty/gru4rec",
        "amazon-games/gru4rec", "ml-100k/bert4rec")
# Base settings per dataset, from time to quality: on the Amazon sets dropout 0.5 beat 0.2 (SASRec,
# Beauty 0.0454 ± 0.0012 over 3 seeds); ML-100K keeps the defaults (0.0759 ± 0.0047).
SETTINGS: dict[str, dict[str, Any]] = {"ml-100k": {}, "amazon-beauty": {"dropout": 0.5}, "amazon-games": {"dropout": 0.5}}
COMPARED = ("base", "continued", *ARMS)


def run_row(key: str, seeds: int, workdir: Path, device: str | None, console: Console) -> dict[str, Any]:
    """One (dataset, model) through the pipeline; its results and per-arm training records."""
    dataset, model = key.split("/")
    fmt, path, items = DATASETS[dataset]
    ws = Workspace.resolve(workdir / dataset / model)
    config = RunConfig(data=Path(path), fmt=fmt, items=Path(items) if items else None, models=(model,),
                       schema=SCHEMAS[dataset], settings=dict(SETTINGS[dataset]), device=device, seeds=seeds)
    started = time.perf_counter()
    outcome = run(ws, config, console=console)
    (row,) = [r for r in outcome["results"]["rows"] if r["model"] == model]
    training = {}
    for k in range(seeds):
        for variant in COMPARED:
            metrics = ws.model_dir(variant, replica(model, k)) / "metrics.json"
            if metrics.exists():
                m = read_json(metrics)
                training[f"{variant}/seed{k}"] = {"epochs": m["epochs"], "best_epoch": m["best_epoch"],
                                                  "stopped": m["stopped"], "seconds": m["seconds"]}
    complete = all(len(row["seeds"].get(v, {}).get("runs", [])) == seeds for v in COMPARED) and not row["budgeted"]
    return {"dataset": dataset, "model": model, "seeds": seeds, "complete": complete,
            "popularity": outcome["results"]["popularity"], "row": row, "training": training,
            "settings": SETTINGS[dataset], "schema": SCHEMAS[dataset],
            # each stage's seconds when it last ran (a resumed sweep skips finished stages)
            "stages": {name: {"seconds": r["seconds"], "finished": r["finished"]}
                       for name, r in read_json(ws.pipeline_path)["stages"].items()},
            "session_seconds": round(time.perf_counter() - started, 1),
            "command": f"python benchmarks/protocol.py --plan {key} --seeds {seeds}",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, device {device or 'auto'}",
            "date": time.strftime("%Y-%m-%d")}


def summary(runs: dict[str, Any]) -> None:
    """NDCG@10 per arm (mean over seeds, seed sd) and the headline, one line per row."""
    for key, r in runs.items():
        row = r["row"]
        arms = "  ".join(f"{v} {row['variants'][v]['NDCG@10']['mean']:.4f}" for v in VARIANTS if v in row["variants"])
        head = row.get("headline")
        gain = (f"refined vs {head['control']} {head['gain']['NDCG@10']['mean']:+.1%} "
                f"[{head['gain']['NDCG@10']['low']:+.1%}, {head['gain']['NDCG@10']['high']:+.1%}]") if head else ""
        print(f"{key:<22} {'complete' if r['complete'] else 'partial':<9} pop {r['popularity']['NDCG@10']['mean']:.4f}"
              f"  {arms}  {gain}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", default=",".join(PLAN), help="dataset/model pairs, in order")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gerec-protocol")
    args = parser.parse_args()
    set_threads(args.threads)
    console = Console(stderr=True)
    for key in args.plan.split(","):
        if key.split("/")[0] not in DATASETS:
            raise SystemExit(f"unknown dataset in '{key}'; choose from {', '.join(DATASETS)}")
        result = run_row(key, args.seeds, args.workdir, args.device, console)
        runs = read_json(RESULTS)["runs"] if RESULTS.exists() else {}  # re-read: another sweep may have written
        runs[key] = {**result, "threads": args.threads}
        write_json(RESULTS, {"runs": runs})
        summary({key: runs[key]})


if __name__ == "__main__":
    main()
