"""Serving speed: FAISS vs NumPy brute force, and the HTTP service under load on loopback.

1. Query throughput, one query at a time (as a server answers), one thread: a FAISS flat
   inner-product index against NumPy's ``q @ X.T`` + ``argpartition`` over the same
   vectors — random vectors of 1k, 100k and 1M items, and the real refined item table of
   the given workspace. Both return the same top-10 (checked).
2. Filtering a user's seen items out of the results: FAISS search-time id selectors (what
   gerec does) against over-fetching ``k + |seen|`` and filtering in Python (what it did),
   one query at a time, at 1k/100k/1M items (flat, exact) and 100k items (HNSW), with 50
   and 500 seen items. Both must return the same top-10 on the exact index (checked).
3. ``gerec serve`` started as a subprocess on 127.0.0.1 with 1 or 2 worker processes;
   GET /recommend for random known users at concurrency 1, 8 and 32 from a closed-loop
   load generator in its own process (``loadgen.py``; it shares the 2 cores with the
   server). Half-way through each level the index is rebuilt and published (flat ↔ HNSW,
   so its version changes): a hot swap under load. Reports p50/p90/p99/p99.9 latency,
   requests/s, errors, the index versions answers carried, and the server's own latency
   and stage histograms from /metrics (to place the tail).

Run: python benchmarks/serving.py --workspace /tmp/servews --requests 10000 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def filters(n: int, dim: int, kind: str, seen: int, n_queries: int, seed: int = 0) -> dict[str, Any]:
    """ms per query: id selectors vs over-fetch + Python filter, excluding ``seen`` random items."""
    import faiss

    from gerec.retrieval.index import ItemIndex

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    inner = faiss.IndexFlatIP(dim) if kind == "flat" else faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        inner.hnsw.efConstruction, inner.hnsw.efSearch = 200, 128
    raw = faiss.IndexIDMap2(inner)
    raw.add_with_ids(vectors, np.arange(1, n + 1))
    index = ItemIndex(raw, {})
    queries = vectors[rng.integers(0, n, n_queries)] + rng.standard_normal((n_queries, dim)).astype(np.float32) * 0.1
    skips = [set(rng.choice(np.arange(1, n + 1), size=min(seen, n - 20), replace=False).tolist()) for _ in queries]
    timings: dict[str, list[float]] = {"selector": [], "over_fetch": []}
    found: dict[str, list[list[int]]] = {"selector": [], "over_fetch": []}
    for q, skip in zip(queries, skips):
        started = time.perf_counter()
        ids, _ = index.search(q[None, :], 10, exclude=[skip])
        timings["selector"].append(time.perf_counter() - started)
        found["selector"].append(ids[0].tolist())
        started = time.perf_counter()
        _, more = raw.search(q[None, :], 10 + len(skip))
        kept = [int(i) for i in more[0] if i >= 0 and int(i) not in skip][:10]
        timings["over_fetch"].append(time.perf_counter() - started)
        found["over_fetch"].append(kept)
    same = float(np.mean([a == b for a, b in zip(found["selector"], found["over_fetch"])]))
    out: dict[str, Any] = {"items": n, "kind": kind, "seen": seen, "queries": n_queries, "same_top10": same}
    for name, t in timings.items():
        out[f"{name}_ms"] = round(1000 * float(np.mean(t)), 3)
        out[f"{name}_p99_ms"] = round(1000 * float(np.percentile(t, 99)), 3)
    out["over_fetch_vs_selector"] = round(out["over_fetch_ms"] / out["selector_ms"], 2)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> dict[str, Any]:
    """The server's latency histograms from /metrics: per endpoint and per stage, as
    {name: {"count": n, "sum_s": s, "buckets": {le: cumulative count}}}."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        if family.name not in ("gerec_request_seconds", "gerec_stage_seconds", "gerec_batch_size",
                               "gerec_gc_pause_seconds", "gerec_index_reloads"):
            continue
        for sample in family.samples:
            label = ",".join(v for k, v in sorted(sample.labels.items()) if k not in ("le", "status"))
            entry = out.setdefault(f"{family.name}{{{label}}}" if label else family.name, {"buckets": {}})
            if sample.name.endswith("_bucket"):
                entry["buckets"][sample.labels["le"]] = sample.value
            elif sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["sum_s"] = round(sample.value, 4)
            elif sample.name.endswith("_total"):
                entry["count"] = sample.value
    return out


