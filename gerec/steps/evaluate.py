"""Evaluation verb: every trained variant of each base model (and popularity) on the same
users, with paired-bootstrap intervals; ``reports/results.{json,md}``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gerec.artifacts import atomic_file, read_json, write_json
from gerec.config import check
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.evaluation.attribution import attribute_shares
from gerec.evaluation.breakdown import breakdown, breakdown_markdown, bucket_labels
from gerec.evaluation.compare import bootstrap, comparison_row, markdown
from gerec.evaluation.metrics import KS, METRICS, metrics_from_ranks
from gerec.evaluation.protocol import evaluate as evaluate_model
from gerec.models.popularity import Popularity
from gerec.names import VARIANTS, parse_replica
from gerec.steps.data import cold_items, sequences
from gerec.training import load_checkpoint
from gerec.workspace import Workspace


MAX_BOOTSTRAP_CELLS = 200_000_000  # resamples × users indices are held at once (1.6 GB)
NAMES = [f"{metric}@{k}" for metric in METRICS for k in KS]  # table order: by metric, then K


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


@dataclass
class Run:
    """One trained replica of one arm, evaluated: all that pooling it with other seeds needs."""

    key: str
    users: np.ndarray
    ranks: np.ndarray  # 0-based pessimistic rank of each user's target
    budgeted: bool  # stopped on a wall-clock budget, not by early stopping
    shares: dict[str, Any] | None  # attribute shares of top-K scores (models with attributes)


def evaluate_runs(ws: Workspace, seqs: Sequences, keys: list[str], split: str = "test",
                  arms: list[str] | None = None, batch_size: int = 512,
                  device: str | None = None) -> dict[str, list[Run]]:
    """Each trained arm (default: every variant; a named arm must exist) of the replicas ``keys``,
    on ``seqs`` (the workspace's :func:`~gerec.steps.data.sequences`)."""
    out: dict[str, list[Run]] = {}
    for variant in arms or VARIANTS:
        found = [key for key in keys if (ws.model_dir(variant, key) / "model.safetensors").exists()]
        if not found:
            if arms:
                raise GerecError(f"arm '{variant}' of {keys[0]} is not trained in {ws.root} "
                                 f"(models/{variant}-{keys[0]} is missing)")
            continue
        out[variant] = []
        for key in found:
            folder = ws.model_dir(variant, key)
            net = load_checkpoint(folder, device)
            result = evaluate_model(net, seqs, split, max_len=int(net.config.max_len), batch_size=batch_size)
            out[variant].append(Run(key, result.users, result.ranks,
                                    read_json(folder / "metrics.json").get("stopped") == "time budget",
                                    attribute_shares(net, seqs, split, batch_size=batch_size) if net.attributes else None))
    return out


def model_row(model: str, runs: dict[str, list[Run]], labels: dict[str, np.ndarray], names: list[str],
              n_boot: int, seed: int) -> dict[str, Any]:
    """One model's comparison row from its evaluated runs (the same users in every run): each
    user's metrics averaged over an arm's seeds, then the paired bootstrap over users."""
    users = next(iter(runs.values()))[0].users
    if any(not np.array_equal(r.users, users) for arm in runs.values() for r in arm):
        raise GerecError(f"the runs of {model} were evaluated on different users: they cannot be paired")
    per_variant, seeds, shares = {}, {}, {}
    for variant, arm in runs.items():
        per_seed = [{n: v.numpy() for n, v in metrics_from_ranks(torch.from_numpy(r.ranks), KS).items()} for r in arm]
        per_variant[variant] = {n: np.mean([p[n] for p in per_seed], axis=0) for n in names}
        seeds[variant] = {"runs": [r.key for r in arm], "means": {n: [float(p[n].mean()) for p in per_seed] for n in names}}
        if all(r.shares for r in arm):
            shares[variant] = _mean_shares([r.shares for r in arm if r.shares])
    budgeted = frozenset(v for v, arm in runs.items() if any(r.budgeted for r in arm))
    row = comparison_row(model, per_variant, names, n_boot, seed, budgeted)
    row["seeds"] = seeds
    row["breakdown"] = breakdown(per_variant, labels, names, n_boot, seed)
    row["attribution"] = shares
    return row


def results_document(ws: Workspace, seqs: Sequences, rows: list[dict[str, Any]], split: str, n_boot: int,
                     seed: int, batch_size: int = 512) -> dict[str, Any]:
    """The results document around comparison rows: the popularity row on the same resampled
    users, the dataset's name and its held-out items."""
    popular = evaluate_model(Popularity.fit(seqs), seqs, split, batch_size=batch_size)
    intervals, _ = bootstrap({n: popular.per_user[n] for n in NAMES}, n_boot, seed)  # the same resampled users
    cold = cold_items(ws)
    return {"dataset": dataset_name(ws), "split": split, "bootstrap": n_boot, "metrics": NAMES,
            "popularity": {n: iv.to_dict() for n, iv in intervals.items()}, "rows": rows,
            "cold_items": {"items": int(len(cold)),
                           "test_events": int(np.isin(seqs.targets(popular.users, split), cold).sum())}}


def labels_for(ws: Workspace, seqs: Sequences, users: np.ndarray, split: str) -> dict[str, np.ndarray]:
    """The breakdown buckets of ``users`` in this workspace's data."""
    return bucket_labels(seqs, users, split, cold_items(ws))


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
    rows = []
    for model, keys in replicas(ws, models).items():
        runs = evaluate_runs(ws, seqs, keys, split, arms, batch_size, device)
        if runs:
            users = next(iter(runs.values()))[0].users
            rows.append(model_row(model, runs, labels_for(ws, seqs, users, split), NAMES, n_boot, seed))
    results = results_document(ws, seqs, rows, split, n_boot, seed, batch_size)
    if write and rows:
        write_results(ws, results)
    return results


def write_results(ws: Workspace, results: dict[str, Any]) -> None:
    """``reports/results.json`` (everything) and ``results.md`` (the table), atomically."""
    write_json(ws.results_path, results)
    with atomic_file(ws.results_path.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(results) + breakdown_markdown(results), encoding="utf-8")

