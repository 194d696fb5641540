"""Do the attribute scores mean what their names say? And how fast are they made?

* ML-100K: ROC-AUC of each genre-like movie attribute's item scores against the genre
  flags (humor ↔ Comedy, darkness ↔ Horror/Thriller, family friendliness ↔
  Children's/Animation, romance ↔ Romance, action intensity ↔ Action).
* Synthetic default: Pearson correlation of each score with its ground-truth attribute.
* Encoder throughput (items/s) on this machine.

With --finetune, each dataset is also LoRA fine-tuned (default settings, one epoch) and
re-scored, and the same figures are reported after fine-tuning.

Run: python benchmarks/guided_quality.py [--finetune] [--threads 2]
Writes benchmarks/results/guided_quality.json and prints tables.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from sklearn.metrics import roc_auc_score

import gerec
from gerec import Workspace
from gerec.artifacts import write_json
from gerec.steps.report import truth_recovery

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GENRE_ATTRIBUTES = {"humor": ["Comedy"], "darkness": ["Horror", "Thriller"],
                    "family friendliness": ["Children's", "Animation"], "romance": ["Romance"],
                    "action intensity": ["Action"]}


def ml100k_genres(ws: Workspace) -> dict[str, np.ndarray]:
    """Genre flags per dense item id, read back from the imported item texts."""
    texts = pq.read_table(ws.items_path, columns=["text"])["text"].to_pylist()
    flags = {}
    for genres in {g for gs in GENRE_ATTRIBUTES.values() for g in gs}:
        flags[genres] = np.array([f" {genres}" in t.split("Genres:")[-1] or f":{genres}" in t for t in texts])
    return flags


def ml100k_auc(ws: Workspace) -> dict[str, float]:
    items = pq.read_table(ws.item_attributes_path)
    flags = ml100k_genres(ws)
    out = {}
    for attribute, genres in GENRE_ATTRIBUTES.items():
        label = np.any([flags[g] for g in genres], axis=0)
        out[f"{attribute} ~ {'/'.join(genres)}"] = round(float(roc_auc_score(label, items[attribute].to_numpy())), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--finetune", action="store_true", help="also LoRA fine-tune on each dataset and re-score")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: dict = {"threads": args.threads, "machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}

    ml = Workspace.resolve(tempfile.mkdtemp(prefix="gerec-ml-"))
    gerec.import_data(ml, "movielens", DATA / "ml-100k")
    synth = Workspace.resolve(tempfile.mkdtemp(prefix="gerec-synth-"))
    gerec.synthesize(synth)
    for name, ws, measure in (("ml100k", ml, ml100k_auc), ("synthetic", synth, truth_recovery)):
        manifest = gerec.score(ws, "movies", show_progress=False)
        out[name] = {"items": manifest["items"]["rows"], "items_per_second": manifest["items"]["items_per_second"],
                     "users_scored": manifest["users"]["rows"], "score_seconds": manifest["seconds"],
                     "zero_shot": measure(ws)}
        if args.finetune:
            tuned = gerec.finetune(ws, "movies", show_progress=False)["finetune"]  # trains, then re-scores
            out[name]["finetune"] = {"epoch_seconds": tuned["history"][-1]["seconds"], "history": tuned["history"]}
            out[name]["finetuned"] = measure(ws)
    write_json(Path(__file__).parent / "results" / "guided_quality.json", out)
    for name, label in (("ml100k", "ML-100K genre ROC-AUC"), ("synthetic", "synthetic: correlation with ground truth")):
        r = out[name]
        print(f"{label} ({r['items']} items, {r['items_per_second']} items/s"
              + (f", fine-tuning {r['finetune']['epoch_seconds']:.0f} s/epoch)" if args.finetune else ")"))
        for key, value in r["zero_shot"].items():
            print(f"  {key:<45}{value:>7.3f}" + (f"{r['finetuned'][key]:>8.3f}" if args.finetune else ""))


if __name__ == "__main__":
    main()