def swap_index(workspace: str, kind: str) -> float:
    """Rebuild and publish the served index as ``kind`` (seconds): what an operator's rebuild does."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gerec_cli", "--workspace", workspace, "index", "build", "--kind", kind],
                   check=True, capture_output=True, env={**os.environ, "GEREC_THREADS": "1"})
    return time.perf_counter() - started


def load_level(workspace: str, url: str, n_users: int, requests: int, concurrency: int, swap_kind: str | None
               ) -> dict[str, Any]:
    """One concurrency level from loadgen.py in its own process; with ``swap_kind``, the index
    is republished as that kind when half the requests have been sent."""
    with tempfile.TemporaryDirectory() as tmp:
        signal = Path(tmp) / "swap"
        command = [sys.executable, str(Path(__file__).parent / "loadgen.py"), "--url", url, "--users", str(n_users),
                   "--requests", str(requests), "--concurrency", str(concurrency), "--seed", str(concurrency)]
        if swap_kind:
            command += ["--swap-at", str(requests // 2), "--swap-file", str(signal)]
        answer = Path(tmp) / "answer.json"  # a file, not a pipe: 10,000 latencies overflow a pipe's buffer
        with open(answer, "w") as sink:
            generator = subprocess.Popen(command, stdout=sink, text=True)
            swap_seconds = None
            while generator.poll() is None:
                if swap_kind and swap_seconds is None and signal.exists():
                    swap_seconds = round(swap_index(workspace, swap_kind), 2)
                time.sleep(0.05)
        if generator.returncode:
            raise RuntimeError(f"the load generator failed (exit {generator.returncode})")
        result = json.loads(answer.read_text())
    latencies = np.asarray(result.pop("latencies_ms"))
    if swap_kind:
        result["swap"] = {"to": swap_kind, "seconds": swap_seconds}
    result["slowest_1pct_mean_ms"] = round(float(np.sort(latencies)[-max(1, len(latencies) // 100):].mean()), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", required=True, help="a workspace with a refined model and its index")
    parser.add_argument("--index", default="refined-sasrec")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--queries", type=int, default=2000, help="queries per throughput measurement")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--parts", default="search,filters,load", help="which parts to run")
    parser.add_argument("--no-swap", action="store_true", help="no index swap during the load levels")
    parser.add_argument("--label", default=None, help="names this load run in the results (default: the workers)")
    args = parser.parse_args()
    from gerec import Workspace
    from gerec.retrieval.index import load_index

    parts = set(args.parts.split(","))
    ws = Workspace.resolve(args.workspace)
    real = load_index(ws.index_dir(args.index))
    previous = read_json(RESULTS) if RESULTS.exists() else {}
    result: dict[str, Any] = {**previous, "workspace": args.workspace, "index": args.index, "index_items": len(real),
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                              "date": time.strftime("%Y-%m-%d")}
    rng = np.random.default_rng(0)
    if "search" in parts:
        result["search"] = []
        for n in (int(s) for s in args.sizes.split(",")):
            result["search"].append({"vectors": "random", **throughput(
                rng.standard_normal((n, real.dim)).astype(np.float32), min(args.queries, 500 if n >= 1_000_000 else args.queries))})
            print(result["search"][-1], flush=True)
        result["search"].append({"vectors": f"real ({args.index})", **throughput(real.vectors(real.ids), args.queries)})
        print(result["search"][-1], flush=True)
    if "filters" in parts:
        result["filters"] = []
        cases = [(int(n), "flat") for n in args.sizes.split(",")] + [(100_000, "hnsw")]
        for n, kind in cases:
            for seen in (50, 500):
                result["filters"].append(filters(n, real.dim, kind, seen, 200 if n >= 1_000_000 else 1000))
                print(result["filters"][-1], flush=True)
    if "load" in parts:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "GEREC_THREADS": "1", "OMP_NUM_THREADS": "1"}
        server = subprocess.Popen([sys.executable, "-m", "gerec_cli", "--workspace", args.workspace, "serve",
                                   "--port", str(port), "--index", args.index, "--workers", str(args.workers)],
                                  env=env, stderr=subprocess.DEVNULL)
        try:
            import httpx

            for _ in range(240):
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                raise RuntimeError("the server did not become ready within 2 minutes")
            n_users = ws.data_manifest()["final"]["users"]
            load_level(args.workspace, url, n_users, 500, 4, None)  # warm-up
            levels = []
            kinds = ["flat", "hnsw"] if real.manifest["kind"] == "hnsw" else ["hnsw", "flat"]  # each swap changes it
            for j, c in enumerate(int(x) for x in args.concurrency.split(",")):
                levels.append(load_level(args.workspace, url, n_users, args.requests, c,
                                         None if args.no_swap else kinds[j % 2]))
                print({k: v for k, v in levels[-1].items() if k != "first_errors"}, flush=True)
            server_side = scrape(url) if args.workers == 1 else {}  # with 2 workers /metrics is one worker's view
        finally:
            server.terminate()
            server.wait(timeout=30)
            if not args.no_swap:
                swap_index(args.workspace, "flat")  # leave the workspace as found
        result.setdefault("load_by_workers", {})[args.label or str(args.workers)] = {"levels": levels,
                                                                                     "server": server_side}
        result.pop("load", None)
    write_json(RESULTS, result)


if __name__ == "__main__":
    main()
