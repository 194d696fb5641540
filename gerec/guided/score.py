"""Scoring texts on a schema's attributes, cached by content hash.

Raw scores are cached per (scorer, model, schema, kind) and text, so an interrupted run
resumes and a text that has not changed is never scored twice. How a user's history reads
to a language model (:func:`history_text`) is defined here, once, for scoring and
fine-tuning alike.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.progress import Progress

from gerec.artifacts import atomic_file
from gerec.guided.schema import Schema

CHECKPOINT_EVERY = 20  # batches between cache writes (what an interruption can lose)


class TextScorer(Protocol):
    backend: str
    calibrated: bool  # True: raw scores need calibration onto 1–9
    batch_size: int

    def raw_scores(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor: ...

    def describe(self) -> dict[str, str]: ...


HISTORY_SEPARATOR = "; "


def history_text(titles: Sequence[str] | np.ndarray) -> str:
    """How a user's history reads to a language model: titles, oldest first, "; "-joined."""
    return HISTORY_SEPARATOR.join(titles)


def _hashes(texts: list[str], key: str) -> list[str]:
    return [hashlib.sha256(f"{key}\x1f{t}".encode()).hexdigest()[:32] for t in texts]


def _read_cache(path: Path, m: int) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    table = pq.read_table(path)
    raw = np.asarray(table["raw"].to_pylist(), dtype=np.float64).reshape(-1, m)
    return dict(zip(table["hash"].to_pylist(), raw))


def _write_cache(path: Path, cache: dict[str, np.ndarray], m: int) -> None:
    raw = np.asarray(list(cache.values()), dtype=np.float64).reshape(-1, m)
    table = pa.table({"hash": list(cache), "raw": pa.FixedSizeListArray.from_arrays(pa.array(raw.ravel()), m)})
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def score_texts(scorer: TextScorer, schema: Schema, texts: list[str], kind: str, cache_dir: Path,
                progress: Progress | None = None) -> tuple[np.ndarray, list[str], int]:
    """Raw scores (n, m) for ``texts``, reusing and extending the on-disk cache.

    The cache holds one file per (scorer, model, schema, kind). Returns the scores, their
    content hashes, and how many texts were newly scored.
    """
    m = len(schema)
    key = f"{json.dumps(scorer.describe(), sort_keys=True)}\x1f{schema.digest()}\x1f{kind}"
    cache_path = cache_dir / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"
    hashes = _hashes(texts, key)
    cache = _read_cache(cache_path, m)
    todo = sorted({h: i for i, h in enumerate(hashes) if h not in cache}.values())
    task = progress.add_task(f"score {kind}s", total=len(todo), rate="") if progress else None
    started = time.perf_counter()
    for b, start in enumerate(range(0, len(todo), scorer.batch_size)):
        idx = todo[start:start + scorer.batch_size]
        raw = scorer.raw_scores([texts[i] for i in idx], schema, kind).double().numpy()
        cache.update({hashes[i]: raw[j] for j, i in enumerate(idx) if np.isfinite(raw[j]).all()})
        if (b + 1) % CHECKPOINT_EVERY == 0:
            _write_cache(cache_path, cache, m)
        if progress is not None and task is not None:
            done = start + len(idx)
            progress.update(task, completed=done, rate=f"{done / (time.perf_counter() - started):.0f} {kind}s/s")
    if todo:
        _write_cache(cache_path, cache, m)
    missing = np.full(m, np.nan)  # texts the scorer could not score (generate mode)
    return np.stack([cache.get(h, missing) for h in hashes]) if hashes else np.zeros((0, m)), hashes, len(todo)
