"""Past one process: scoring on Ray actors and as a sharded job array gives the local engine's scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gerec import Workspace
from gerec.errors import GerecError
from gerec.steps.guided import score


def _copy_unscored(fresh: Workspace, dst: Path) -> Workspace:
    """The workspace with its score cache and tables removed: everything must be scored again."""
    ws = Workspace.resolve(shutil.copytree(fresh.root, dst))
    shutil.rmtree(ws.score_cache_dir)
    ws.item_attributes_path.unlink()
    ws.user_attributes_path.unlink()
    return ws


def _scores(ws: Workspace) -> dict[str, np.ndarray]:
    out = {}
    for kind, path in (("item", ws.item_attributes_path), ("user", ws.user_attributes_path)):
        table = pq.read_table(path)
        out[kind] = np.stack([np.asarray(v, np.float64) for v in table["vector"].to_pylist()])
        out[f"{kind}_hash"] = np.asarray(table["content_hash"].to_pylist())
    return out


def test_sharded_job_array_equals_one_local_run(fresh: Workspace, tmp_path: Path) -> None:
    local = _scores(fresh)
    ws = _copy_unscored(fresh, tmp_path / "sharded")
    n_items, n_users = len(local["item"]), len(local["user"])
    done = [score(ws, "movies", shard=f"{i}/3", show_progress=False) for i in range(3)]
    assert sum(d["items"]["newly_scored"] for d in done) == n_items
    assert sum(d["users"]["newly_scored"] for d in done) == n_users
    assert all(0 < d["items"]["newly_scored"] < n_items for d in done)  # each job did a share
    assert not ws.item_attributes_path.exists()  # a shard writes its part, not the tables
    again = score(ws, "movies", shard="1/3", show_progress=False)  # a re-run job finds its share done
    assert again["items"]["newly_scored"] == 0
    merged = score(ws, "movies", show_progress=False)  # the unsharded run merges and writes the tables
    assert merged["items"]["newly_scored"] == 0 and merged["users"]["newly_scored"] == 0
    assert not list(ws.score_cache_dir.glob("*.parts/*.parquet"))  # parts folded into the cache
    got = _scores(ws)
    for key in ("item", "user"):
        assert np.allclose(got[key], local[key], atol=1e-6)
        assert (got[f"{key}_hash"] == local[f"{key}_hash"]).all()
    for bad in ("3/3", "1-3", "a/b", "-1/2"):
        with pytest.raises(GerecError, match="shard"):
            score(ws, "movies", shard=bad, show_progress=False)


def test_ray_actors_give_the_local_scores(fresh: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason="the ray engine needs Ray (pip install 'ray[data]')")
    import ray

    from gerec.guided.encoder import EncoderScorer

    def loads_in_the_driver(*args: object, **kwargs: object) -> None:
        raise AssertionError("the driver loaded the model: only the actors need it")

    local = _scores(fresh)
    ws = _copy_unscored(fresh, tmp_path / "ray")
    monkeypatch.setattr(EncoderScorer, "__init__", loads_in_the_driver)  # this process only; actors are others
    try:
        manifest = score(ws, "movies", engine="ray", actors=2, show_progress=False)
    finally:
        ray.shutdown()
    assert manifest["items"]["newly_scored"] == len(local["item"]) and manifest["engine"]["actors"] == 2
    assert manifest["scorer"] == fresh.guided_manifest()["scorer"]  # the same cache key as a local run
    got = _scores(ws)
    for key in ("item", "user"):
        assert np.allclose(got[key], local[key], atol=1e-5)
    again = score(ws, "movies", engine="ray", show_progress=False)  # the cache skips everything: no Ray job
    assert again["items"]["newly_scored"] == 0 and not ray.is_initialized()
    with pytest.raises(GerecError, match="use one"):
        score(ws, "movies", engine="ray", shard="0/2", show_progress=False)


def test_torchrun_two_processes_train_like_one(fresh: Workspace, tmp_path: Path) -> None:
    """DistributedDataParallel on CPU (gloo): 2 processes, each with half of every batch, follow
    single-process training closely; rank 0 alone writes and prints."""
    import json
    import os
    import subprocess
    import sys

    one = Workspace.resolve(shutil.copytree(fresh.root, tmp_path / "one"))
    two = Workspace.resolve(shutil.copytree(fresh.root, tmp_path / "two"))
    args = ["base", "train", "--model", "sasrec", "--set", "epochs=5", "--set", "patience=50", "--quiet", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "gerec_cli", "--workspace", str(one.root), "--threads", "1", *args],
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr
    spread = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "gerec_cli",
                             "--workspace", str(two.root), "--threads", "1", *args],
                            capture_output=True, text=True, timeout=300, env=env)
    assert spread.returncode == 0, spread.stderr
    assert json.loads(spread.stdout)["model"] == "sasrec"  # one JSON answer: rank 1 printed nothing
    history = {name: json.loads((ws.model_dir("base", "sasrec") / "state.json").read_text())["history"]
               for name, ws in (("one", one), ("two", two))}
    assert len(history["one"]) == len(history["two"]) == 5
    for a, b in zip(history["one"], history["two"]):
        assert abs(a["loss"] - b["loss"]) / a["loss"] < 0.03  # the same optimization, batches split in two
    final = [h[-1]["valid_NDCG@10"] for h in history.values()]
    assert abs(final[0] - final[1]) < 0.02
    assert not list((two.root / "models").glob("*.partial"))  # rank 0 published; no rank left a staging folder
    # each rank validated its share of the users; the all-reduced mean is the whole split's
    from gerec.evaluation.protocol import evaluate
    from gerec.steps.data import sequences
    from gerec.training import load_checkpoint

    folder = two.model_dir("base", "sasrec")
    net = load_checkpoint(folder)
    whole = evaluate(net, sequences(two), "valid", max_len=int(net.config.max_len)).metrics
    recorded = json.loads((folder / "metrics.json").read_text())["valid"]
    assert recorded["NDCG@10"] == pytest.approx(whole["NDCG@10"], abs=1e-9)
    assert recorded["Recall@10"] == pytest.approx(whole["Recall@10"], abs=1e-9)


def test_only_training_runs_under_torchrun(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every rank would run any other command (import, score, run...) on the same files."""
    from typer.testing import CliRunner

    from gerec_cli.main import app

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "run", "--quick"])
    assert result.exit_code == 1 and "only training runs in parallel" in result.output
    assert not (tmp_path / "ws").exists()
