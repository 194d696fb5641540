"""A persisted FAISS maximum-inner-product index over item embeddings, keyed by item id.

On disk (``<workspace>/indexes/<name>/``): ``index.faiss`` (the vectors *and* their item ids:
a FAISS ``IndexIDMap2``, so a search returns item ids and a search-time id selector names
items, with no side table to keep in step), ``items.parquet`` (id → title) and
``manifest.json`` (source, model, width, metric, kind, build time, recall@10 against exact
search, SHA-256 of both files). A build writes a new folder and swaps it in with one
rename, so a reader sees the old index or the new one, never half of one; a reader that
already loaded the old one keeps answering from memory.

Exact (flat) search is the default up to ``FLAT_LIMIT`` items; above it HNSW. An
approximate index is measured against exact search on held-out queries at build time and
refused below a recall floor, so it never silently returns the wrong items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gerec.artifacts import atomic_dir, read_json, sha256_file, write_json
from gerec.errors import GerecError

FLAT_LIMIT = 200_000  # exact search stays fast (a few ms per query) up to about here
KINDS = ("auto", "flat", "hnsw", "ivf")
INDEX_FILE, ITEMS_FILE, MANIFEST_FILE = "index.faiss", "items.parquet", "manifest.json"


class RetrievalError(GerecError):
    """An index that cannot be built, loaded or used as asked (the message says why)."""


def _faiss() -> Any:
    import faiss

    return faiss


def _make(kind: str, dim: int, n: int, hnsw_m: int, ivf_lists: int | None) -> Any:
    """The searching index of ``kind`` (callers wrap it in an id map)."""
    faiss = _faiss()
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = 128
        return index
    if kind == "ivf":
        lists = ivf_lists or max(1, int(4 * np.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = max(1, lists // 8)
        return index
    raise RetrievalError(f"unknown index kind '{kind}'; choose one of: {', '.join(KINDS)}")


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k rows that the approximate search also returned (rows of ids)."""
    hits = sum(len(set(f) & set(e)) for f, e in zip(found.tolist(), exact.tolist()))
    return hits / max(exact.size, 1)


