"""The Feast feature store: round trip, point-in-time correctness, idempotence, interruption, feast CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gerec import Workspace
from gerec.errors import GerecError
from gerec.features import store
from gerec.features.definitions import field_name
from gerec.steps.features import materialize
from gerec.features.tables import workspace_tables

REPO = Path(__file__).resolve().parents[1] / "feature_repo"


def test_round_trip_online_and_offline(fresh: Workspace) -> None:
    store.apply(fresh)
    report = materialize(fresh, show_progress=False)
    assert report["views"]["item_attributes"]["rows"] == 120 and report["views"]["user_recent_items"]["entities"] == 80
    tables = workspace_tables(fresh)
    items = tables["item_attributes"]
    ids = items["item_id"].to_pylist()[:25]
    attrs = [a["name"] for a in store.attributes_of_workspace(fresh)]
    online = store.read_online(fresh, ["item_attributes:vector"], {"item_id": ids})
    scores = [f"item_attribute_scores:{field_name(a)}" for a in attrs]  # per attribute: offline only
    offline = store.read_offline(fresh, ["item_attributes:vector", *scores], {"item_id": ids})
    expected = np.stack([np.asarray(v, np.float32) for v in items["vector"].to_pylist()[:25]])
    assert np.array_equal(np.asarray(online["vector"], np.float32), expected)
    assert np.array_equal(np.stack(offline["vector"].map(np.asarray).to_numpy()).astype(np.float32), expected)
    for j, name in enumerate(attrs):
        assert np.array_equal(offline[field_name(name)].to_numpy(np.float32), expected[:, j])
    with pytest.raises(Exception, match="item_attribute_scores"):  # not materialized: never online
        store.read_online(fresh, scores[:1], {"item_id": ids})
    recent = tables["user_recent_items"]
    got = store.read_online(fresh, ["user_recent_items:recent_items"], {"user_id": recent["user_id"].to_pylist()})
    assert got["recent_items"] == recent["recent_items"].to_pylist()
    reduced = tables["item_base_reduced"]
    got = store.read_online(fresh, ["item_base_reduced:vector", "item_base_reduced:reduction"],
                            {"item_id": reduced["item_id"].to_pylist(), "base_model": ["sasrec"] * reduced.num_rows})
    assert np.array_equal(np.asarray(got["vector"], np.float32),
                          np.stack([np.asarray(v, np.float32) for v in reduced["vector"].to_pylist()]))
    assert set(got["reduction"]) == {"pca k=22 of d=32"}  # k = d − m = 32 − 10


def test_point_in_time_with_two_versions(fresh: Workspace) -> None:
    store.apply(fresh)
    items = workspace_tables(fresh)["item_attributes"]
    t1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t2 = t1 + timedelta(days=10)
    assert store.ingest_table(fresh.feature_store_dir, "item_attributes", items, t1) == 120
    from gerec.features.tables import float_lists

    column = [field_name(a["name"]) for a in store.attributes_of_workspace(fresh)].index("humor")
    humor = items["humor"].to_numpy().copy()
    humor[:3] += 1.0  # a re-score changes three items: their humor field and their vector
    vectors = np.stack([np.asarray(v, np.float32) for v in items["vector"].to_pylist()])
    vectors[:, column] = humor
    second = items.set_column(items.schema.get_field_index("humor"), "humor", pa.array(humor))
    second = second.set_column(second.schema.get_field_index("vector"), "vector", float_lists(vectors))
    assert store.ingest_table(fresh.feature_store_dir, "item_attributes", second, t2) == 3  # only changed rows
    keys = {"item_id": [1, 2, 3, 4]}
    before = store.read_offline(fresh, ["item_attribute_scores:humor"], keys, at=t1 + timedelta(days=1))
    after = store.read_offline(fresh, ["item_attribute_scores:humor"], keys, at=t2 + timedelta(days=1))
    assert np.allclose(before["humor"], items["humor"].to_numpy()[:4])
    assert np.allclose(after["humor"], humor[:4])
    never = store.read_offline(fresh, ["item_attribute_scores:humor"], keys, at=t1 - timedelta(days=1))
    assert never["humor"].isna().all()  # nothing known before the first version
    store.materialize(fresh, incremental=False, views=["item_attributes"], show_progress=False)
    online = store.read_online(fresh, ["item_attributes:vector"], keys)
    assert np.allclose([v[column] for v in online["vector"]], humor[:4])  # the later score wins online too


def test_rematerialization_is_idempotent(fresh: Workspace) -> None:
    store.apply(fresh)
    first = materialize(fresh, show_progress=False)
    parts = sorted(fresh.feature_store_dir.glob("offline/*/*.parquet"))
    features = ["item_attributes:vector", "user_attributes:vector"]
    keys = {"item_id": list(range(1, 121)), "user_id": list(range(1, 121))}
    online = store.read_online(fresh, features, keys, full_names=True)
    again = materialize(fresh, show_progress=False)
    assert sum(again["ingested"].values()) == 0 and all(v["rows"] == 0 for v in again["views"].values())
    assert sorted(fresh.feature_store_dir.glob("offline/*/*.parquet")) == parts
    full = materialize(fresh, incremental=False, show_progress=False)
    assert full["views"]["item_attributes"]["rows"] == first["views"]["item_attributes"]["rows"]
    assert store.read_online(fresh, features, keys, full_names=True) == online
    store.apply(fresh)  # re-applying keeps the data
    assert store.read_online(fresh, features, keys, full_names=True) == online


def test_interrupted_materialization_leaves_a_readable_store(fresh: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from feast import FeatureStore

    store.apply(fresh)
    real = FeatureStore.materialize

    def failing(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if kwargs.get("feature_views") == ["user_attributes"]:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(FeatureStore, "materialize", failing)
    with pytest.raises(KeyboardInterrupt):
        materialize(fresh, show_progress=False)
    assert store.read_online(fresh, ["item_attributes:vector"], {"item_id": [1]})["vector"][0] is not None
    assert store.read_online(fresh, ["user_attributes:vector"], {"user_id": [1]})["vector"][0] is None
    monkeypatch.setattr(FeatureStore, "materialize", real)
    again = materialize(fresh, show_progress=False)
    assert again["views"]["user_attributes"]["rows"] == 80 and again["views"]["item_attributes"]["rows"] == 0
    assert store.read_online(fresh, ["user_attributes:vector"], {"user_id": [1]})["vector"][0] is not None


def test_clear_errors(fresh: Workspace, tmp_path: Path) -> None:
    with pytest.raises(GerecError, match="gerec features apply"):
        store.ingest(fresh)
    with pytest.raises(GerecError, match="gerec guided score"):
        store.apply(Workspace.resolve(tmp_path / "empty"))
    store.apply(fresh)
    attributes = fresh.feature_store_dir / "attributes.json"
    attributes.write_text(attributes.read_text().replace("humor", "wit"))
    with pytest.raises(GerecError, match="holds other attributes"):
        store.apply(fresh)


def test_feast_cli_accepts_the_repositories(fresh: Workspace) -> None:
    store.apply(fresh)
    store.ingest(fresh)
    feast = shutil.which("feast")
    assert feast, "the feast CLI is installed with gerec"
    env = {**os.environ, "GEREC_WORKSPACE": str(fresh.root)}
    end = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")  # after the ingestion
    runs = [(REPO, ["apply"]), (REPO, ["materialize-incremental", end]),  # the project's repository
            (fresh.feature_store_dir, ["apply"])]  # and the copy in the workspace
    for repo, args in runs:
        out = subprocess.run([feast, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
    online = store.read_online(fresh, ["item_attributes:vector"], {"item_id": [1, 2]})
    assert all(v is not None for v in online["vector"])
    parts = sorted((fresh.feature_store_dir / "offline" / "item_attributes").glob("*.parquet"))
    assert [pq.read_table(p).num_rows for p in parts] == [0, 120]  # the empty schema part, then the data


def test_orthogonal_reduction_through_the_store(fresh: Workspace) -> None:
    """`--reduction orthogonal` reads the items' guided scores in item-id order: the stored reduced
    rows are uncorrelated with them over the catalogue, and the refined table assembles from them."""
    import pyarrow.parquet as pq

    from gerec.steps.features import reduce_base_model
    from gerec.steps.refine import refinement_from_store

    report = reduce_base_model(fresh, "sasrec", "orthogonal")
    assert report["method"] == "orthogonal" and 0.0 <= report["guided_r2"] <= 1.0
    scores = pq.read_table(fresh.item_attributes_path).sort_by("item_id")
    guided = np.stack([scores[a].to_numpy() for a in fresh.guided_manifest()["attributes"]], axis=1)
    reduced = np.stack(pq.read_table(fresh.reduced_path("sasrec"))["vector"].to_pylist())
    assert np.abs((guided - guided.mean(axis=0)).T @ reduced).max() < 1e-3 * np.abs(reduced).sum()
    store.apply(fresh)
    materialize(fresh, [], show_progress=False)
    refinement = refinement_from_store(fresh, "sasrec", dim=report["d"])
    assert refinement.info["reduction"].startswith("orthogonal k=")
