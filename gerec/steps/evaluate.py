"""Evaluation verb: every trained variant of each base model (and popularity) on the same
users, with paired-bootstrap intervals; ``reports/results.{json,md}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gerec.artifacts import atomic_file, read_json, write_json
from gerec.config import check
from gerec.errors import GerecError
from gerec.evaluation.attribution import attribute_shares
from gerec.evaluation.breakdown import breakdown, bucket_labels
from gerec.evaluation.compare import bootstrap, breakdown_markdown, comparison_row, markdown
from gerec.evaluation.metrics import KS, METRICS
from gerec.evaluation.protocol import evaluate as evaluate_model
from gerec.models.popularity import Popularity
from gerec.names import VARIANTS
from gerec.steps.data import sequences
from gerec.training import load_checkpoint
from gerec.workspace import Workspace


MAX_BOOTSTRAP_CELLS = 200_000_000  # resamples × users indices are held at once (1.6 GB)


def dataset_name(ws: Workspace) -> str:
    """A short name for the workspace's dataset: ``synthetic`` or the source folder's name."""
    sources = list(ws.data_manifest()["source"])
    first = Path(sources[0]) if sources else ws.root
    return "synthetic" if first.parent == ws.synthetic_dir else first.parent.name


def evaluate(ws: Workspace, models: list[str] | None = None, split: str = "test", n_boot: int = 1000, seed: int = 0,
             batch_size: int = 512, device: str | None = None, write: bool = True,
             arms: list[str] | None = None) -> dict[str, Any]:
    """Evaluate the trained ``arms`` (default: every trained variant) of ``models`` (default: all
    trained); returns the results document and (``write``) saves it as ``reports/results.json``
    and ``results.md``. Naming an arm that is not trained is an error, not a silent omission."""
    unknown = [a for a in arms or () if a not in VARIANTS]
    if unknown:
        raise GerecError(f"unknown arm '{unknown[0]}'; choose from {', '.join(VARIANTS)}")
    seqs = sequences(ws)
    check("bootstrap resamples", n_boot, 1, MAX_BOOTSTRAP_CELLS // max(len(seqs.users), 1))
    models = models or sorted({model for _, model in ws.trained()})
    names = [f"{metric}@{k}" for metric in METRICS for k in KS]  # table order: by metric, then K
    rows = []
    for model in models:
        per_variant, users, shares, budgeted = {}, None, {}, set()
        for variant in arms or VARIANTS:
            folder = ws.model_dir(variant, model)
            if not (folder / "model.safetensors").exists():
                if arms:
                    raise GerecError(f"arm '{variant}' of {model} is not trained in {ws.root} "
                                     f"(models/{folder.name} is missing)")
                continue
            net = load_checkpoint(folder, device)
            result = evaluate_model(net, seqs, split, max_len=int(net.config.max_len), batch_size=batch_size)
            per_variant[variant], users = result.per_user, result.users
            if read_json(folder / "metrics.json").get("stopped") == "time budget":
                budgeted.add(variant)
            if net.attributes:
                shares[variant] = attribute_shares(net, seqs, split, batch_size=batch_size)
        if per_variant:
            row = comparison_row(model, per_variant, names, n_boot, seed, frozenset(budgeted))
            row["breakdown"] = breakdown(per_variant, bucket_labels(seqs, users, split), names, n_boot, seed)
            row["attribution"] = shares
            rows.append(row)
    popular = evaluate_model(Popularity.fit(seqs), seqs, split, batch_size=batch_size).per_user
    intervals, _ = bootstrap({n: popular[n] for n in names}, n_boot, seed)  # the same resampled users
    results = {"dataset": dataset_name(ws), "split": split, "bootstrap": n_boot, "metrics": names,
               "popularity": {n: iv.to_dict() for n, iv in intervals.items()}, "rows": rows}
    if write and rows:
        write_results(ws, results)
    return results


def write_results(ws: Workspace, results: dict[str, Any]) -> None:
    """``reports/results.json`` (everything) and ``results.md`` (the table), atomically."""
    write_json(ws.results_path, results)
    with atomic_file(ws.results_path.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(results) + breakdown_markdown(results), encoding="utf-8")