@dataclass
class ItemIndex:
    """A loaded index: search returns item ids and scores, best first."""

    index: Any  # faiss.IndexIDMap2 around a flat, HNSW or IVF index
    manifest: dict[str, Any]
    ids: np.ndarray = field(init=False, repr=False)  # (n,) the item ids held, in insertion order
    known: set[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids = _faiss().vector_to_array(self.index.id_map).astype(np.int64)
        self.known = set(self.ids.tolist())

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.known

    def search(self, queries: np.ndarray, k: int, exclude: list[set[int]] | None = None,
               include: list[set[int] | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (ids, scores) per query row among each row's ``include`` ids (default: all)
        minus its ``exclude`` ids; ids are -1 where fewer than ``k`` items remain.

        Filtering happens inside FAISS (search-time id selectors on item ids), so a long
        exclusion list costs no over-fetching and an include list never returns an item
        outside it.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise RetrievalError(f"queries have width {queries.shape[-1]}, the index {self.dim}")
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        include = include or [None] * len(queries)  # type: ignore[list-item]
        plain = [b for b in range(len(queries)) if not (exclude and exclude[b]) and include[b] is None]
        if plain:  # no filter: one batched search
            scores, ids = self.index.search(queries[plain], min(k, len(self)))
            out_ids[plain, : ids.shape[1]], out_scores[plain, : ids.shape[1]] = ids, scores
        for b in sorted(set(range(len(queries))) - set(plain)):
            skip = exclude[b] if exclude else set()
            if include[b] is not None:  # an explicit list: scored exactly (an approximate graph can miss its members)
                ids = np.array(sorted(i for i in include[b] if i in self.known and i not in skip), dtype=np.int64)
                scores = self.vectors(ids) @ queries[b] if len(ids) else np.zeros(0, np.float32)
                top = np.argsort(-scores, kind="stable")[:k]
                ids, scores = ids[top], scores[top]
            else:
                found, ids = self.index.search(queries[b:b + 1], min(k, len(self)), params=self._params(skip))
                keep = ids[0] >= 0
                ids, scores = ids[0][keep], found[0][keep]
            out_ids[b, : len(ids)], out_scores[b, : len(ids)] = ids, scores
        return out_ids, out_scores

    def _params(self, exclude: set[int]) -> Any:
        """FAISS search parameters whose id selector leaves out the items ``exclude``."""
        faiss = _faiss()
        selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.fromiter(exclude, dtype=np.int64, count=len(exclude))))
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
        if isinstance(inner, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
        return faiss.SearchParameters(sel=selector)

    def vectors(self, item_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """The stored vectors of ``item_ids`` (for similar-item queries and explanations)."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        missing = [int(i) for i in item_ids if int(i) not in self.known]
        if missing:
            raise RetrievalError(f"unknown item id {missing[0]} (the index holds {len(self):,} items)")
        if not len(item_ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_batch(item_ids).astype(np.float32)


def _checksums(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in (INDEX_FILE, ITEMS_FILE)}


def _write_items(path: Path, item_ids: np.ndarray, titles: list[str]) -> None:
    pq.write_table(pa.table({"item_id": pa.array(item_ids, pa.int64()), "title": pa.array(titles, pa.string())}), path)


def build_index(out_dir: Path, vectors: np.ndarray, item_ids: np.ndarray, titles: list[str], source: dict[str, Any],
                kind: str = "auto", queries: np.ndarray | None = None, recall_floor: float = 0.95,
                hnsw_m: int = 32, ivf_lists: int | None = None, seed: int = 42) -> dict[str, Any]:
    """Build, measure and atomically publish an index of ``vectors`` (n, d) keyed by ``item_ids``
    (with each item's title in ``items.parquet``, so answers need no other file).

    ``queries`` (held-out user queries) measure an approximate index's recall@10 against
    exact search; without them, a seeded sample of the items' own vectors is used.
    """
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    item_ids = np.asarray(item_ids, dtype=np.int64)
    if vectors.ndim != 2 or len(vectors) != len(item_ids) or len(titles) != len(item_ids) or len(vectors) == 0:
        raise RetrievalError(f"need (n, d) vectors and n ids, got {vectors.shape} and {item_ids.shape}")
    if len(np.unique(item_ids)) != len(item_ids):
        raise RetrievalError("item ids must be unique")
    if not np.isfinite(vectors).all():
        raise RetrievalError("item vectors contain NaN or infinite values")
    n, dim = vectors.shape
    chosen = ("flat" if n <= FLAT_LIMIT else "hnsw") if kind == "auto" else kind
    started = time.perf_counter()
    index = faiss.IndexIDMap2(_make(chosen, dim, n, hnsw_m, ivf_lists))
    if not index.is_trained:
        index.train(vectors)
    index.add_with_ids(vectors, item_ids)
    build_seconds = time.perf_counter() - started
    recall = 1.0
    if chosen != "flat":
        rng = np.random.default_rng(seed)
        if queries is None or len(queries) == 0:
            queries = vectors[rng.choice(n, size=min(n, 1000), replace=False)]
        elif len(queries) > 1000:
            queries = queries[rng.choice(len(queries), size=1000, replace=False)]
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        exact = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        exact.add_with_ids(vectors, item_ids)
        k = min(10, n)
        _, truth = exact.search(queries, k)
        _, found = index.search(queries, k)
        recall = recall_at(found, truth)
        if recall < recall_floor:
            raise RetrievalError(f"{chosen} index recall@10 {recall:.3f} is below the floor {recall_floor:.2f} "
                              "(on held-out queries vs exact search): use kind 'flat', a larger hnsw_m, "
                              "or lower the recall floor knowingly")
    with atomic_dir(out_dir) as tmp:
        faiss.write_index(index, str(tmp / INDEX_FILE))
        _write_items(tmp / ITEMS_FILE, item_ids, titles)
        manifest = {"source": source, "width": dim, "metric": "inner_product", "kind": chosen, "items": n,
                    "recall_at_10": round(recall, 4), "recall_floor": recall_floor,
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "build_seconds": round(build_seconds, 3),
                    "sha256": _checksums(tmp),
                    "faiss_version": faiss.__version__}
        write_json(tmp / MANIFEST_FILE, manifest)
    return manifest


def load_index(folder: Path, expected_dim: int | None = None) -> ItemIndex:
    """Load and verify an index: checksums must match the manifest and the width the model's."""
    faiss = _faiss()
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.exists():
        raise RetrievalError(f"no index in {folder}: run `gerec index build`")
    manifest = read_json(manifest_path)
    for name, digest in manifest["sha256"].items():
        if sha256_file(folder / name) != digest:
            raise RetrievalError(f"{folder / name} does not match its manifest checksum: the index is damaged "
                              "or was changed by hand; rebuild it with `gerec index build`")
    if expected_dim is not None and manifest["width"] != expected_dim:
        raise RetrievalError(f"index {folder} has width {manifest['width']} but the model's queries have width "
                          f"{expected_dim}: rebuild the index for this model")
    index = faiss.read_index(str(folder / INDEX_FILE))
    if index.d != manifest["width"]:
        raise RetrievalError(f"{folder / INDEX_FILE} has width {index.d}, its manifest says {manifest['width']}")
    if not isinstance(index, faiss.IndexIDMap2):
        raise RetrievalError(f"{folder} was built by an older gerec (item ids in a side file): "
                             "rebuild it with `gerec index build`")
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = 128
    return ItemIndex(index, manifest)


def add_to_index(folder: Path, vectors: np.ndarray, item_ids: np.ndarray, titles: list[str]) -> dict[str, Any]:
    """Append items (cold start) without a rebuild; republished atomically with a new manifest."""
    faiss = _faiss()
    current = load_index(folder)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    item_ids = np.asarray(item_ids, dtype=np.int64)
    if vectors.shape[1:] != (current.dim,):
        raise RetrievalError(f"new vectors have width {vectors.shape[-1]}, the index {current.dim}")
    clash = set(item_ids.tolist()) & current.known
    if clash:
        raise RetrievalError(f"item id {min(clash)} is already in the index")
    current.index.add_with_ids(vectors, item_ids)
    ids = np.concatenate([current.ids, item_ids])
    known = pq.read_table(folder / ITEMS_FILE)["title"].to_pylist()
    with atomic_dir(folder) as tmp:
        faiss.write_index(current.index, str(tmp / INDEX_FILE))
        _write_items(tmp / ITEMS_FILE, ids, known + list(titles))
        manifest = {**current.manifest, "items": len(ids), "added": current.manifest.get("added", 0) + len(item_ids),
                    "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "sha256": _checksums(tmp)}
        write_json(tmp / MANIFEST_FILE, manifest)
    return manifest
