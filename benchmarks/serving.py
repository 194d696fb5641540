"""Serving speed: FAISS vs NumPy brute force, and the HTTP service under load on loopback.

1. Query throughput, one query at a time (as a server answers), one thread: a FAISS flat
   inner-product index against NumPy's ``q @ X.T`` + ``argpartition`` over the same
   vectors — random vectors of 1k, 100k and 1M items, and the real refined item table of
   the given workspace. Both return the same top-10 (checked).
2. ``gerec serve`` started as a subprocess on 127.0.0.1; GET /recommend for random known
   users, at concurrency 1, 8 and 32, from a thread pool of HTTP clients in this process
   (it shares the 2 cores with the server). Reports p50/p99 latency, requests/s, errors.

Run: python benchmarks/serving.py --workspace /tmp/gerec-refined-bench/ml-100k --requests 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gerec.artifacts import read_json, write_json

RESULTS = Path(__file__).parent / "results" / "serving.json"


def throughput(vectors: np.ndarray, n_queries: int, seed: int = 0) -> dict[str, float]:
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    queries = vectors[rng.integers(0, len(vectors), n_queries)] + rng.standard_normal((n_queries, vectors.shape[1])
                                                                                      ).astype(np.float32) * 0.1
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    started = time.perf_counter()
    found = [index.search(q[None, :], 10)[1][0] for q in queries]
    faiss_s = time.perf_counter() - started
    started = time.perf_counter()
    brute = []
    for q in queries:
        scores = vectors @ q
        top = np.argpartition(-scores, 10)[:10]
        brute.append(top[np.argsort(-scores[top])])
    numpy_s = time.perf_counter() - started
    agree = np.mean([set(a) == set(b) for a, b in zip(found, brute)])
    return {"items": len(vectors), "dim": vectors.shape[1], "queries": n_queries,
            "faiss_qps": round(n_queries / faiss_s, 1), "numpy_qps": round(n_queries / numpy_s, 1),
            "ratio": round(numpy_s / faiss_s, 2), "same_top10": float(agree)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_test(workspace: str, index: str, n_users: int, requests: int, concurrency: int, port: int) -> dict:
    import httpx

    rng = np.random.default_rng(concurrency)
    users = rng.integers(1, n_users + 1, requests)
    latencies = np.zeros(requests)
    errors = 0

    def one(i: int, client: httpx.Client) -> int:
        started = time.perf_counter()
        response = client.get(f"http://127.0.0.1:{port}/recommend", params={"user_id": int(users[i]), "k": 10})
        latencies[i] = (time.perf_counter() - started) * 1000
        return int(response.status_code != 200 or len(response.json()["items"]) != 10)

    clients = [httpx.Client(timeout=30) for _ in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        errors = sum(pool.map(lambda i: one(i, clients[i % concurrency]), range(requests)))
    wall = time.perf_counter() - started
    for c in clients:
        c.close()
    return {"concurrency": concurrency, "requests": requests, "errors": int(errors),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2), "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            "requests_per_second": round(requests / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", required=True, help="a workspace with a refined model and its index")
    parser.add_argument("--index", default="refined-sasrec")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--queries", type=int, default=2000, help="queries per throughput measurement")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--skip-search", action="store_true", help="only the load test")
    args = parser.parse_args()
    from gerec import Workspace
    from gerec.retrieval.index import load_index

    ws = Workspace.resolve(args.workspace)
    real = load_index(ws.index_dir(args.index))
    real_vectors = np.stack([real.index.reconstruct(i) for i in range(len(real))]).astype(np.float32)
    rng = np.random.default_rng(0)
    search = []
    for n in ([] if args.skip_search else (int(s) for s in args.sizes.split(","))):
        search.append({"vectors": "random", **throughput(rng.standard_normal((n, real.dim)).astype(np.float32),
                                                          min(args.queries, 500 if n >= 1_000_000 else args.queries))})
        print(search[-1], flush=True)
    if not args.skip_search:
        search.append({"vectors": f"real ({args.index})", **throughput(real_vectors, args.queries)})
        print(search[-1], flush=True)

    port = free_port()
    env = {**os.environ, "GEREC_THREADS": "1", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "gerec_cli", "--workspace", args.workspace, "serve",
                               "--port", str(port), "--index", args.index, "--workers", str(args.workers)], env=env)
    try:
        import httpx

        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise RuntimeError("the server did not start within 60 s")
        n_users = ws.data_manifest()["final"]["users"]
        load_test(args.workspace, args.index, n_users, 200, 4, port)  # warm-up
        load = []
        for c in (int(x) for x in args.concurrency.split(",")):
            load.append(load_test(args.workspace, args.index, n_users, args.requests, c, port))
            print(load[-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    previous = read_json(RESULTS) if RESULTS.exists() else {}
    runs = {**previous.get("load_by_workers", {}), str(args.workers): load}
    write_json(RESULTS, {"search": search or previous.get("search", []), "load": runs.get("1", load),
                         "load_by_workers": runs, "workspace": args.workspace, "index": args.index,
                         "index_items": len(real), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                         "date": time.strftime("%Y-%m-%d")})


if __name__ == "__main__":
    main()
