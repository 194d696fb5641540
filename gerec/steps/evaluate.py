"""Evaluation verb: every trained variant of each base model (and popularity) on the same
users, with paired-bootstrap intervals; ``reports/results.{json,md}``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from gerec.artifacts import atomic_file, read_json, write_json
from gerec.config import check
from gerec.errors import GerecError
from gerec.evaluation.attribution import attribute_shares
from gerec.evaluation.breakdown import breakdown, breakdown_markdown, bucket_labels
from gerec.evaluation.compare import bootstrap, comparison_row, markdown
from gerec.evaluation.metrics import KS, METRICS
from gerec.evaluation.protocol import evaluate as evaluate_model
from gerec.models.popularity import Popularity
from gerec.names import VARIANTS, parse_replica
from gerec.steps.data import cold_items, sequences
from gerec.training import load_checkpoint
from gerec.workspace import Workspace


MAX_BOOTSTRAP_CELLS = 200_000_000  # resamples × users indices are held at once (1.6 GB)


def dataset_name(ws: Workspace) -> str:
    """A short name for the workspace's dataset: ``synthetic`` or the source folder's name."""
    sources = list(ws.data_manifest()["source"])
    first = Path(sources[0]) if sources else ws.root
    return "synthetic" if first.parent == ws.synthetic_dir else first.parent.name


def replicas(ws: Workspace, models: list[str] | None) -> dict[str, list[str]]:
    """Model keys to evaluate, grouped by architecture: every trained replica of a named model
    (``sasrec``: ``sasrec``, ``sasrec-seed1`` ...), or only the replica a key names."""
    trained: dict[str, list[str]] = {}
    for key in sorted({key for _, key in ws.trained()}, key=lambda key: (len(key), key)):
        with contextlib.suppress(GerecError):  # a folder gerec did not name is not a replica
            trained.setdefault(parse_replica(key)[0], []).append(key)
    groups: dict[str, list[str]] = {}
    for name in models or sorted(trained):
        model, k = parse_replica(name)
        keys = [name] if k else trained.get(model, [])
        groups[model] = list(dict.fromkeys(groups.get(model, []) + keys))  # in order, each once
    return groups


def _mean_shares(shares: list[dict[str, Any]]) -> dict[str, Any]:
    """The attribute shares of several replicas, averaged (each replica is one seed)."""
    first = shares[0]
    out = {"k": first["k"], "seeds": len(shares),
           "mean_share": float(np.mean([s["mean_share"] for s in shares])),
           "median_share": float(np.mean([s["median_share"] for s in shares])),
           "importance": {a: float(np.mean([s["importance"][a] for s in shares])) for a in first["importance"]}}
    if all("learned_scales" in s for s in shares):
        out["learned_scales"] = {a: float(np.mean([s["learned_scales"][a] for s in shares]))
                                 for a in first["learned_scales"]}
    return out


def evaluate(ws: Workspace, models: list[str] | None = None, split: str = "test", n_boot: int = 1000, seed: int = 0,
             batch_size: int = 512, device: str | None = None, write: bool = True,
             arms: list[str] | None = None) -> dict[str, Any]:
    """Evaluate the trained ``arms`` (default: every trained variant) of ``models`` (default: all
    trained); returns the results document and (``write``) saves it as ``reports/results.json``
    and ``results.md``. Naming an arm that is not trained is an error, not a silent omission.

    Replicas of a multi-seed comparison (``<model>-seed<k>``) are one row: each user's metrics
    are averaged over an arm's seeds before the paired bootstrap over users, and each seed's
    mean is kept for the seed spread.
    """
    unknown = [a for a in arms or () if a not in VARIANTS]
    if unknown:
        raise GerecError(f"unknown arm '{unknown[0]}'; choose from {', '.join(VARIANTS)}")
    seqs = sequences(ws)
    check("bootstrap resamples", n_boot, 1, MAX_BOOTSTRAP_CELLS // max(len(seqs.users), 1))
    names = [f"{metric}@{k}" for metric in METRICS for k in KS]  # table order: by metric, then K
    cold = cold_items(ws)
    rows = []
    for model, keys in replicas(ws, models).items():
        per_variant, users, shares, budgeted, seeds = {}, None, {}, set(), {}
        for variant in arms or VARIANTS:
            runs = [key for key in keys if (ws.model_dir(variant, key) / "model.safetensors").exists()]
            if not runs:
                if arms:
                    raise GerecError(f"arm '{variant}' of {model} is not trained in {ws.root} "
                                     f"(models/{variant}-{model} is missing)")
                continue
            per_seed, seed_shares = [], []
            for key in runs:
                folder = ws.model_dir(variant, key)
                net = load_checkpoint(folder, device)
                result = evaluate_model(net, seqs, split, max_len=int(net.config.max_len), batch_size=batch_size)
                per_seed.append(result.per_user)
                users = result.users
                if read_json(folder / "metrics.json").get("stopped") == "time budget":
                    budgeted.add(variant)
                if net.attributes:
                    seed_shares.append(attribute_shares(net, seqs, split, batch_size=batch_size))
            per_variant[variant] = {n: np.mean([p[n] for p in per_seed], axis=0) for n in names}
            seeds[variant] = {"runs": runs, "means": {n: [float(p[n].mean()) for p in per_seed] for n in names}}
            if seed_shares:
                shares[variant] = _mean_shares(seed_shares)
        if per_variant:
            row = comparison_row(model, per_variant, names, n_boot, seed, frozenset(budgeted))
            row["seeds"] = seeds
            row["breakdown"] = breakdown(per_variant, bucket_labels(seqs, users, split, cold), names, n_boot, seed)
            row["attribution"] = shares
            rows.append(row)
    popular = evaluate_model(Popularity.fit(seqs), seqs, split, batch_size=batch_size)
    intervals, _ = bootstrap({n: popular.per_user[n] for n in names}, n_boot, seed)  # the same resampled users
    results = {"dataset": dataset_name(ws), "split": split, "bootstrap": n_boot, "metrics": names,
               "popularity": {n: iv.to_dict() for n, iv in intervals.items()}, "rows": rows,
               "cold_items": {"items": int(len(cold)),
                              "test_events": int(np.isin(seqs.targets(popular.users, split), cold).sum())}}
    if write and rows:
        write_results(ws, results)
    return results


def write_results(ws: Workspace, results: dict[str, Any]) -> None:
    """``reports/results.json`` (everything) and ``results.md`` (the table), atomically."""
    write_json(ws.results_path, results)
    with atomic_file(ws.results_path.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(results) + breakdown_markdown(results), encoding="utf-8")

