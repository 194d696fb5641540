"""Where a gain is: metrics per bucket of the test item's popularity and of the user's history.

Buckets (PROTOCOL.md): the test item's number of *training* events — 0 (cold), 1–4, 5–19,
20+ — and the user's history length before the test item — ≤ 5, 6–20, > 20. Each bucket
reports its share of test events, every variant's mean, and each gain's paired-bootstrap
interval over the bucket's own users (resampled together for both variants).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gerec.data.sequences import Sequences
from gerec.evaluation.compare import GAINS, bootstrap, relative_change

ITEM_EVENTS = (("0", 0, 0), ("1–4", 1, 4), ("5–19", 5, 19), ("20+", 20, None))
HISTORY_LENGTH = (("≤ 5", 0, 5), ("6–20", 6, 20), ("> 20", 21, None))
DIMENSIONS = {"item_events": ITEM_EVENTS, "history_length": HISTORY_LENGTH}


def _label(values: np.ndarray, buckets: tuple[tuple[str, int, int | None], ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for name, low, high in buckets:
        out[(values >= low) & (values <= (np.inf if high is None else high))] = name
    return out


def bucket_labels(seqs: Sequences, users: np.ndarray, split: str) -> dict[str, np.ndarray]:
    """For each evaluated user (in ``users`` order), the bucket of each dimension."""
    _, train = seqs.train_items()
    counts = np.bincount(train, minlength=seqs.n_items + 1)
    item_events = counts[seqs.targets(users, split)]
    history = seqs.lengths(users) - seqs.cut(split)
    return {"item_events": _label(item_events, ITEM_EVENTS), "history_length": _label(history, HISTORY_LENGTH)}


def breakdown(per_variant: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray], names: list[str],
              n_boot: int, seed: int) -> dict[str, Any]:
    """Per dimension and bucket: share of test events, each variant's means, each gain's interval."""
    out: dict[str, Any] = {}
    total = len(next(iter(labels.values()))) if labels else 0
    for dimension, buckets in DIMENSIONS.items():
        rows = {}
        for name, _, _ in buckets:
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
