"""Items held out of training (`data import --cold-items`): never trained on or fit on, ranked
by refined arms through the cold-start map, reported in their own bucket."""

from __future__ import annotations

import numpy as np
import pytest

from gerec import Workspace
from gerec.artifacts import read_json
from gerec.config import ConfigError
from gerec.data.prepare import ImportOptions
from gerec.data.synth import COLUMNS, SynthConfig
from gerec.steps.base import train_base
from gerec.steps.data import cold_items, import_data, sequences, synthesize
from gerec.steps.evaluate import evaluate
from gerec.steps.features import apply, materialize
from gerec.steps.guided import score
from gerec.steps.refine import train_refined
from gerec.training import load_checkpoint, training_windows

from small_workspace import BASE, DENSE

SHARE = 0.2


@pytest.fixture(scope="module")
def cold(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.resolve(tmp_path_factory.mktemp("cold"))
    synthesize(ws, SynthConfig(n_items=120, n_users=150, max_length=25, seed=3, **DENSE), do_import=False)
    import_data(ws, "parquet", ws.synthetic_dir / "interactions.parquet", ws.synthetic_dir / "items.parquet",
                COLUMNS, ImportOptions(cold_items=SHARE))
    score(ws, "movies", show_progress=False)
    train_base(ws, "sasrec", BASE, show_progress=False)
    return ws


def test_cold_items_are_the_last_first_seen_and_only_test_targets(cold: Workspace) -> None:
    manifest = cold.data_manifest()
    ids = cold_items(cold)
    assert manifest["final"]["items"] == 120 and len(ids) == round(SHARE * 120) == manifest["cold_items"]["items"]
    seqs = sequences(cold)
    windows, _ = training_windows(seqs, 20)
    assert not np.isin(windows.numpy(), ids).any()  # no training window ...
    assert not np.isin(seqs.targets(seqs.users, "valid"), ids).any()  # ... nor validation target holds one
    test_cold = np.isin(seqs.targets(seqs.users, "test"), ids).sum()
    assert test_cold == manifest["cold_items"]["test_events"] > 0
    raw = __import__("pandas").read_parquet(cold.synthetic_dir / "interactions.parquet")
    first = raw.groupby("item")["ts"].min()  # the held-out items are those first seen last in time
    id_map = __import__("pandas").read_parquet(cold.id_map_path).query("kind == 'item'")
    held = set(id_map[id_map["id"].isin(ids)]["original_id"].astype(first.index.dtype))
    assert first[list(held)].min() >= first.drop(list(held)).max()


def test_fits_never_see_cold_items_and_refined_ranks_them_from_text(cold: Workspace,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import gerec.steps.features as features
    import gerec.steps.refine as refine

    ids, seen = cold_items(cold), {}
    fit_reduction, fit_normalizer = features.fit_reduction, refine.Normalizer.fit
    monkeypatch.setattr(features, "fit_reduction", lambda table, *a: seen.setdefault("reduce", len(table))
                        and fit_reduction(table, *a))
    monkeypatch.setattr(refine.Normalizer, "fit", lambda rows, *a: seen.setdefault("normalize", len(rows))
                        and fit_normalizer(rows, *a))
    apply(cold)
    materialize(cold, show_progress=False)
    train_refined(cold, "sasrec", "refined", {"epochs": 2}, show_progress=False)
    assert seen["reduce"] == 120 - len(ids) and seen["normalize"] == 120 - len(ids)
    results = evaluate(cold, ["sasrec"], n_boot=100)
    (row,) = results["rows"]
    held = row["breakdown"]["held_out"]
    assert held["cold"]["users"] == results["cold_items"]["test_events"] == cold.data_manifest()["cold_items"]["test_events"]
    assert held["cold"]["users"] + held["warm"]["users"] == row["users"]
    md = (cold.reports_dir / "results.md").read_text()
    assert "held-out (cold) test items" in md
    from gerec.refine.latent_map import latent_map, map_cold_items

    net = load_checkpoint(cold.model_dir("refined", "sasrec"))  # as published: cold rows mapped from the text
    table, m = net.catalogue().detach().numpy(), len(net.attributes)
    warm = np.setdiff1d(np.arange(1, 121), ids)
    assert np.allclose(table[ids, m:], latent_map(net, known=warm).predict(table[ids, :m]), atol=1e-5)
    assert not np.allclose(table[warm, m:], latent_map(net, known=warm).predict(table[warm, :m]), atol=1e-3)
    assert not map_cold_items(load_checkpoint(cold.model_dir("base", "sasrec")), ids)  # base: no text part
    from gerec.steps.index import build_index

    retrieved = build_index(cold, "sasrec", "refined")["cold_items"]  # through the FAISS index
    assert retrieved["test_users"] == held["cold"]["users"] and 0 <= retrieved["hit_rate_at_10"] <= 1
    assert read_json(cold.index_dir("refined-sasrec") / "manifest.json")["cold_items"] == retrieved


def test_cold_share_is_checked() -> None:
    for bad in (-0.1, 0.5, float("nan")):
        with pytest.raises(ConfigError, match="cold_items"):
            ImportOptions(cold_items=bad)
