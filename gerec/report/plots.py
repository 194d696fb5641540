"""The report's figures (matplotlib, Agg backend), each written atomically as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gerec.artifacts import atomic_file
from gerec.evaluation.breakdown import TITLES
from gerec.evaluation.compare import defined
from gerec.names import LABELS

COLORS = {"base": "#8d99ae", "continued": "#5c677d", "reduced": "#e9c46a", "guided": "#f4a261",
          "refined": "#2a9d8f", "shuffled": "#e76f51", "nouser": "#90be6d",
          "metadata": "#8d6e97"}  # one per arm (gerec.names.VARIANTS)
HEADLINE = ("MRR@10", "Recall@10", "NDCG@10")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def metric_bars(results: dict[str, Any], path: Path) -> Path:
    """Headline metrics per model and variant, with the 95% bootstrap interval as error bars."""
    plt = _pyplot()
    rows = results["rows"]
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(4 * len(HEADLINE), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], HEADLINE):
        variants = [v for v in COLORS if any(v in row["variants"] for row in rows)]
        width = 0.8 / max(len(variants), 1)
        for j, variant in enumerate(variants):
            x = [i + (j - (len(variants) - 1) / 2) * width for i, row in enumerate(rows) if variant in row["variants"]]
            vals = [row["variants"][variant][metric] for row in rows if variant in row["variants"]]
            mean = np.array([v["mean"] for v in vals])
            err = np.array([[v["mean"] - v["low"] for v in vals], [v["high"] - v["mean"] for v in vals]])
            ax.bar(x, mean, width, yerr=err, capsize=3, color=COLORS[variant], label=LABELS[variant])
        ax.set_xticks(range(len(rows)), [row["model"] for row in rows])
        ax.set_title(metric)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{results['dataset']}: {results['split']} split, 95% bootstrap intervals", fontsize=10)
    return _save(fig, path)


def bucket_gains(results: dict[str, Any], path: Path, metric: str = "NDCG@10") -> Path | None:
    """Refined vs its strongest control per bucket (test item's training events, user's history
    length), with the paired 95% interval; None when no model has a breakdown."""
    rows = [r for r in results["rows"] if r.get("breakdown") and r.get("headline")]
    if not rows:
        return None
    dimensions = list(rows[0]["breakdown"])
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(dimensions), figsize=(5 * len(dimensions), 3.2 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        gain = f"refined_vs_{row['headline']['control']}"
        for ax, dimension in zip(ax_row, dimensions):
            names, means, errs = [], [], []
            for name, bucket in row["breakdown"][dimension].items():
                iv = bucket["gains"].get(gain, {}).get(metric) if bucket["gains"] else None
                if not defined(iv):
                    continue  # no test events there, or a reference that never hits
                names.append(f"{name}\n{bucket['share']:.0%} of events")
                means.append(100 * iv["mean"])
                errs.append([100 * (iv["mean"] - iv["low"]), 100 * (iv["high"] - iv["mean"])])
            if means:
                ax.bar(range(len(means)), means, yerr=np.array(errs).T, capsize=4,
                       color=[COLORS["refined"] if m >= 0 else "#999999" for m in means])
                ax.set_xticks(range(len(means)), names, fontsize=8)
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_ylabel(f"{metric} change, %")
            ax.set_title(f"{row['model']}: refined vs {LABELS[row['headline']['control']]}, by {TITLES.get(dimension, dimension)}",
                         fontsize=9)
    return _save(fig, path)


def training_curves(histories: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """Validation NDCG@10 and training loss per epoch for every trained model."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, history in sorted(histories.items()):
        epochs = [h["epoch"] for h in history]
        style = "-" if name.startswith("refined") else "--" if name.startswith("reduced") else ":"
        left.plot(epochs, [h["valid_NDCG@10"] for h in history], style, label=name)
        right.plot(epochs, [h["loss"] for h in history], style, label=name)
    left.set(xlabel="epoch", ylabel="valid NDCG@10", title="validation NDCG@10")
    right.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    left.legend(fontsize=7)
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def score_distributions(scores: dict[str, np.ndarray], path: Path) -> Path:
    """One histogram per attribute of the language model's item scores (1–9)."""
    plt = _pyplot()
    cols = 4
    rows = int(np.ceil(len(scores) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows), squeeze=False)
    for ax, (name, values) in zip(axes.ravel(), scores.items()):
        ax.hist(values, bins=30, range=(1, 9), color="#2a9d8f")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(scores):]:
        ax.axis("off")
    return _save(fig, path)


def recovery_bars(correlations: dict[str, float], path: Path) -> Path:
    """Correlation of each attribute's scores with the synthetic ground truth."""
    plt = _pyplot()
    names = list(correlations)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, [correlations[n] for n in names], color="#2a9d8f")
    ax.set_xlim(-1, 1)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Pearson correlation with the ground-truth attribute")
    return _save(fig, path)


def contributions_chart(items: list[dict[str, Any]], attributes: list[str], path: Path) -> Path:
    """Each recommended item's score as stacked per-attribute contributions plus the latent remainder."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(items) + 2.4))
    labels = [item["title"][:40] for item in items]
    pos, neg = np.zeros(len(items)), np.zeros(len(items))
    for j, name in enumerate([*attributes, "latent"]):
        values = np.array([item["attributes"].get(name, 0.0) if name != "latent" else item["latent"] for item in items])
        left = np.where(values >= 0, pos, neg)
        ax.barh(labels, values, left=left, color="#bbbbbb" if name == "latent" else cmap(j % 10), label=name)
        pos += np.clip(values, 0, None)
        neg += np.clip(values, None, 0)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to the score")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    return _save(fig, path)
