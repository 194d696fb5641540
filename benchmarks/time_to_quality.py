"""Time to quality: base models to convergence, dataset × model × settings × seed → test metrics, epochs, time, memory.

Every run trains by early stopping on validation NDCG@10 (no wall budget unless asked) on
the leave-one-out split, ranked over the full catalogue with history excluded, and records
its curve (validation NDCG@10 against training seconds), seconds to the best epoch, peak
memory (each run is its own process) and the popularity baseline beside it. Runs append to
benchmarks/results/time_to_quality.json as they finish and finished ones are skipped, so a sweep
can span days; ``--plot`` draws the curves to benchmarks/results/time_to_quality.png.

Run: python benchmarks/time_to_quality.py --datasets amazon-beauty --models sasrec --seeds 3 --threads 2
     python benchmarks/time_to_quality.py --datasets ml-100k --models gru4rec --seeds 3 --only-seed 1 --threads 1
     python benchmarks/time_to_quality.py --datasets amazon-games --models sasrec --label ce --set loss=ce
     python benchmarks/time_to_quality.py --datasets synthetic-sparse --models sasrec --seeds 3
     python benchmarks/time_to_quality.py --summary --plot

``synthetic-sparse`` stands in for a sparse MovieLens variant that is not shipped here (~10k
items, 610 users, long histories — the catalogue where SASRec's defaults once overfitted to the
popularity level): the generator's defaults but for its size and history lengths.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gerec
from gerec.artifacts import read_json, write_json

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

# the shape of MovieLens "latest-small": 610 users, ~9.7k items, ~100k events, median user ~100
SYNTHETIC = {"synthetic-sparse": {"n_items": 9742, "n_users": 610, "mean_length": 165.0, "min_length": 20,
                                  "max_length": 2000}}

RESULTS = Path(__file__).parent / "results" / "time_to_quality.json"
CURVES = Path(__file__).parent / "results" / "time_to_quality.png"


def run_one(dataset: str, model: str, settings: dict[str, str], seed: int, workdir: Path, threads: int) -> dict:
    """Train one run in this process; returns its record."""
    from gerec.devices import set_threads

    set_threads(threads)
    ws = gerec.Workspace.resolve(workdir / dataset)
    if not ws.has_dataset() and dataset in SYNTHETIC:
        gerec.synthesize(ws, gerec.SynthConfig(**SYNTHETIC[dataset]))
    elif not ws.has_dataset():
        fmt, path, items = DATASETS[dataset]
        gerec.import_data(ws, fmt, path, items)
    started = time.perf_counter()
    result = gerec.train_base(ws, model, {**settings, "seed": seed})
    metrics = read_json(ws.model_dir("base", model) / "metrics.json")
    meta = read_json(ws.model_dir("base", model) / "config.json")
    elapsed, curve = 0.0, []
    for h in result.history:
        elapsed += h["seconds"]
        curve.append([round(elapsed, 1), h["valid_NDCG@10"]])
    return {
        "dataset": dataset, "model": model, "seed": seed, "settings": {**meta["model"], **meta["train"]},
        "test": result.test, "valid": result.valid, "popularity": metrics["popularity"],
        "best_epoch": result.best_epoch, "epochs": result.epochs, "stopped": result.stopped,
        "seconds_per_epoch": metrics["seconds_per_epoch"], "train_seconds": metrics["seconds"],
        "seconds_to_best": curve[result.best_epoch - 1][0] if result.best_epoch else None, "curve": curve,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": threads, "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
    }


def summary(runs: dict[str, Any]) -> None:
    print(f"{'run':<40}{'NDCG@10':>9}{'pop.':>8}{'best/run':>10}{'s/ep':>7}{'s→best':>8}{'MB':>7}  stopped")
    for key, r in runs.items():
        print(f"{key:<40}{r['test']['NDCG@10']:>9.4f}{r['popularity']['test']['NDCG@10']:>8.4f}"
              f"{r['best_epoch']:>6}/{r['epochs']:<3}{r['seconds_per_epoch']:>7.1f}{r['seconds_to_best'] or 0:>8.0f}"
              f"{r['peak_rss_mb']:>7}  {r['stopped']}")


def plot(runs: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in runs.values()})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for key, r in runs.items():
            if r["dataset"] == dataset and r["seed"] == min(x["seed"] for x in runs.values() if x["dataset"] == dataset):
                xs, ys = zip(*r["curve"])
                threads = r.get("threads", "?")  # seconds are only comparable at the same thread count
                ax.plot(xs, ys, label=f"{key.split('/', 1)[1].rsplit('/seed', 1)[0]} ({threads} thr)")
        ax.set(title=dataset, xlabel="training seconds", ylabel="valid NDCG@10")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(CURVES, dpi=110)
    print(f"wrote {CURVES}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="ml-100k,amazon-beauty,amazon-games")
    parser.add_argument("--models", default="sasrec,gru4rec,bert4rec")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per configuration")
    parser.add_argument("--only-seed", type=int, help="run only this seed of 0..N-1 (another process or machine "
                                                      "runs the others)")
    parser.add_argument("--label", default="default", help="names the settings in the results (e.g. 'ce', 'sampled')")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="setting override key=value for every run")
    parser.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/gerec-bench")
    parser.add_argument("--summary", action="store_true", help="print the table of finished runs and exit")
    parser.add_argument("--plot", action="store_true", help="draw the curves of finished runs")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration in this process
    args = parser.parse_args()
    if args.only_seed is not None and not 0 <= args.only_seed < args.seeds:
        parser.error(f"--only-seed {args.only_seed} is not one of the seeds 0..{args.seeds - 1}")
    unknown = set(args.datasets.split(",")) - set(DATASETS) - set(SYNTHETIC)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}: choose from {sorted([*DATASETS, *SYNTHETIC])}")
    from gerec.config import parse_overrides

    settings = parse_overrides(args.set)
    if args.one:
        dataset, model, seed = args.one.split("/")
        print(json.dumps(run_one(dataset, model, settings, int(seed), Path(args.workdir), args.threads)))
        return
    results = read_json(RESULTS) if RESULTS.exists() else {"runs": {}}
    if not (args.summary or args.plot):
        for dataset in args.datasets.split(","):
            for model in args.models.split(","):
                for seed in range(args.seeds):
                    if args.only_seed is not None and seed != args.only_seed:
                        continue
                    key = f"{dataset}/{model}/{args.label}/seed{seed}"
                    if key in results["runs"]:
                        continue  # finished: a sweep resumes where it stopped
                    command = [sys.executable, __file__, "--one", f"{dataset}/{model}/{seed}", "--threads",
                               str(args.threads), "--workdir", args.workdir, *sum((["--set", s] for s in args.set), [])]
                    out = subprocess.run(command, capture_output=True, text=True)
                    if out.returncode:
                        sys.exit(f"{key} failed:\n{out.stderr[-2000:]}")
                    results = read_json(RESULTS) if RESULTS.exists() else {"runs": {}}  # other sweeps may have written
                    results["runs"][key] = {**json.loads(out.stdout.strip().splitlines()[-1]), "label": args.label,
                                            "overrides": settings}
                    write_json(RESULTS, results)
                    summary({key: results["runs"][key]})
    summary(results["runs"])
    if args.plot:
        plot(results["runs"])


if __name__ == "__main__":
    main()
