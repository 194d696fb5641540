"""Score the whole catalogue and every user; write the guided-embedding tables.

Items are scored from their ``text``; users from the titles of their most recent
*train-split* items (validation and test items never reach a user's input). Raw scores
are cached by content hash (scorer, schema, text), so an interrupted run resumes and an
item whose text has not changed is never scored twice.

Outputs (``<workspace>/features/``): ``item_attributes.parquet`` (``item_id``, one float
column per attribute, ``vector``, ``content_hash``, ``event_timestamp``),
``user_attributes.parquet`` (same with ``user_id``), and ``guided_manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gerec.artifacts import atomic_file, write_json
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.guided.calibration import Calibration
from gerec.guided.schema import Schema
from gerec.workspace import Workspace

CHECKPOINT_EVERY = 20  # batches between cache writes (what an interruption can lose)


class TextScorer(Protocol):
    backend: str
    calibrated: bool  # True: raw scores need calibration onto 1–9
    batch_size: int

    def raw_scores(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor: ...

    def describe(self) -> dict[str, str]: ...


def user_texts(workspace: Workspace, seqs: Sequences, recent: int) -> tuple[np.ndarray, list[str]]:
    """(user ids, "title; title; ...") from each user's last ``recent`` train items, oldest first."""
    titles = duckdb.sql(f"SELECT title FROM read_parquet('{workspace.items_path}') ORDER BY item_id").fetchnumpy()["title"]
    lookup = np.concatenate([[""], np.asarray(titles, dtype=object)])
    users = seqs.users
    hp, train = seqs.histories(users, "valid")  # train split only: all but the last two events
    texts = [history_text(lookup[train[max(hp[k], hp[k + 1] - recent):hp[k + 1]]]) for k in range(len(users))]
    return users, texts


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


def _attribute_table(id_name: str, ids: np.ndarray, scores: np.ndarray, schema: Schema, hashes: list[str],
                     stamp: datetime) -> pa.Table:
    vectors = scores.astype(np.float32)
    columns: dict[str, Any] = {id_name: pa.array(ids, pa.int64())}
    for j, name in enumerate(schema.names):
        columns[name] = pa.array(vectors[:, j])
    columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), len(schema))
    columns["content_hash"] = pa.array(hashes)
    columns["event_timestamp"] = pa.array([stamp] * len(ids), pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def _check_failures(out: Path, scorer: TextScorer, scored: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]) -> None:
    """Unparseable answers (generate mode): keep the raw outputs, name the first item, stop."""
    raw_output = {text: (raw, reason) for text, raw, reason in getattr(scorer, "failures", [])}
    rows = []
    for kind, (ids, raw, texts) in scored.items():
        for k in np.flatnonzero(~np.isfinite(raw).all(axis=1)):
            output, reason = raw_output.get(texts[k], ("", "not scored"))
            rows.append({"kind": kind, "id": int(ids[k]), "text": texts[k], "output": output, "reason": reason})
    if rows:
        with atomic_file(out / "score_failures.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        first = rows[0]
        raise GerecError(f"{len(rows)} answers were not in 'name: digit' format (first: {first['kind']} {first['id']}: "
                         f"{first['reason']}); raw outputs in {out / 'score_failures.jsonl'}; "
                         "re-run to retry them, or score without --generate")


def score_workspace(workspace: Workspace, scorer: TextScorer, schema: Schema, recent: int = 10,
                    console: Console | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Score every item and user of the workspace's dataset; returns the manifest."""
    console = console or Console(stderr=True)
    out = workspace.features_dir
    items = pq.read_table(workspace.items_path, columns=["item_id", "text"])
    item_ids = np.asarray(items["item_id"])
    seqs = Sequences.from_workspace(workspace)
    user_ids, texts_u = user_texts(workspace, seqs, recent)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn()]
    started = time.perf_counter()
    with Progress(*columns, console=console, disable=not show_progress, transient=True) as progress:
        raw_i, hash_i, new_i = score_texts(scorer, schema, items["text"].to_pylist(), "item", out / "cache", progress)
        item_seconds = time.perf_counter() - started
        raw_u, hash_u, new_u = score_texts(scorer, schema, texts_u, "user", out / "cache", progress)
    seconds = time.perf_counter() - started
    _check_failures(out, scorer, {"item": (item_ids, raw_i, items["text"].to_pylist()), "user": (user_ids, raw_u, texts_u)})
    cal_i = Calibration.fit(raw_i) if scorer.calibrated else None
    cal_u = Calibration.fit(raw_u) if scorer.calibrated else None
    scores_i = cal_i.apply(raw_i) if cal_i else raw_i
    scores_u = cal_u.apply(raw_u) if cal_u else raw_u
    stamp = datetime.now(timezone.utc)
    for name, table in (("item_attributes.parquet", _attribute_table("item_id", item_ids, scores_i, schema, hash_i, stamp)),
                        ("user_attributes.parquet", _attribute_table("user_id", user_ids, scores_u, schema, hash_u, stamp))):
        with atomic_file(out / name) as tmp:
            pq.write_table(table, tmp)
    manifest = {
        "scorer": scorer.describe(), "schema": schema.to_dict(), "schema_digest": schema.digest(),
        "attributes": schema.names, "recent_items_per_user": recent,
        "items": {"rows": len(item_ids), "newly_scored": new_i, "reused": len(item_ids) - new_i,
                  "items_per_second": round(new_i / item_seconds, 1) if new_i and item_seconds > 0 else None},
        "users": {"rows": len(user_ids), "newly_scored": new_u, "reused": len(user_ids) - new_u},
        "calibration": {"items": cal_i.to_dict() if cal_i else None, "users": cal_u.to_dict() if cal_u else None},
        "seconds": round(seconds, 2), "scored_at": stamp.isoformat(),
        "data_files": workspace.data_manifest()["files"],
    }
    write_json(out / "guided_manifest.json", manifest)
    return manifest
