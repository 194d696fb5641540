"""Index round trip and checks, top-k = brute force, atomic rebuild, cold start, the HTTP service."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gerec import Workspace
from gerec.features import store
from gerec.retrieval.index import RetrievalError, build_index, load_index
from gerec.serving.answers import recommendations, similar
from gerec.serving.http import create_app
from gerec.serving.recommender import RequestError
from gerec.steps.data import sequences
from gerec.steps.features import materialize
from gerec.steps.index import add_items
from gerec.steps.index import build_index as build_model_index
from gerec.steps.recommend import load_recommender
from gerec.steps.refine import train_refined
from gerec_cli.main import app
from small_workspace import N_ITEMS


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, prepared: Path) -> Path:
    """The prepared workspace with a store, a refined SASRec and its index (built once)."""
    import shutil

    root = tmp_path_factory.mktemp("served") / "ws"
    shutil.copytree(prepared, root)
    ws = Workspace.resolve(root)
    store.apply(ws)
    materialize(ws, show_progress=False)
    train_refined(ws, "sasrec", "refined", {"epochs": 2}, show_progress=False)
    build_model_index(ws, "sasrec", "refined")
    return root


def _random_index(folder: Path, n: int = 500, d: int = 8, seed: int = 0, kind: str = "flat") -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    build_index(folder, vectors, np.arange(1, n + 1), [f"item {i}" for i in range(1, n + 1)], {"test": True}, kind)
    return vectors


def test_index_round_trip_and_exact_search(tmp_path: Path) -> None:
    vectors = _random_index(tmp_path / "idx")
    index = load_index(tmp_path / "idx", expected_dim=8)
    assert len(index) == 500 and index.manifest["kind"] == "flat" and index.manifest["recall_at_10"] == 1.0
    queries = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    ids, scores = index.search(queries, 10, exclude=[{1, 2}] * 5)
    brute = queries @ vectors.T
    for b in range(5):
        brute[b, [0, 1]] = -np.inf  # items 1, 2 excluded
        assert ids[b].tolist() == (np.argsort(-brute[b])[:10] + 1).tolist()
        assert np.allclose(scores[b], np.sort(brute[b])[::-1][:10], atol=1e-5)
    assert np.allclose(index.vectors(np.array([7])), vectors[6])


def test_index_checks_checksums_widths_and_recall(tmp_path: Path) -> None:
    _random_index(tmp_path / "idx")
    with pytest.raises(RetrievalError, match="has width 8 but the model's queries have width 16"):
        load_index(tmp_path / "idx", expected_dim=16)
    with open(tmp_path / "idx" / "index.faiss", "r+b") as fh:  # damage one byte (the id map is stored last)
        fh.seek(-1, 2)
        fh.write(b"\x7f")
    with pytest.raises(RetrievalError, match="does not match its manifest checksum"):
        load_index(tmp_path / "idx")
    with pytest.raises(RetrievalError, match="below the floor"):
        _random_index(tmp_path / "ivf", n=400, d=32, kind="ivf")  # coarse IVF on random vectors misses
    assert not (tmp_path / "ivf").exists()  # nothing published
    hnsw = tmp_path / "hnsw"
    _random_index(hnsw, n=2000, d=16, kind="hnsw")
    assert load_index(hnsw).manifest["recall_at_10"] >= 0.95


def test_ids_live_inside_the_index_and_selectors_filter_by_id(tmp_path: Path) -> None:
    """Sparse, unordered item ids come back from FAISS itself; exclusions name items, not rows,
    for exact and approximate indexes alike."""
    import faiss

    from gerec.artifacts import sha256_file

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    ids = rng.permutation(np.arange(10_000, 40_000, 10))  # sparse, shuffled ids
    brute = vectors[:4] @ vectors.T
    for kind in ("flat", "hnsw"):
        build_index(tmp_path / kind, vectors, ids, [str(i) for i in ids], {}, kind)
        assert sorted(os.listdir(tmp_path / kind)) == ["index.faiss", "items.parquet", "manifest.json"]
        index = load_index(tmp_path / kind)
        assert isinstance(index.index, faiss.IndexIDMap2) and index.ids.tolist() == ids.tolist()
        exact = ids[np.argsort(-brute, axis=1)[:, :20]]  # (4, 20) true neighbours' ids
        skip = [set(row[:5].tolist()) for row in exact]  # exclude each query's five nearest
        found, _ = index.search(vectors[:4], 10, exclude=skip)
        for b in range(4):
            assert not set(found[b].tolist()) & skip[b]
            if kind == "flat":
                assert found[b].tolist() == exact[b, 5:15].tolist()
            else:
                assert len(set(found[b].tolist()) & set(exact[b, 5:15].tolist())) >= 8
        assert np.allclose(index.vectors([ids[7], ids[3]]), vectors[[7, 3]])
    # an index from before ids moved inside it (a bare flat index) is refused with the way out
    flat = faiss.IndexFlatIP(16)
    faiss.write_index(flat, str(tmp_path / "flat" / "index.faiss"))
    manifest = json.loads((tmp_path / "flat" / "manifest.json").read_text())
    manifest["sha256"]["index.faiss"] = sha256_file(tmp_path / "flat" / "index.faiss")
    (tmp_path / "flat" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RetrievalError, match="older gerec.*gerec index build"):
        load_index(tmp_path / "flat")


def test_rebuild_is_atomic_for_a_reader(tmp_path: Path) -> None:
    old_vectors = _random_index(tmp_path / "idx", seed=0)
    reader = load_index(tmp_path / "idx")
    query = old_vectors[:1]
    before = reader.search(query, 5)
    new_vectors = _random_index(tmp_path / "idx", seed=1)  # rebuild while the reader holds the old one
    assert np.array_equal(reader.search(query, 5)[0], before[0])  # the old reader still answers from memory
    fresh = load_index(tmp_path / "idx")
    assert np.allclose(fresh.vectors(np.array([1])), new_vectors[:1])
    # nothing left behind: the link and the one version it points to
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["idx", os.readlink(tmp_path / "idx")])


def test_recommend_equals_brute_force_ranking(served: Path) -> None:
    ws = Workspace.resolve(served)
    rec = load_recommender(ws, "refined-sasrec")
    seqs = sequences(ws)
    for user in (1, 7, 23):
        answer = recommendations(rec, user_id=user, k=10)
        assert not answer["cold_start"]
        history = seqs.items[seqs.indptr[user]:seqs.indptr[user + 1]]
        scores = rec.model.score(torch.from_numpy(history[None, -20:]), torch.tensor([user]))[0].detach().numpy()
        scores[0] = -np.inf
        scores[history] = -np.inf
        expected = np.argsort(-scores, kind="stable")[:10]
        assert [i["item_id"] for i in answer["items"]] == expected.tolist()
        for item in answer["items"]:  # the explanation is exact: parts add up to the score
            assert abs(sum(item["attributes"].values()) + item["latent"] - item["score"]) < 1e-4
            assert abs(item["score"] - scores[item["item_id"]]) < 1e-4
        ids, values = rec.recommend(user, N=10)  # the array API agrees with the answer
        assert ids.tolist() == expected.tolist() and np.allclose(values, scores[expected], atol=1e-4)
    batch_ids, batch_scores = rec.recommend([1, 7, 23], N=5, filter_items=[int(expected[0])])
    assert batch_ids.shape == batch_scores.shape == (3, 5) and int(expected[0]) not in batch_ids[2]
    assert batch_ids[2].tolist() == rec.recommend(23, N=6)[0].tolist()[1:]  # user 23's list minus the filtered item
    split = rec.explain(23, int(expected[1]))
    assert abs(sum(split["attributes"].values()) + split["latent"] - scores[expected[1]]) < 1e-4


def test_cold_start_user_and_item(served: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(served, tmp_path / "ws")
    ws = Workspace.resolve(tmp_path / "ws")
    rec = load_recommender(ws, "refined-sasrec")
    new_user = recommendations(rec, history=[3, 5, 8], k=5)
    assert new_user["cold_start"] and {3, 5, 8}.isdisjoint(i["item_id"] for i in new_user["items"])
    ids, _ = rec.recommend(histories=[[3, 5, 8], [4]], N=5)
    assert ids[0].tolist() == [i["item_id"] for i in new_user["items"]] and 4 not in ids[1]
    nobody = recommendations(rec, user_id=10**6, k=3)
    assert nobody["cold_start"] and nobody["fallback"] == "popularity" and len(nobody["items"]) == 3
    assert [i["item_id"] for i in nobody["items"]] == rec.popular[:3].tolist()
    with pytest.raises(RequestError, match="unknown user"):
        rec.recommend(10**6)  # the array API never guesses: an unknown user is an error
    with pytest.raises(RequestError, match="unknown item id 99999"):
        recommendations(rec, history=[1, 99999])
    text = "A hilarious comedy. Laugh-out-loud jokes and slapstick gags keep it funny."
    ids, manifest = add_items(ws, ["Brand New Comedy"], [text], "refined-sasrec")
    assert ids == [N_ITEMS + 1] and manifest["items"] == N_ITEMS + 1 and manifest["added"] == 1
    rec = load_recommender(ws, "refined-sasrec")
    humor = rec.attributes.index("humor")
    vector = rec.index.vectors(np.array(ids))[0]
    assert vector[humor] > np.median(rec.index.vectors(np.arange(1, N_ITEMS + 1))[:, humor])  # reads as funny
    neighbours = similar(rec, ids[0], k=5)  # retrievable at once, with no interactions
    assert neighbours["title"] == "Brand New Comedy" and len(neighbours["items"]) == 5
    assert rec.similar_items(ids[0], N=5)[0].tolist() == [i["item_id"] for i in neighbours["items"]]
    with_new = recommendations(rec, history=[3, ids[0]], k=3)  # a history may hold the new item too
    assert with_new["history"] == [3, ids[0]] and ids[0] not in [i["item_id"] for i in with_new["items"]]


def test_http_service_endpoints_and_errors(served: Path) -> None:
    ws = Workspace.resolve(served)
    manifest = ws.index_dir("refined-sasrec") / "manifest.json"
    client = TestClient(create_app(lambda: load_recommender(ws, "refined-sasrec"), manifest, api_key="s3cret"))
    key = {"X-API-Key": "s3cret"}
    assert client.get("/readyz").json()["items"] == N_ITEMS and client.get("/livez").status_code == 200
    assert client.get("/recommend", params={"user_id": 1, "k": 3}).status_code == 401
    body = client.get("/recommend", params={"user_id": 1, "k": 3}, headers=key).json()
    assert len(body["items"]) == 3 and not body["cold_start"] and "reasons" in body["items"][0]
    cold = client.get("/recommend", params={"user_id": 10**6}, headers=key).json()
    assert cold["cold_start"] and cold["fallback"] == "popularity"
    posted = client.post("/recommend", json={"history": [1, 2, 3], "k": 4}, headers=key).json()
    assert posted["cold_start"] and len(posted["items"]) == 4
    assert len(client.get("/similar", params={"item_id": 4, "k": 2}, headers=key).json()["items"]) == 2
    explained = client.get("/explain", params={"user_id": 1, "item_id": 4}, headers=key).json()
    assert set(explained["attributes"]) and "latent" in explained
    for method, url, kwargs, status in [
        ("get", "/recommend", {"params": {"user_id": 1, "k": 0}}, 422),
        ("get", "/recommend", {"params": {"user_id": 1, "k": 5000}}, 422),
        ("get", "/recommend", {"params": {"user_id": "abc"}}, 422),
        ("get", "/similar", {"params": {"item_id": 99999}}, 404),
        ("get", "/explain", {"params": {"user_id": 1, "item_id": 99999}}, 404),
        ("post", "/recommend", {"json": {"history": []}}, 422),
        ("post", "/recommend", {"json": {"history": ["x"]}}, 422),
        ("post", "/recommend", {"json": {"history": [1, 99999]}}, 404),
        ("get", "/recommend", {"params": {"user_id": 1, "k": N_ITEMS + 1}}, 400),
    ]:
        response = getattr(client, method)(url, headers=key, **kwargs)
        assert response.status_code == status, (url, kwargs, response.text)
        assert "detail" in response.json()
    assert "/recommend" in client.get("/openapi.json").json()["paths"]
    # a rebuild is picked up without a restart
    before = client.get("/readyz").json()["built_at"]
    build_model_index(ws, "sasrec", "refined", kind="hnsw", recall_floor=0.5)
    assert client.get("/recommend", params={"user_id": 1}, headers=key).status_code == 200  # a request reloads
    assert client.get("/readyz").json()["kind"] == "hnsw"
    assert client.get("/readyz").json()["built_at"] >= before
    build_model_index(ws, "sasrec", "refined")


def test_cli_index_recommend_similar_explain(served: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    root = ["--workspace", str(served), "--threads", "1"]
    out = runner.invoke(app, root + ["recommend", "--user", "2", "-k", "3", "--json"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["items"]) == 3
    out = runner.invoke(app, root + ["similar", "--item", "5", "-k", "2"])
    assert out.exit_code == 0 and "items like 5" in out.output
    chart = tmp_path / "why.png"
    out = runner.invoke(app, root + ["explain", "--user", "2", "--item", "5", "--plot", str(chart)])
    assert out.exit_code == 0 and "latent" in out.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = runner.invoke(app, root + ["recommend", "--history", "1,x"])
    assert out.exit_code == 1 and "comma-separated item ids" in out.output
    out = runner.invoke(app, root + ["index", "build", "--name", "nope", "--variant", "guided"])
    assert out.exit_code == 1 and "gerec refine train --model sasrec" in out.output


def test_gerec_serve_runs_on_loopback(served: Path, tmp_path: Path) -> None:
    """A real `gerec serve` process: ready only once its index exists, batching answers as single
    requests do, metrics count what was served, steering moves the named attribute's share."""
    import shutil
    import socket
    import subprocess
    import sys
    import time

    import httpx

    ws_root = tmp_path / "ws"
    shutil.copytree(served, ws_root, symlinks=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    key = {"X-API-Key": "k"}
    server = subprocess.Popen([sys.executable, "-m", "gerec_cli", "--workspace", str(ws_root), "--threads", "1", "serve",
                               "--port", str(port), "--api-key", "k", "--index", "fresh"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(120):
            try:
                live = httpx.get(f"{url}/livez", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.5)
        assert live.status_code == 200
        not_yet = httpx.get(f"{url}/readyz", timeout=5)
        assert not_yet.status_code == 503 and "gerec index build" in not_yet.json()["detail"]
        assert httpx.get(f"{url}/recommend", params={"user_id": 1}, headers=key).status_code == 503
        build_model_index(Workspace.resolve(ws_root), "sasrec", "refined", name="fresh")
        ready = httpx.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["items"] == N_ITEMS

        singles = [httpx.post(f"{url}/recommend", json=body, headers=key).json()
                   for body in ({"user_id": 1, "k": 3}, {"history": [3, 5], "k": 2}, {"user_id": 7, "k": 4})]
        batch = httpx.post(f"{url}/recommend/batch", headers=key, json={"requests": [
            {"user_id": 1, "k": 3}, {"history": [3, 5], "k": 2}, {"user_id": 7, "k": 4}]})
        assert batch.status_code == 200
        for one, many in zip(singles, batch.json()["answers"]):
            assert [i["item_id"] for i in one["items"]] == [i["item_id"] for i in many["items"]]
            assert np.allclose([i["score"] for i in one["items"]], [i["score"] for i in many["items"]], atol=1e-5)

        plain = httpx.post(f"{url}/recommend", json={"user_id": 1, "k": 10}, headers=key)
        assert plain.headers["X-Request-ID"] and plain.headers["X-Index-Version"] and plain.headers["X-Model-Version"]
        import pyarrow.parquet as pq

        scores = pq.read_table(Workspace.resolve(ws_root).item_attributes_path).to_pandas().set_index("item_id")
        humor = lambda answer: np.mean([scores.loc[i["item_id"], "humor"] for i in answer["items"]])  # noqa: E731
        more = httpx.post(f"{url}/recommend", json={"user_id": 1, "k": 10, "steer": {"humor": 5}}, headers=key).json()
        less = httpx.post(f"{url}/recommend", json={"user_id": 1, "k": 10, "steer": {"humor": -5}}, headers=key).json()
        # the recommended items get funnier / less funny
        assert humor(less) <= humor(plain.json()) + 1e-4 <= humor(more) + 2e-4 and humor(less) < humor(more)
        for item in more["items"]:  # still an exact split of the (steered) score
            assert abs(sum(item["attributes"].values()) + item["latent"] - item["score"]) < 1e-4
        only = httpx.post(f"{url}/recommend", json={"user_id": 1, "k": 5, "include": [2, 3, 4]}, headers=key).json()
        assert {i["item_id"] for i in only["items"]} <= {2, 3, 4}
        bad = httpx.post(f"{url}/recommend", json={"user_id": 1, "steer": {"no such": 1}}, headers=key)
        assert bad.status_code == 400 and "unknown attribute" in bad.json()["detail"]

        metrics = httpx.get(f"{url}/metrics").text
        served_ok = [line for line in metrics.splitlines()
                     if line.startswith('gerec_requests_total{endpoint="/recommend",status="200"}')]
        assert served_ok and float(served_ok[0].split()[-1]) == 7  # 3 singles, plain, more, less, only
        assert 'gerec_stage_seconds_count{stage="model"}' in metrics and "gerec_index_items 120.0" in metrics
        assert 'gerec_gc_pause_seconds_count{generation="2"}' in metrics  # collections are timed (the tail's cause)

        example = Path(__file__).resolve().parents[1] / "examples" / "http_client.py"  # the client users copy
        out = subprocess.run([sys.executable, str(example), url, "--api-key", "k"], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        assert "top 3 for user 1:" in out.stdout and "explain " in out.stdout and "more " in out.stdout
        assert "unknown item → /similar: HTTP 404" in out.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_concurrent_requests_are_batched_and_answered_as_alone(served: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ws = Workspace.resolve(served)
    manifest = ws.index_dir("refined-sasrec") / "manifest.json"
    alone = TestClient(create_app(lambda: load_recommender(ws), manifest, max_batch=1))
    batched = TestClient(create_app(lambda: load_recommender(ws), manifest, max_batch=32, max_wait=0.05))
    users = list(range(1, 41))
    expected = {u: alone.get("/recommend", params={"user_id": u, "k": 5}).json()["items"] for u in users}

    def batch_sizes() -> tuple[float, float]:
        lines = batched.get("/metrics").text.splitlines()
        value = lambda name: float(next(line for line in lines if line.startswith(name)).split()[-1])  # noqa: E731
        return value("gerec_batch_size_count"), value("gerec_batch_size_sum")

    count0, total0 = batch_sizes()
    with ThreadPoolExecutor(16) as pool:
        got = dict(zip(users, pool.map(lambda u: batched.get("/recommend", params={"user_id": u, "k": 5}).json(), users)))
    for u in users:
        assert [i["item_id"] for i in got[u]["items"]] == [i["item_id"] for i in expected[u]]
    count, total = batch_sizes()
    assert total - total0 == 40 and count - count0 < 40  # some of the 40 requests shared a model pass
    assert batched.get("/recommend", params={"user_id": 1, "k": 5000}).status_code == 422
    bad = batched.post("/recommend", json={"history": [1, 99999]})
    assert bad.status_code == 404  # one bad request in a batch gets its own error


def test_a_collection_during_a_scrape_does_not_deadlock_the_service() -> None:
    """A garbage collection can start inside any allocation, also one prometheus-client makes
    while a scrape holds a metric's lock; the pause timer must not then wait on that lock (in a
    child process: a deadlock would otherwise hang the test run)."""
    import subprocess
    import sys

    probe = ("import gc\n"
             "from gerec.serving.http import Metrics\n"
             "metrics = Metrics()\n"
             "gc.collect()\n"
             "with metrics.gc._lock:  # what a scrape holds while it copies the histogram's children\n"
             "    gc.collect()\n"
             "print(metrics.scrape().decode())\n")
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a collection while the scrape held the histogram's lock deadlocked")
    assert out.returncode == 0, out.stderr
    assert 'gerec_gc_pause_seconds_count{generation="2"} 2.0' in out.stdout  # both collections recorded


def test_metrics_of_a_dropped_app_are_freed() -> None:
    """Each app's collector timing must end with the app: a hook per app in ``gc.callbacks``
    kept every app's metrics alive and ran one more hook per collection for each app built."""
    import gc
    import weakref

    from gerec.serving.http import Metrics

    hooks = len(gc.callbacks)
    metrics = [Metrics() for _ in range(3)]
    gc.collect()
    assert all(m.scrape() for m in metrics) and len(gc.callbacks) == hooks
    refs = [weakref.ref(m) for m in metrics]
    del metrics
    gc.collect()
    assert all(r() is None for r in refs)
