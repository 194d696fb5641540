"""How far can the format weight λ drop before the attribute scores lose their meaning? (issue 16)

LoRA fine-tuning trains ``L_rec + λ·L_format``; a small λ lets the scores follow the
recommendation loss, a large one keeps them at their zero-shot values (λ = 10, the default,
moved ML-100K's genre ROC-AUC by about ±0.01). Issue 16 asks for the λ that keeps every
genre ROC-AUC on ML-100K at 0.85 or more. For each λ this fine-tunes the encoder from scratch
on ML-100K's train split with the chosen objective (``residual``: added to a trained SASRec's
logits), re-scores items and users, and reports the genre ROC-AUCs (the labels are the
catalogue's genre flags, not the test split) and the fine-tuning loss beside the base
model's own loss on the same examples. λ is chosen on the AUCs alone: the smallest λ whose
every genre AUC is at least 0.85.

Run: python benchmarks/finetune_lambda.py --objective residual --weights 10,3,1,0.3 --threads 1
     python benchmarks/finetune_lambda.py --objective residual --weights 0.3 --epochs 5 --lr 3e-3
Writes benchmarks/results/finetune_lambda.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

import gerec
from gerec import Workspace
from gerec.artifacts import read_json, write_json
from guided_quality import DATA, ml100k_auc

RESULTS = Path(__file__).parent / "results" / "finetune_lambda.json"
FLOOR = 0.85  # issue 16: every genre ROC-AUC stays at or above this


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", default="residual", help="direct | residual")
    parser.add_argument("--weights", default="10,3,1", help="λ values, comma-separated")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workspace", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gerec-lambda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ws = Workspace.resolve(args.workspace)
    if not ws.interactions_path.exists():
        gerec.import_data(ws, "movielens", DATA / "ml-100k")
    if args.objective == "residual" and not (ws.model_dir("base", "sasrec") / "model.safetensors").exists():
        gerec.train_base(ws, "sasrec", show_progress=False)  # the converged default, seed 42
    gerec.score(ws, "movies", show_progress=False)  # zero-shot: the adapter is trained after this
    out = read_json(RESULTS) if RESULTS.exists() else {"runs": {}}
    out["runs"].setdefault("zero-shot", {"auc": ml100k_auc(ws), "date": time.strftime("%Y-%m-%d")})
    for weight in (float(w) for w in args.weights.split(",")):
        settings = {"objective": args.objective, "format_weight": weight, "epochs": args.epochs, "lr": args.lr}
        started = time.perf_counter()
        tuned = gerec.finetune(ws, "movies", settings=settings, show_progress=False)["finetune"]
        label = f"{args.objective} λ={weight:g}" + (f", {args.epochs} epochs" if args.epochs > 1 else "") + (
            f", lr {args.lr:g}" if args.lr != 1e-3 else "")
        out["runs"][label] = {
            "settings": settings, "auc": ml100k_auc(ws), "history": tuned["history"],
            "base_model": tuned.get("base_model"), "seconds": round(time.perf_counter() - started, 1),
            "date": time.strftime("%Y-%m-%d")}  # per run: the file gathers sweeps from several days
        out.update({"threads": args.threads, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "floor": FLOOR})
        write_json(RESULTS, out)  # after every λ: a stopped sweep keeps what it measured
    names = list(out["runs"]["zero-shot"]["auc"])
    print(f"{'run':<34}" + "".join(f"{n.split(' ~ ')[0][:14]:>15}" for n in names) + f"{'rec':>9}{'base rec':>10}")
    for label, r in out["runs"].items():
        last = r.get("history", [{}])[-1]
        losses = f"{last['rec']:>9.4f}{last.get('base_rec', float('nan')):>10.4f}" if last else ""
        print(f"{label:<34}" + "".join(f"{r['auc'][n]:>15.3f}" for n in names) + losses)
    ok = [r["settings"]["format_weight"] for r in out["runs"].values()
          if "settings" in r and r["settings"]["objective"] == args.objective and min(r["auc"].values()) >= FLOOR]
    print(f"smallest λ with every genre AUC ≥ {FLOOR}: {min(ok):g}" if ok else f"no λ kept every genre AUC ≥ {FLOOR}")


if __name__ == "__main__":
    main()
