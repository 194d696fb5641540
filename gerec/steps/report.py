"""Report verb: gather what a workspace holds into one document, draw its figures, write HTML
and Markdown.

The report reads only artifacts (the dataset manifest, ``reports/results.json``, the models'
training histories, the guided scores, the index), so it can be regenerated at any time
without retraining. ``reports/report.json`` keeps the numbers behind every table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from gerec import __version__
from gerec.artifacts import atomic_file, read_json, sha256_file, write_json
from gerec.errors import GerecError
from gerec.names import DEFAULT_INDEX
from gerec.report import plots
from gerec.report.render import html, markdown
from gerec.serving.answers import recommendations
from gerec.steps.data import sequences, stats
from gerec.steps.recommend import load_recommender
from gerec.workspace import Workspace


def is_synthetic(ws: Workspace) -> bool:
    """True when the workspace's dataset was imported from its own synthetic folder (ground truth known).

    Compared by content hash, so a workspace copied or moved elsewhere is still recognised.
    """
    synthetic = ws.synthetic_dir / "interactions.parquet"
    if not synthetic.exists() or not (ws.synthetic_dir / "item_truth.parquet").exists():
        return False
    return sha256_file(synthetic) in ws.data_manifest().get("source", {}).values()


def truth_recovery(ws: Workspace) -> dict[str, float]:
    """Pearson correlation between each attribute's item scores and the synthetic ground truth."""
    scores = pq.read_table(ws.item_attributes_path).to_pandas()
    id_map = pq.read_table(ws.id_map_path).to_pandas()
    original = id_map[id_map.kind == "item"].set_index("id")["original_id"]
    truth = pq.read_table(ws.synthetic_dir / "item_truth.parquet").to_pandas().set_index("item")
    truth = truth.loc[scores.item_id.map(original)]
    names = [c for c in scores.columns if c in truth.columns]
    return {a: round(float(np.corrcoef(scores[a], truth[a])[0, 1]), 3) for a in names}


def training_histories(ws: Workspace) -> dict[str, list[dict[str, float]]]:
    """Per-epoch loss and validation NDCG@10 of every trained model, by its published name (a
    glob of ``models/`` would also find the versioned folders behind the names, twice each)."""
    out = {}
    for variant, model in ws.trained():
        state = ws.model_dir(variant, model) / "state.json"
        history = read_json(state).get("history", []) if state.exists() else []
        if history:
            out[f"{variant}-{model}"] = history
    return out


def example_users(ws: Workspace, n: int = 3, seed: int = 0) -> list[int]:
    """``n`` users chosen reproducibly among those with at least five events."""
    seqs = sequences(ws)
    users = seqs.users[seqs.lengths(seqs.users) >= 5]
    return sorted(int(u) for u in np.random.default_rng(seed).choice(users, size=min(n, len(users)), replace=False))


def case_studies(ws: Workspace, index: str, synthetic: bool, n_users: int = 3, k: int = 5) -> list[dict[str, Any]]:
    """For a few users: recent history, the language model's attribute profile, top-k with reasons
    (and, on synthetic data, the user's true favourite genre)."""
    recommender = load_recommender(ws, index)
    users = pq.read_table(ws.user_attributes_path).to_pandas().set_index("user_id")
    truth = None
    if synthetic:
        id_map = pq.read_table(ws.id_map_path).to_pandas()
        original = id_map[id_map.kind == "user"].set_index("id")["original_id"]
        genres = pq.read_table(ws.synthetic_dir / "user_truth.parquet").to_pandas().set_index("user")["favourite_genre"]
        truth = {u: genres[original[u]] for u in original.index}
    out = []
    for user in example_users(ws, n_users):
        answer = recommendations(recommender, user_id=user, k=k)
        profile = {a: float(users.loc[user, a]) for a in recommender.attributes} if user in users.index else {}
        out.append({"user_id": user, "history": [recommender.titles.get(i, str(i)) for i in answer["history"][-8:]],
                    "profile": profile, "favourite_genre": truth.get(user) if truth else None,
                    "items": answer["items"]})
    return out


def report_data(ws: Workspace, index: str = DEFAULT_INDEX) -> dict[str, Any]:
    """Everything the report shows, as one JSON-able document."""
    if not ws.results_path.exists():
        raise GerecError(f"no results in {ws.reports_dir}: evaluate first (`gerec evaluate` or `gerec run`)")
    guided = read_json(ws.guided_manifest_path) if ws.guided_manifest_path.exists() else None
    index_manifest = ws.index_dir(index) / "manifest.json"
    has_index = index_manifest.exists()
    synthetic = is_synthetic(ws)
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "gerec_version": __version__, "workspace": str(ws.root),
        "stats": stats(ws), "results": read_json(ws.results_path), "guided": guided,
        "synthetic": synthetic, "recovery": truth_recovery(ws) if guided and synthetic else {},
        "index": read_json(index_manifest) if has_index else None,
        "cases": case_studies(ws, index, synthetic) if has_index and guided else [],
    }


def draw(ws: Workspace, data: dict[str, Any]) -> dict[str, Path]:
    """The report's figures as PNGs in ``reports/figures`` (name → path)."""
    folder = ws.reports_dir / "figures"
    figures = {"metrics": plots.metric_bars(data["results"], folder / "metrics.png")}
    buckets = plots.bucket_gains(data["results"], folder / "buckets.png")
    if buckets:
        figures["buckets"] = buckets
    histories = training_histories(ws)
    if histories:
        figures["training"] = plots.training_curves(histories, folder / "training.png")
    if data["guided"]:
        names = data["guided"]["attributes"]
        table = pq.read_table(ws.item_attributes_path, columns=names)
        figures["scores"] = plots.score_distributions({n: table[n].to_numpy() for n in names}, folder / "scores.png")
    if data["recovery"]:
        figures["recovery"] = plots.recovery_bars(data["recovery"], folder / "recovery.png")
    for case in data["cases"]:
        figures[f"case-{case['user_id']}"] = plots.contributions_chart(
            case["items"], list(case["profile"]) or data["guided"]["attributes"], folder / f"case-{case['user_id']}.png")
    return figures


def write_report(ws: Workspace, index: str = DEFAULT_INDEX) -> dict[str, Path]:
    """Write ``reports/report.html`` (self-contained), ``report.md`` (+ ``figures/``) and ``report.json``."""
    data = report_data(ws, index)
    figures = draw(ws, data)
    paths = {"html": ws.reports_dir / "report.html", "markdown": ws.reports_dir / "report.md",
             "json": ws.reports_dir / "report.json"}
    with atomic_file(paths["html"]) as tmp:
        tmp.write_text(html(data, figures), encoding="utf-8")
    with atomic_file(paths["markdown"]) as tmp:
        tmp.write_text(markdown(data, {k: p.relative_to(ws.reports_dir) for k, p in figures.items()}), encoding="utf-8")
    write_json(paths["json"], data)
    return {**paths, **{f"figure {k}": p for k, p in figures.items()}}
