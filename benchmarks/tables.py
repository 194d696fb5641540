"""Print the Markdown tables of benchmarks/README.md from the JSON results (no hand copying).

Run: python benchmarks/tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def base_models() -> None:
    path = RESULTS / "base_models.json"
    if not path.exists():
        return
    runs = json.loads(path.read_text())["runs"]
    print("| dataset | model | MRR@10 | Recall@10 | NDCG@10 | best / run epochs | s / epoch | training s | stopped by |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in runs.values():
        t = r["test"]
        print(f"| {r['dataset']} | {r['model']} | {t['MRR@10']:.4f} | {t['Recall@10']:.4f} | {t['NDCG@10']:.4f} | "
              f"{r['best_epoch']} / {r['epochs']} | {r['seconds_per_epoch']:.1f} | {r['train_seconds']:.0f} | "
              f"{r.get('stopped', '')} |")


def guided_quality() -> None:
    path = RESULTS / "guided_quality.json"
    if not path.exists():
        return
    r = json.loads(path.read_text())
    for name, label in (("ml100k", "ML-100K: item-score ROC-AUC against genre flags"),
                        ("synthetic", "Synthetic default: Pearson correlation with the ground-truth attribute")):
        d = r[name]
        tuned = "finetuned" in d
        print(f"\n{label} ({d['items']:,} items; encoder {d['items_per_second']} items/s"
              + (f"; one fine-tuning epoch {d['finetune']['epoch_seconds']:.0f} s" if tuned else "") + ")\n")
        print("| attribute | zero-shot |" + (" fine-tuned |" if tuned else ""))
        print("|---|---:|" + ("---:|" if tuned else ""))
        for key, value in d["zero_shot"].items():
            print(f"| {key} | {value:.3f} |" + (f" {d['finetuned'][key]:.3f} |" if tuned else ""))


if __name__ == "__main__":
    base_models()
    guided_quality()
