"""Do the attribute scores mean what their names say? And how fast are they made?

* ML-100K: ROC-AUC of each genre-like movie attribute's item scores against the genre
  flags (humor ↔ Comedy, darkness ↔ Horror/Thriller, family friendliness ↔
  Children's/Animation, romance ↔ Romance, action intensity ↔ Action).
* Synthetic default: Pearson correlation of each score with its ground-truth attribute.
* Encoder throughput (items/s) on this machine.

Run: python benchmarks/guided_quality.py [--adapter DIR] [--threads 2]
Writes benchmarks/results/guided_quality[-<tag>].json and prints tables.
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

from gerec import Workspace
from gerec.artifacts import write_json
from gerec.data import import_dataset
from gerec.data.synth import SynthConfig, import_synthetic, synthesize
from gerec.guided.encoder import EncoderScorer
from gerec.guided.schema import load_schema
from gerec.guided.score import score_workspace

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default=None, help="a LoRA adapter from `gerec guided finetune`")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="zero-shot")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scorer = EncoderScorer()
    schema = load_schema("movies")
    out: dict = {"tag": args.tag, "adapter": args.adapter, "threads": args.threads, "machine": f"{os.cpu_count()} cores",
                 "date": time.strftime("%Y-%m-%d")}

    ws = Workspace.resolve(tempfile.mkdtemp(prefix="gerec-ml-"))
    import_dataset(ws, "movielens", DATA / "ml-100k")
    manifest = score_workspace(ws, scorer, schema, show_progress=False)
    out["ml100k_items_per_second"] = manifest["items"]["items_per_second"]
    items = pq.read_table(ws.features_dir / "item_attributes.parquet")
    flags = ml100k_genres(ws)
    out["ml100k_auc"] = {}
    for attribute, genres in GENRE_ATTRIBUTES.items():
        label = np.any([flags[g] for g in genres], axis=0)
        out["ml100k_auc"][f"{attribute} ~ {'/'.join(genres)}"] = round(float(roc_auc_score(label, items[attribute].to_numpy())), 3)

    ws = Workspace.resolve(tempfile.mkdtemp(prefix="gerec-synth-"))
    synthesize(ws, SynthConfig())
    import_synthetic(ws)
    started = time.perf_counter()
    manifest = score_workspace(ws, scorer, schema, show_progress=False)
    out["synthetic_items_per_second"] = manifest["items"]["items_per_second"]
    out["synthetic_score_seconds"] = round(time.perf_counter() - started, 1)
    scores = pq.read_table(ws.features_dir / "item_attributes.parquet").to_pandas()
    id_map = pq.read_table(ws.id_map_path).to_pandas()
    original = id_map[id_map.kind == "item"].set_index("id")["original_id"]
    truth = pq.read_table(ws.synthetic_dir / "item_truth.parquet").to_pandas().set_index("item")
    truth = truth.loc[scores.item_id.map(original)]
    out["synthetic_correlation"] = {a: round(float(np.corrcoef(scores[a], truth[a])[0, 1]), 3)
                                    for a in schema.names if a in truth.columns}
    name = "guided_quality" + ("" if args.tag == "zero-shot" else f"-{args.tag}")
    write_json(Path(__file__).parent / "results" / f"{name}.json", out)
    print(f"ML-100K genre AUC ({args.tag}), {out['ml100k_items_per_second']} items/s")
    for k, v in out["ml100k_auc"].items():
        print(f"  {k:<45}{v:.3f}")
    print(f"synthetic correlation with ground truth ({out['synthetic_items_per_second']} items/s)")
    for k, v in out["synthetic_correlation"].items():
        print(f"  {k:<45}{v:.3f}")


if __name__ == "__main__":
    main()
