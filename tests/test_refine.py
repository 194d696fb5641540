"""Normalization, reduction, the refined model, training from the store, and the comparison table."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from typer.testing import CliRunner

from gerec import Workspace
from gerec.config import ConfigError
from gerec.errors import GerecError
from gerec.evaluation.compare import bootstrap, relative_change
from gerec.features import store
from gerec.steps.features import materialize
from gerec.models import build_model
from gerec.models.refined import Refinement
from gerec.models.sequential import ModelConfig
from gerec.refine import Normalizer, fit_reduction
from gerec.steps.refine import refinement_from_store, train_refined
from gerec.training import load_checkpoint
from gerec_cli.main import app
from small_workspace import DIM, N_ITEMS, N_USERS

M = 10  # attributes of the movies schema


def test_normalizer_zscore_and_minmax() -> None:
    scores = np.random.default_rng(0).uniform(1, 9, size=(50, 4)) * np.array([1, 2, 0.5, 1])
    z = Normalizer.fit(scores, "zscore", alpha=0.3).apply(scores)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-6) and np.allclose(z.std(axis=0), 0.3, atol=1e-5)
    mm = Normalizer.fit(scores, "minmax", alpha=2.0).apply(scores)
    assert np.allclose(mm.min(axis=0), 0) and np.allclose(mm.max(axis=0), 2.0)
    restored = Normalizer.from_dict(json.loads(json.dumps(Normalizer.fit(scores).to_dict())))
    assert np.allclose(restored.apply(scores[:3]), Normalizer.fit(scores).apply(scores[:3]))
    with pytest.raises(GerecError, match="zscore or minmax"):
        Normalizer.fit(scores, "rank")
    with pytest.raises(GerecError, match="NaN"):
        Normalizer.fit(np.array([[1.0, np.nan]]))


def test_pca_reduction_matches_scikit_learn() -> None:
    table = np.random.default_rng(1).standard_normal((200, 16))
    reduction = fit_reduction(table, 6, "pca")
    expected = PCA(n_components=6, svd_solver="full").fit_transform(table)
    assert np.allclose(np.abs(reduction.transform(table)), np.abs(expected), atol=1e-4)  # up to each axis' sign
    with pytest.raises(GerecError, match="between 1 and"):
        fit_reduction(table, 17)
    with pytest.raises(GerecError, match="needs the base model's user queries"):
        fit_reduction(table, 6, "linear")


def test_linear_reduction_preserves_scores_better_than_pca() -> None:
    rng = np.random.default_rng(2)
    # items vary most along the first axes, but users only ever query the last ones
    table = rng.standard_normal((300, 12)) * np.linspace(3.0, 0.5, 12)
    queries = rng.standard_normal((400, 12)) * np.r_[np.full(6, 0.01), np.ones(6)]
    scores = queries @ table.T

    def error(reduction) -> float:  # noqa: ANN001 - best scores reachable from the reduced items
        reduced = reduction.transform(table)
        coef, *_ = np.linalg.lstsq(reduced, scores.T, rcond=None)
        return float(np.linalg.norm(reduced @ coef - scores.T))

    full = fit_reduction(table, 12, "linear", queries)
    assert error(full) < 1e-6 * np.linalg.norm(scores)  # exact at k = d
    assert error(fit_reduction(table, 6, "linear", queries)) < 0.5 * error(fit_reduction(table, 6, "pca"))


def test_orthogonal_reduction_keeps_only_what_the_guided_scores_do_not_explain() -> None:
    """The trainable part starts uncorrelated with the frozen scores beside it; new rows (cold
    items) are reduced with the same fitted map, and the fit says how much the scores explained."""
    rng = np.random.default_rng(3)
    guided = rng.uniform(1, 9, (400, 5))
    table = (guided - 5) @ rng.standard_normal((5, 16)) + 0.5 * rng.standard_normal((400, 16))
    reduction = fit_reduction(table[:300], 8, "orthogonal", guided=guided[:300])
    reduced = reduction.transform(table, guided)
    centred = guided[:300] - guided[:300].mean(axis=0)
    assert np.abs(centred.T @ reduced[:300]).max() < 1e-3 * np.abs(reduced).sum()  # orthogonal on fit rows
    assert 0.8 < reduction.to_dict()["guided_r2"] < 1.0 and reduction.method == "orthogonal"
    plain = fit_reduction(table[:300], 8, "pca")
    assert np.abs(centred.T @ plain.transform(table[:300])).max() > 100 * np.abs(centred.T @ reduced[:300]).max()
    with pytest.raises(GerecError, match="needs each row's guided scores"):
        reduction.transform(table)
    with pytest.raises(GerecError, match="needs the guided scores"):
        fit_reduction(table, 8, "orthogonal")


@pytest.mark.parametrize("name", ["gru4rec", "sasrec", "bert4rec"])
def test_refined_score_is_one_inner_product(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(model=name, dim=16, max_len=8, layers=1), 30).eval()
    guided, users = torch.randn(31, 4), torch.randn(6, 4)
    Refinement(guided, torch.randn(31, 12), users, beta=0.7).apply(model)
    histories, ids = torch.tensor([[0, 3, 4, 5], [1, 2, 3, 4]]), torch.tensor([2, 5])
    h = model.encode(model.query_inputs(histories))[:, -1]  # (B, d)
    table = model.catalogue()
    expected = h @ table.T + 0.7 * users[ids] @ table[:, :4].T  # <h_u, e_i> + β·<g_u, ĝ_i>
    assert torch.allclose(model.score(histories, ids), expected, atol=1e-5)
    assert torch.equal(model.catalogue()[:, :4][1:], guided[1:]) and not model.catalogue()[0].any()


def _refined_workspace(ws: Workspace) -> Workspace:
    store.apply(ws)
    materialize(ws, show_progress=False)
    return ws


def test_refinement_reads_the_store(fresh: Workspace) -> None:
    ws = _refined_workspace(fresh)
    both = refinement_from_store(ws, "sasrec", "refined", DIM)
    assert both.frozen.shape == (N_ITEMS + 1, M) and both.trainable.shape == (N_ITEMS + 1, DIM - M)
    assert both.users.shape == (N_USERS + 1, M)
    rms = float(both.trainable[1:].pow(2).mean().sqrt())
    assert np.allclose(both.frozen[1:].std(dim=0, unbiased=False).numpy(), rms, rtol=1e-3)  # α defaults to the reduced RMS
    online = store.read_online(ws, ["item_base_reduced:vector"], {"item_id": [1, 2], "base_model": ["sasrec"] * 2})
    assert np.allclose(both.trainable[1:3].numpy(), np.asarray(online["vector"]))  # the reduced part is the store's
    reduced = refinement_from_store(ws, "sasrec", "reduced", DIM)
    assert reduced.frozen.shape[1] == 0 and reduced.users is None
    assert torch.equal(reduced.trainable[:, M:], both.trainable)  # same reduced part, no language model
    guided = refinement_from_store(ws, "sasrec", "guided", DIM)
    ratio = both.info["normalization"]["alpha"] / guided.info["normalization"]["alpha"]  # α follows each latent part's RMS
    assert torch.allclose(guided.frozen * ratio, both.frozen, atol=1e-6)
    assert not torch.equal(guided.trainable, both.trainable)
    with pytest.raises(ConfigError, match="choose one of"):
        refinement_from_store(ws, "sasrec", "everything", DIM)
    with pytest.raises(GerecError, match="no reduced embeddings of base model 'gru4rec'"):
        refinement_from_store(ws, "gru4rec", "refined", DIM)


def test_training_keeps_the_guided_part_frozen(fresh: Workspace) -> None:
    ws = _refined_workspace(fresh)
    initial = refinement_from_store(ws, "sasrec", "refined", DIM)
    result = train_refined(ws, "sasrec", "refined", {"epochs": 2}, show_progress=False)
    out_dir = ws.model_dir("refined", "sasrec")
    trained = load_checkpoint(out_dir)
    assert trained.is_refined and trained.attributes == ws.guided_manifest()["attributes"]  # filled at load
    assert torch.equal(trained.items.frozen[: N_ITEMS + 1], initial.frozen)
    assert not torch.allclose(trained.items.trainable[1:], initial.trainable[1:])
    assert not torch.allclose(trained.user_guided.vectors.weight[1:], initial.users[1:])  # user vectors train
    assert result.test == json.loads((out_dir / "metrics.json").read_text())["test"]
    assert (out_dir / "user_vectors.parquet").exists() and (out_dir / "item_embeddings.parquet").exists()


def test_cli_refine_ablations_and_evaluate(fresh: Workspace) -> None:
    runner = CliRunner()
    root = ["--workspace", str(fresh.root), "--threads", "1"]
    for args in (["features", "apply"], ["features", "materialize", "--quiet"],
                 ["refine", "train", "--set", "epochs=2", "--quiet"],
                 ["refine", "train", "--variant", "reduced", "--set", "epochs=2", "--quiet"]):
        result = runner.invoke(app, root + args)
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, root + ["evaluate", "--bootstrap", "200", "--json"])
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    (row,) = table["rows"]
    assert row["model"] == "sasrec" and list(row["variants"]) == ["base", "reduced", "refined"]
    assert set(row["gains"]) == {"refined_vs_base", "refined_vs_reduced"}
    for variant in row["variants"].values():
        assert len(variant) == 9  # MRR, Recall, NDCG at 5, 10, 20
        for iv in variant.values():
            assert iv["low"] <= iv["mean"] <= iv["high"]
    md = (fresh.reports_dir / "results.md").read_text()
    assert "| synthetic | sasrec | refined vs base |" in md and "| synthetic | — | popularity |" in md
    assert set(table["popularity"]) == set(variant)  # the floor beside every table
    bad = runner.invoke(app, root + ["refine", "train", "--model", "gru4rec"])
    assert bad.exit_code == 1 and "gerec base train --model gru4rec" in bad.output


def test_bootstrap_interval_and_paired_relative_change() -> None:
    rng = np.random.default_rng(0)
    old = rng.uniform(0, 1, 500)
    new = old * 1.2
    intervals, idx = bootstrap({"x": old}, 500, seed=1)
    assert intervals["x"].low < old.mean() < intervals["x"].high
    gain = relative_change(new, old, idx)
    assert abs(gain.mean - 0.2) < 1e-9 and abs(gain.low - 0.2) < 1e-9  # paired: a uniform +20% has no spread
