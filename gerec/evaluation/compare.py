"""The paper-style comparison's statistics and tables: base vs reduced-only vs refined.

Every variant is evaluated on the same users; intervals come from one paired bootstrap
over users (the same resampled users for every variant of a model and for the popularity
row), so the interval of a relative change reflects the users, not two independent draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gerec.names import CONTROLS, LABELS

HEADLINE = "NDCG@10"  # the metric that picks the strongest control

GAINS = (("refined", "base"), ("refined", "continued"), ("refined", "reduced"), ("refined", "shuffled"),
         ("refined", "nouser"), ("refined", "metadata"))


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


def bootstrap(values: dict[str, np.ndarray], n_boot: int, seed: int) -> tuple[dict[str, Interval], np.ndarray]:
    """Mean and 95% percentile interval of each per-user array; also the (n_boot, n) resample index."""
    n = len(next(iter(values.values())))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n)) if n else np.zeros((n_boot, 0), int)
    out = {}
    for name, v in values.items():
        means = v[idx].mean(axis=1) if n else np.zeros(n_boot)
        out[name] = Interval(float(v.mean()) if n else 0.0, float(np.percentile(means, 2.5)),
                             float(np.percentile(means, 97.5)))
    return out, idx


def relative_change(new: np.ndarray, old: np.ndarray, idx: np.ndarray) -> Interval:
    """(mean(new) − mean(old)) / mean(old), with a paired-bootstrap 95% interval."""
    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(b > 0, a / np.where(b > 0, b, 1.0) - 1.0, np.nan)

    new_means, old_means = new[idx].mean(axis=1), old[idx].mean(axis=1)
    boots = ratio(new_means, old_means)
    point = float(ratio(np.array(new.mean()), np.array(old.mean())))
    # Where either arm scores 0 in more than 2.5% of resamples (a bucket with a hit or two,
    # cold items) the resampled ratio is a mix of "undefined" or "−100%" and a few hit-driven
    # values, so no 95% interval exists: percentiles would print a collapsed, falsely certain
    # one such as [+52.8%, +52.8%] (control without hits) or a bound of exactly −100% (new arm).
    if max((old_means <= 0).mean(), (new_means <= 0).mean()) > 0.025:
        return Interval(point, math.nan, math.nan)
    return Interval(point, float(np.nanpercentile(boots, 2.5)), float(np.nanpercentile(boots, 97.5)))


def comparison_row(model: str, per_variant: dict[str, dict[str, np.ndarray]], names: list[str], n_boot: int,
                   seed: int, budgeted: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One model's variants (per-user metric arrays, same users in the same order) with their
    intervals and the relative gains of :data:`GAINS`, all from one set of resampled users.

    ``budgeted`` variants stopped on a wall-clock budget, not by early stopping: they are shown
    (marked) but enter no gain and no headline — a budget is not convergence.
    """
    row: dict[str, Any] = {"model": model, "users": int(len(next(iter(per_variant.values()))[names[0]])),
                           "variants": {}, "gains": {}, "budgeted": sorted(budgeted)}
    idx = None
    for variant, per_user in per_variant.items():
        intervals, idx = bootstrap({n: per_user[n] for n in names}, n_boot, seed)
        row["variants"][variant] = {n: iv.to_dict() for n, iv in intervals.items()}
    compared = {v for v in per_variant if v not in budgeted}
    for new, old in GAINS:
        if new in compared and old in compared and idx is not None:
            row["gains"][f"{new}_vs_{old}"] = {
                n: relative_change(per_variant[new][n], per_variant[old][n], idx).to_dict() for n in names}
    controls = [c for c in CONTROLS if c in compared]
    if "refined" in compared and controls:  # the headline: refined vs the strongest control
        strongest = max(controls, key=lambda c: float(per_variant[c][HEADLINE].mean()))
        row["headline"] = {"control": strongest, "gain": row["gains"][f"refined_vs_{strongest}"]}
    return row


def interval_text(iv: dict[str, float]) -> str:
    """``0.0751 [0.0622, 0.0895]``: a mean and its 95% interval."""
    return f"{iv['mean']:.4f} [{iv['low']:.4f}, {iv['high']:.4f}]"


def defined(iv: dict[str, float | None] | None) -> bool:
    """Whether a relative change has a value: not where its reference scores 0 (e.g. a bucket
    where no variant hits), which results.json stores as null."""
    return bool(iv) and all(iv.get(k) is not None and math.isfinite(iv[k]) for k in ("mean", "low", "high"))


def change_parts(iv: dict[str, float | None]) -> tuple[str, str]:
    """A relative change and its 95% interval as two cells (``+12.6%``, ``[-2.7%, +30.0%]``), for
    tables that give the interval its own column; the interval is empty where the control has
    too few hits for one, and the change is "—" where it is undefined."""
    if defined(iv):
        return f"{iv['mean']:+.1%}", f"[{iv['low']:+.1%}, {iv['high']:+.1%}]"
    mean = iv.get("mean") if iv else None
    return (f"{mean:+.1%}", "") if mean is not None and math.isfinite(mean) else ("—", "")


def change_text(iv: dict[str, float | None]) -> str:
    """``+12.6% [-2.7%, +30.0%]``: a relative change and its 95% interval; "—" where it is
    undefined; the change alone, marked, where the control has too few hits for an interval."""
    change, interval = change_parts(iv)
    if interval or change == "—":
        return f"{change} {interval}".rstrip()
    return f"{change} (too few hits for an interval)"


def seeds_text(seeds: dict[str, Any] | None) -> str:
    """`` (3 seeds, sd 0.0012)``: how many seeds an arm's row averages and the spread of their
    mean NDCG@10; nothing for one seed."""
    if not seeds or len(seeds["runs"]) < 2:
        return ""
    return f" ({len(seeds['runs'])} seeds, sd {float(np.std(seeds['means'][HEADLINE], ddof=1)):.4f})"


def table_rows(results: dict[str, Any], metrics: list[str] | tuple[str, ...]) -> list[list[str]]:
    """One row per (model, variant) and per relative change: dataset, model, label, then each
    metric; the popularity baseline (the floor every model must clear) first."""
    rows = []
    if results.get("popularity"):
        rows.append([results["dataset"], "—", "popularity",
                     *(interval_text(results["popularity"][m]) for m in metrics)])
    for row in results["rows"]:
        for variant, values in row["variants"].items():
            label = LABELS[variant] + seeds_text(row.get("seeds", {}).get(variant))
            label += " (time budget: not compared)" if variant in row.get("budgeted", ()) else ""
            rows.append([results["dataset"], row["model"], label, *(interval_text(values[m]) for m in metrics)])
        for gain, values in row["gains"].items():
            new, old = gain.split("_vs_")
            rows.append([results["dataset"], row["model"], f"{LABELS[new]} vs {LABELS[old]}",
                         *(change_text(values[m]) for m in metrics)])
    return rows


def markdown(results: dict[str, Any], metrics: list[str] | None = None) -> str:
    """The results as a Markdown table: one row per (model, variant), gains below."""
    metrics = metrics or results["metrics"]
    lines = [f"Dataset **{results['dataset']}**, {results['split']} split, full-catalogue ranking with history "
             f"excluded; mean over users (of each user's mean over an arm's seeds) [95% bootstrap interval, "
             f"{results['bootstrap']} resamples]; sd: spread of the seeds' {HEADLINE}.", "",
             "| dataset | model | variant | " + " | ".join(metrics) + " |",
             "|---|---|---|" + "---:|" * len(metrics)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results, metrics)]
    return "\n".join(lines) + "\n"
