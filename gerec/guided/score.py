"""Scoring texts on a schema's attributes, cached by content hash.

Raw scores are cached per (scorer, model, schema, kind) and text, so an interrupted run
resumes and a text that has not changed is never scored twice. Scoring runs here (``local``),
on Ray actors (``ray``, :mod:`gerec.guided.distributed`), or as one of ``n`` independent jobs
(``shard=(i, n)``: a job array without Ray); the last two write Parquet parts beside the
cache, which the next unsharded run merges in. How a user's history reads
to a language model (:func:`history_text`) is defined here, once, for scoring and
fine-tuning alike.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.progress import Progress

from gerec.artifacts import atomic_file
from gerec.guided.schema import Schema

CHECKPOINT_EVERY = 20  # batches between cache writes (what an interruption can lose)


class ScorerIdentity(Protocol):
    """What keys the score cache and decides calibration: a loaded scorer, or the spec Ray actors build one from."""

    calibrated: bool  # True: raw scores need calibration onto 1–9

    def describe(self) -> dict[str, str]: ...


@runtime_checkable
class TextScorer(ScorerIdentity, Protocol):
    backend: str
    batch_size: int

    def raw_scores(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor: ...


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
    with atomic_file(path) as tmp:
        pq.write_table(raw_table(list(cache), raw), tmp)


def raw_table(hashes: list[str], raw: np.ndarray) -> pa.Table:
    """Scored rows as the cache (and its parts) store them: content hash and raw scores, finite rows only."""
    keep = np.isfinite(raw).all(axis=1)
    values = pa.array(np.ascontiguousarray(raw[keep], dtype=np.float64).ravel())
    return pa.table({"hash": pa.array([h for h, k in zip(hashes, keep) if k], pa.string()),
                     "raw": pa.FixedSizeListArray.from_arrays(values, raw.shape[1])})


def _parts_dir(cache_path: Path) -> Path:
    return cache_path.with_suffix(".parts")


def _merge_parts(cache_path: Path, cache: dict[str, np.ndarray], m: int) -> None:
    """Fold the parts of Ray or ``--shard`` runs into the cache, then remove them. A part that
    cannot be read (a worker killed mid-write) is dropped: its texts are simply scored again."""
    parts = sorted(_parts_dir(cache_path).glob("*.parquet"))
    if not parts:
        return
    for part in parts:
        try:
            cache.update(_read_cache(part, m))
        except Exception:  # noqa: BLE001 - any damaged part only costs a rescore of its rows
            continue
    _write_cache(cache_path, cache, m)
    for part in parts:
        part.unlink()


# (texts, their hashes, kind, parts folder) → scores written as Parquet parts in that folder
RemoteScoring = Callable[[list[str], list[str], str, Path], None]


@dataclass(frozen=True)
class Engine:
    """Where scoring runs: here; on a cluster (``remote``, e.g. Ray actors from
    :mod:`gerec.guided.distributed`, writing parts that are merged into the cache); or, with
    ``shard=(i, n)``, only the i-th of n shares of the texts, written as a part for a later
    unsharded run to merge."""

    remote: RemoteScoring | None = None
    shard: tuple[int, int] | None = None


def score_texts(scorer: ScorerIdentity, schema: Schema, texts: list[str], kind: str, cache_dir: Path,
                progress: Progress | None = None, engine: Engine = Engine()) -> tuple[np.ndarray, list[str], int]:
    """Raw scores (n, m) for ``texts``, reusing and extending the on-disk cache.

    The cache holds one file per (scorer, model, schema, kind). Returns the scores, their
    content hashes, and how many texts were newly scored. With ``engine.shard`` only that
    share is scored (into its part), and the scores of the other shares are NaN.
    """
    m = len(schema)
    key = f"{json.dumps(scorer.describe(), sort_keys=True)}\x1f{schema.digest()}\x1f{kind}"
    cache_path = cache_dir / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.parquet"
    hashes = _hashes(texts, key)
    cache = _read_cache(cache_path, m)
    part, mine = cache_path, cache  # where newly scored rows are checkpointed
    if engine.shard:  # other shards may be writing their parts now: read only this one's
        i, n = engine.shard
        part = _parts_dir(cache_path) / f"shard-{i}-of-{n}.parquet"
        mine = _read_cache(part, m)
        cache.update(mine)
    else:
        _merge_parts(cache_path, cache, m)
    todo = sorted({h: i for i, h in enumerate(hashes) if h not in cache}.values())
    if engine.shard:
        todo = [k for k in todo if int(hashes[k][:8], 16) % engine.shard[1] == engine.shard[0]]
    if engine.remote is not None:
        if todo:
            engine.remote([texts[k] for k in todo], [hashes[k] for k in todo], kind, _parts_dir(cache_path))
            _merge_parts(cache_path, cache, m)
    elif isinstance(scorer, TextScorer):
        _score_here(scorer, schema, texts, hashes, todo, kind, mine, part, progress)
        cache.update(mine)
    else:
        raise TypeError(f"scoring in this process needs a loaded scorer, not {type(scorer).__name__}")
    missing = np.full(m, np.nan)  # texts the scorer could not score (generate mode), or other shards' texts
    return np.stack([cache.get(h, missing) for h in hashes]) if hashes else np.zeros((0, m)), hashes, len(todo)


def _score_here(scorer: TextScorer, schema: Schema, texts: list[str], hashes: list[str], todo: list[int], kind: str,
                cache: dict[str, np.ndarray], path: Path, progress: Progress | None) -> None:
    """Score ``todo`` into ``cache`` in this process, checkpointing it to ``path`` (the cache, or a shard's part)."""
    m = len(schema)
    task = progress.add_task(f"score {kind}s", total=len(todo), rate="") if progress else None
    started = time.perf_counter()
    for b, start in enumerate(range(0, len(todo), scorer.batch_size)):
        idx = todo[start:start + scorer.batch_size]
        raw = scorer.raw_scores([texts[i] for i in idx], schema, kind).double().numpy()
        cache.update({hashes[i]: raw[j] for j, i in enumerate(idx) if np.isfinite(raw[j]).all()})
        if (b + 1) % CHECKPOINT_EVERY == 0:
            _write_cache(path, cache, m)
        if progress is not None and task is not None:
            done = start + len(idx)
            progress.update(task, completed=done, rate=f"{done / (time.perf_counter() - started):.0f} {kind}s/s")
    if todo:
        _write_cache(path, cache, m)
