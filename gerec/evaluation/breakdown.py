"""Where a gain is: metrics per bucket of the test item's popularity and of the user's history.

Buckets (PROTOCOL.md): the test item's number of *training* events — 0 (cold), 1–4, 5–19,
20+ —, the user's history length before the test item — ≤ 5, 6–20, > 20 — and, where the
dataset holds items out of training, whether the test item is one of them. Each bucket
reports its share of test events, every variant's mean, and each gain's paired-bootstrap
interval over the bucket's own users (resampled together for both variants).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gerec.data.sequences import Sequences
from gerec.evaluation.compare import GAINS, bootstrap, change_text, relative_change
from gerec.names import LABELS

ITEM_EVENTS = (("0", 0, 0), ("1–4", 1, 4), ("5–19", 5, 19), ("20+", 20, None))
HISTORY_LENGTH = (("≤ 5", 0, 5), ("6–20", 6, 20), ("> 20", 21, None))
HELD_OUT = ("cold", "warm")  # test items held out of training (`data import --cold-items`) or not
# each dimension's bucket names, in table order
DIMENSIONS = {"item_events": [b[0] for b in ITEM_EVENTS], "history_length": [b[0] for b in HISTORY_LENGTH],
              "held_out": list(HELD_OUT)}
TITLES = {"item_events": "test item's training events", "history_length": "user's history length",
          "held_out": "held-out (cold) test items"}


def _label(values: np.ndarray, buckets: tuple[tuple[str, int, int | None], ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for name, low, high in buckets:
        out[(values >= low) & (values <= (np.inf if high is None else high))] = name
    return out


def bucket_labels(seqs: Sequences, users: np.ndarray, split: str,
                  cold: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """For each evaluated user (in ``users`` order), the bucket of each dimension; with ``cold``
    (ids of items held out of training), whether the user's target is one of them."""
    _, train = seqs.train_items()
    counts = np.bincount(train, minlength=seqs.n_items + 1)
    targets = seqs.targets(users, split)
    history = seqs.lengths(users) - seqs.cut(split)
    labels = {"item_events": _label(counts[targets], ITEM_EVENTS), "history_length": _label(history, HISTORY_LENGTH)}
    if cold is not None and len(cold):
        labels["held_out"] = np.where(np.isin(targets, cold), HELD_OUT[0], HELD_OUT[1]).astype(object)
    return labels


def breakdown(per_variant: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray], names: list[str],
              n_boot: int, seed: int) -> dict[str, Any]:
    """Per dimension and bucket: share of test events, each variant's means, each gain's interval."""
    out: dict[str, Any] = {}
    total = len(next(iter(labels.values()))) if labels else 0
    for dimension in labels:
        rows = {}
        for name in DIMENSIONS[dimension]:
            mask = labels[dimension] == name
            n = int(mask.sum())
            row: dict[str, Any] = {"users": n, "share": n / total if total else 0.0, "variants": {}, "gains": {}}
            if n:
                row["variants"] = {v: {m: float(per_user[m][mask].mean()) for m in names}
                                   for v, per_user in per_variant.items()}
                _, idx = bootstrap({names[0]: per_variant[next(iter(per_variant))][names[0]][mask]}, n_boot, seed)
                for new, old in GAINS:
                    if new in per_variant and old in per_variant:
                        row["gains"][f"{new}_vs_{old}"] = {
                            m: relative_change(per_variant[new][m][mask], per_variant[old][m][mask], idx).to_dict()
                            for m in names}
            rows[name] = row
        out[dimension] = rows
    return out


def breakdown_markdown(results: dict[str, Any], metric: str = "NDCG@10") -> str:
    """Per model, one table per breakdown dimension: each bucket's share of test events, each
    variant's ``metric`` and each gain with its 95% interval."""
    lines = []
    for row in results["rows"]:
        for dimension, buckets in row.get("breakdown", {}).items():
            variants = list(row["variants"])
            gains = list(row["gains"])
            lines += ["", f"**{row['model']}, {metric} by the {TITLES[dimension]}**", "",
                      "| bucket | share of test events | " + " | ".join(LABELS[v] for v in variants) + " | "
                      + " | ".join(g.replace("_vs_", " vs ") for g in gains) + " |",
                      "|---|---:|" + "---:|" * (len(variants) + len(gains))]
            for name, b in buckets.items():
                cells = [f"{b['variants'][v][metric]:.4f}" if b["variants"] else "—" for v in variants]
                cells += [change_text(b["gains"][g][metric]) if b["gains"] else "—" for g in gains]
                lines.append(f"| {name} | {b['share']:.1%} ({b['users']:,}) | " + " | ".join(cells) + " |")
        for variant, share in row.get("attribution", {}).items():
            if share:
                top = sorted(share["importance"].items(), key=lambda kv: -kv[1])[:5]
                lines += ["", f"**{row['model']} {LABELS[variant]}**: the attribute dimensions carry "
                          f"{share['mean_share']:.1%} of a top-{share['k']} score on average (median "
                          f"{share['median_share']:.1%}); most important: "
                          + ", ".join(f"{a} {v:.3f}" for a, v in top) + " (mean |contribution|)."]
    return "\n".join(lines) + ("\n" if lines else "")
