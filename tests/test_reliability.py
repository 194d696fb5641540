"""Nothing lost, nothing silently wrong: each failure a hostile user found, reproduced and fixed.

1. a copied or moved workspace uses its own store, models and index, never the original's;
2. the Feast registry survives a crash mid-write, a broken registry is repaired, and health
   fails while the store cannot answer;
3. a model retrained after its index was built is refused, not served from stale vectors;
4. a failed training run leaves the previous model intact and nothing half-written;
5. a known user missing from the online store is an error, not a "new user";
6. a sequences file with one user on several lines keeps that user's order;
7. an interrupted folder swap leaves the previous folder in place, and the debris is cleaned.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gerec import Workspace
from gerec.artifacts import atomic_dir, sha256_file
from gerec.errors import GerecError
from gerec.serving.answers import recommendations
from gerec.serving.http import create_app
from gerec.serving.recommender import MissingFeatures
from gerec.steps.data import import_data, sequences
from gerec.steps.features import materialize
from gerec.steps.index import build_index
from gerec.steps.recommend import load_recommender
from gerec.steps.refine import train_refined
from gerec_cli.main import app

runner = CliRunner()


def _copy(src: Path, dst: Path) -> Workspace:
    shutil.copytree(src, dst, symlinks=True)  # as `cp -a`
    return Workspace.resolve(dst)


def _cli(ws: Workspace, *args: str) -> object:
    return runner.invoke(app, ["--workspace", str(ws.root), "--threads", "1", *args])


# 1 -------------------------------------------------------------------------------------------
def test_a_copied_workspace_never_touches_the_original(indexed: Path, tmp_path: Path) -> None:
    a = _copy(indexed, tmp_path / "A")
    b = _copy(a.root, tmp_path / "B")
    # a store written by an older gerec: absolute paths into A
    (b.feature_store_dir / "feature_store.yaml").write_text(
        f"project: gerec\nprovider: local\nregistry: {a.feature_store_dir}/registry.db\noffline_store:\n  type: duckdb\n"
        f"online_store:\n  type: sqlite\n  path: {a.feature_store_dir}/online.db\nentity_key_serialization_version: 3\n")
    before = {p: sha256_file(a.feature_store_dir / p) for p in ("registry.db", "online.db")}
    result = _cli(b, "features", "materialize", "--full", "--quiet")
    assert result.exit_code == 0, result.output
    assert {p: sha256_file(a.feature_store_dir / p) for p in before} == before  # A untouched
    assert str(a.root) not in (b.feature_store_dir / "feature_store.yaml").read_text()
    shutil.rmtree(a.root)
    result = _cli(b, "recommend", "--user", "5", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["items"]) == 3
    manifest = json.loads((b.index_dir("refined-sasrec") / "manifest.json").read_text())
    assert not Path(manifest["source"]["model_dir"]).is_absolute()


# 2 -------------------------------------------------------------------------------------------
def test_a_crash_mid_registry_write_leaves_the_registry_whole(indexed: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import gerec.features.registry as registry

    ws = _copy(indexed, tmp_path / "ws")
    before = (ws.feature_store_dir / "registry.db").read_bytes()

    def killed(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])  # half written, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "write_synced", killed)
    with pytest.raises(KeyboardInterrupt):
        materialize(ws, show_progress=False)
    monkeypatch.undo()
    assert (ws.feature_store_dir / "registry.db").read_bytes() == before  # the old registry, whole
    assert materialize(ws, show_progress=False)["views"]  # and the store works on


def test_a_broken_registry_is_repaired_and_health_fails_while_the_store_cannot_answer(indexed: Path,
                                                                                      tmp_path: Path) -> None:
    ws = _copy(indexed, tmp_path / "ws")
    (ws.feature_store_dir / "registry.db").write_bytes(b"")  # what a killed non-atomic write left
    result = _cli(ws, "recommend", "--user", "5", "-k", "3")
    assert result.exit_code == 0, result.output  # re-registered on open
    assert _cli(ws, "features", "materialize", "--quiet").exit_code == 0
    (ws.feature_store_dir / "online.db").unlink()  # an empty online store: nobody's features
    manifest = ws.index_dir("refined-sasrec") / "manifest.json"
    client = TestClient(create_app(lambda: load_recommender(ws), manifest))
    health = client.get("/readyz")
    assert health.status_code == 503 and "materialize" in health.json()["detail"]
    assert client.get("/recommend", params={"user_id": 5}).status_code == 503
    assert _cli(ws, "features", "materialize", "--full", "--quiet").exit_code == 0
    assert client.get("/readyz").status_code == 200


# 3 -------------------------------------------------------------------------------------------
def test_a_model_retrained_after_its_index_is_refused(indexed: Path, tmp_path: Path) -> None:
    ws = _copy(indexed, tmp_path / "ws")
    train_refined(ws, "sasrec", "refined", {"epochs": 1, "seed": 7}, show_progress=False)
    result = _cli(ws, "recommend", "--user", "5")
    assert result.exit_code == 1 and "trained again after its index was built" in result.output
    assert "gerec index build --model sasrec" in result.output
    build_index(ws, "sasrec")
    assert _cli(ws, "recommend", "--user", "5").exit_code == 0


# 4 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("setting", ["batch_size=0", "epochs=0", "epochs=-3", "max_len=0"])
def test_bad_training_settings_write_nothing(indexed: Path, tmp_path: Path, setting: str) -> None:
    ws = _copy(indexed, tmp_path / "ws")
    folder = ws.model_dir("base", "sasrec")
    before = {p.name: sha256_file(p) for p in folder.iterdir()}
    result = _cli(ws, "base", "train", "--set", setting, "--quiet")
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == before
    assert _cli(ws, "features", "materialize", "--quiet").exit_code == 0


def test_a_crash_during_training_leaves_the_previous_model(indexed: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import gerec.training as training

    ws = _copy(indexed, tmp_path / "ws")
    folder = ws.model_dir("base", "sasrec")
    before = {p.name: sha256_file(p) for p in folder.iterdir()}

    def crash(*args: object, **kwargs: object) -> None:
        raise MemoryError("killed")

    monkeypatch.setattr(training, "save_item_embeddings", crash)  # after the epochs, before publishing
    with pytest.raises(MemoryError):
        training.train(sequences(ws), *training.configs_from({"epochs": 1, "dim": 32, "max_len": 20}, "sasrec"), folder,
                       show_progress=False)
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == before  # the old model, whole
    assert (folder.parent / ".base-sasrec.partial" / "state.json").exists()  # what resume continues
    monkeypatch.undo()
    result = training.train(sequences(ws), *training.configs_from({"epochs": 2, "dim": 32, "max_len": 20}, "sasrec"),
                            folder, resume=True, show_progress=False)
    assert result.epochs == 2 and (folder / "metrics.json").exists()
    assert not (folder.parent / ".base-sasrec.partial").exists()


# 5 -------------------------------------------------------------------------------------------
def test_a_known_user_missing_from_the_store_is_an_error(indexed: Path) -> None:
    rec = load_recommender(Workspace.resolve(indexed))
    rec.recent = lambda user: None  # the online store lacks every user (an interrupted first materialize)
    with pytest.raises(MissingFeatures, match="user 5 is in the dataset but not in the online feature store"):
        recommendations(rec, user_id=5, k=3)
    with pytest.raises(MissingFeatures):
        rec.recommend(5)
    assert recommendations(rec, user_id=10**6, k=3)["fallback"] == "popularity"  # truly unknown: popularity


# 6 -------------------------------------------------------------------------------------------
def test_a_user_on_two_sequence_lines_keeps_file_order(ws: Workspace, tmp_path: Path) -> None:
    seqs = tmp_path / "seqs.txt"
    seqs.write_text("u1 a b c\nu2 a c e\nu1 d e f\n")
    items = tmp_path / "items.txt"
    items.write_text("".join(f"{i} item {i}\n" for i in "abcdef"))
    import_data(ws, "sequences", seqs, items)
    ids = {r["original_id"]: r["id"] for r in __import__("pyarrow.parquet", fromlist=["x"]).read_table(
        ws.id_map_path).to_pylist() if r["kind"] == "item"}
    s = sequences(ws)
    user = 1  # u1 (dense ids follow the original order)
    assert s.items[s.indptr[user]:s.indptr[user + 1]].tolist() == [ids[i] for i in "abcdef"]


# 7 -------------------------------------------------------------------------------------------
def test_an_interrupted_swap_leaves_the_old_folder_and_is_cleaned_up(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "data"
    with atomic_dir(target) as tmp:
        (tmp / "f").write_text("old")
    (tmp_path / ".data.abc.old").mkdir()  # debris of the older swap scheme
    (tmp_path / ".data.def.tmp").mkdir()
    real_replace = os.replace

    def killed_at_the_pointer(src: object, dst: object) -> None:
        if Path(dst) == target:
            raise KeyboardInterrupt  # killed between writing the new version and publishing it
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_the_pointer)
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "f").write_text("new")
    monkeypatch.undo()
    assert (target / "f").read_text() == "old"  # never a moment without data/
    with atomic_dir(target) as tmp:  # the next swap publishes and cleans everything else up
        (tmp / "f").write_text("newer")
    assert (target / "f").read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", os.readlink(target)])


def test_a_plain_folder_from_before_is_replaced_once(tmp_path: Path) -> None:
    target = tmp_path / "indexes"
    target.mkdir()
    (target / "f").write_text("legacy")
    with atomic_dir(target) as tmp:
        (tmp / "f").write_text("new")
    assert target.is_symlink() and (target / "f").read_text() == "new"
    assert len(list(tmp_path.iterdir())) == 2


def test_index_names_stay_inside_the_workspace(indexed: Path) -> None:
    ws = Workspace.resolve(indexed)
    for name in ("../../x", "a/b", "..", ""):
        with pytest.raises(GerecError, match="plain folder name"):
            ws.index_dir(name)
