"""Feature-store backends by configuration: Redis online store, PostgreSQL registry, Ray engine.

The settings are checked without servers; the full path (apply, materialize, online read,
serving) runs against the Redis and PostgreSQL servers this project's machines run on
127.0.0.1, and is skipped — with the reason — only where none answers.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from gerec import Workspace
from gerec.errors import GerecError
from gerec.features import backends, store
from gerec.features.tables import workspace_tables
from gerec.steps.features import materialize

REDIS = os.environ.get("GEREC_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("GEREC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _answers(url: str, default_port: int) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


needs_servers = pytest.mark.skipif(not (_answers(REDIS, 6379) and _answers(POSTGRES, 5432)),
                                   reason=f"no Redis at {REDIS} or no PostgreSQL at {POSTGRES}")


def test_settings_render_feast_configuration() -> None:
    chosen = backends.parse("redis://:s3cret@10.0.0.5:6380/2", "postgresql://gerec:pw@db.example:5432/features", "ray")
    text = backends.feature_store_yaml(chosen)
    assert 'connection_string: "10.0.0.5:6380,db=2,password=s3cret"' in text
    assert 'path: "postgresql+psycopg://gerec:pw@db.example:5432/features"' in text and "registry_type: sql" in text
    assert "type: ray.engine" in text and "write_concurrency: 4" in text  # Redis takes parallel writes
    assert chosen.project.startswith("gerec_") and len(chosen.project) == 14  # a project of its own on shared servers
    shown = backends.describe(chosen)
    assert "s3cret" not in str(shown) and ":pw@" not in str(shown) and ":***@" in shown["registry"]
    default = backends.feature_store_yaml(backends.parse())
    assert "project: gerec\n" in default and "type: sqlite" in default and "batch_engine" not in default
    # keeping the stores keeps the project; changing one starts a new one
    assert backends.parse(engine="local", current=chosen).project == chosen.project
    assert backends.parse(online="redis://127.0.0.1:6379/0", current=chosen).project != chosen.project
    assert backends.parse(online="sqlite", registry="file", current=chosen).project == "gerec"
    for bad, match in ((dict(online="memcached://x"), "Redis URL"), (dict(online="redis://h:port/0"), "numbers"),
                       (dict(registry="mysql://x/y"), "PostgreSQL URL"), (dict(engine="spark"), "ray://")):
        with pytest.raises(backends.BackendError, match=match):
            backends.parse(**bad)


def test_an_unreachable_server_is_one_clear_error(fresh: Workspace) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GerecError, match=f"redis://127.0.0.1:{port}/0.*did not answer"):
        store.apply(fresh, online=f"redis://127.0.0.1:{port}/0")


@needs_servers
def test_redis_and_postgres_end_to_end(fresh: Workspace, tmp_path: Path) -> None:
    from gerec.serving.answers import recommendations
    from gerec.steps.index import build_index
    from gerec.steps.recommend import load_recommender
    from gerec.steps.refine import train_refined

    applied = store.apply(fresh, online=REDIS, registry=POSTGRES)
    project = applied["backends"]["project"]
    root = fresh.feature_store_dir
    try:
        assert not (root / "online.db").exists() and not (root / "registry.db").exists()
        report = materialize(fresh, show_progress=False)
        assert report["views"]["item_attributes"]["rows"] == 120
        tables = workspace_tables(fresh)
        ids = tables["item_attributes"]["item_id"].to_pylist()
        online = store.read_online(fresh, ["item_attributes:vector"], {"item_id": ids})
        expected = np.stack([np.asarray(v, np.float32) for v in tables["item_attributes"]["vector"].to_pylist()])
        assert np.array_equal(np.asarray(online["vector"], np.float32), expected)
        recent = tables["user_recent_items"]
        got = store.read_online(fresh, ["user_recent_items:recent_items"], {"user_id": recent["user_id"].to_pylist()})
        assert got["recent_items"] == recent["recent_items"].to_pylist()
        # the same answers as the embedded store: a copy of the workspace back on SQLite + file
        twin = Workspace.resolve(shutil.copytree(fresh.root, tmp_path / "twin"))
        store.apply(twin, online="sqlite", registry="file")
        materialize(twin, show_progress=False)
        assert store.read_online(twin, ["item_attributes:vector"], {"item_id": ids}) == online
        # a second apply keeps the backends and the project; serving reads recent items from Redis
        assert store.apply(fresh)["backends"]["project"] == project
        train_refined(fresh, "sasrec", "refined", {"epochs": 1}, show_progress=False)
        build_index(fresh, "sasrec", "refined")
        rec = load_recommender(fresh)
        answer = recommendations(rec, user_id=3, k=5)
        assert answer["history"] == got["recent_items"][recent["user_id"].to_pylist().index(3)][-20:]
        assert len(answer["items"]) == 5
    finally:
        store.open_store(fresh).teardown()  # drop this project's keys and registry rows


def test_materialization_on_feasts_ray_engine(fresh: Workspace, tmp_path: Path) -> None:
    """Feast's Ray compute engine, local mode: the online store ends up as the in-process engine leaves it."""
    pytest.importorskip("ray", reason="the ray engine needs Ray (pip install 'ray[data]')")
    import ray

    twin = Workspace.resolve(shutil.copytree(fresh.root, tmp_path / "twin"))
    assert store.apply(fresh, engine="ray")["backends"]["engine"] == "ray"
    assert "type: ray.engine" in (fresh.feature_store_dir / "feature_store.yaml").read_text()
    try:
        report = materialize(fresh, show_progress=False)
        assert type(store.open_store(fresh)._get_provider().batch_engine).__name__ == "RayComputeEngine"
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    store.apply(twin)
    local = materialize(twin, show_progress=False)
    assert {v: r["rows"] for v, r in report["views"].items()} == {v: r["rows"] for v, r in local["views"].items()}
    keys = {"item_id": list(range(1, 81)), "user_id": list(range(1, 81))}
    features = ["item_attributes:vector", "user_attributes:vector", "user_recent_items:recent_items"]
    assert store.read_online(fresh, features, keys, full_names=True) == store.read_online(twin, features, keys,
                                                                                          full_names=True)
