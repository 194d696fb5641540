"""Guided-embedding verbs: score every item and user on named attributes; fine-tune the scorer.

Items are scored from their ``text``; users from the titles of their most recent
*train-split* items (validation and test items never reach a user's input).

Outputs (``features/``): ``item_attributes.parquet`` (``item_id``, one float column per
attribute, ``vector``, ``content_hash``, ``event_timestamp``), ``user_attributes.parquet``
(same with ``user_id``), ``guided_manifest.json``, and the score cache.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gerec.artifacts import atomic_file, sha256_file, write_json
from gerec.config import check, choice, update
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.guided.calibration import Calibration
from gerec.guided.distributed import ScorerSpec, score_with_ray
from gerec.guided.finetune import BaseLogits
from gerec.guided.schema import Schema, load_schema
from gerec.guided.score import Engine, ScorerIdentity, TextScorer, history_text, score_texts
from gerec.guided.scorers import make_scorer
from gerec.names import DEFAULT_ENCODER, MODELS
from gerec.steps.data import sequences
from gerec.workspace import Workspace

RECENT = 10  # most recent train items whose titles describe a user


def item_texts(ws: Workspace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item ids, titles, texts) in item-id order."""
    items = pq.read_table(ws.items_path, columns=["item_id", "title", "text"]).sort_by("item_id")
    return (np.asarray(items["item_id"]), np.asarray(items["title"].to_pylist(), dtype=object),
            np.asarray(items["text"].to_pylist(), dtype=object))


def user_texts(seqs: Sequences, titles: np.ndarray, recent: int) -> tuple[np.ndarray, list[str]]:
    """(user ids, "title; title; ...") from each user's last ``recent`` train items, oldest first;
    ``titles`` is in item-id order (item 1 first)."""
    lookup = np.concatenate([[""], titles])
    users = seqs.users
    hp, last = seqs.recent(users, "valid", recent)  # train split only: all but the last two events
    return users, [history_text(lookup[last[hp[k]:hp[k + 1]]]) for k in range(len(users))]


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


def _check_failures(out: Path, scorer: ScorerIdentity, scored: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]) -> None:
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
        if not getattr(scorer, "generate", False):  # teacher-forced or encoder scores: the model itself is broken
            raise GerecError(f"the scorer returned NaN or infinite scores for {len(rows)} texts (first: {first['kind']} "
                             f"{first['id']}); a fine-tuned adapter may have diverged: fine-tune again with a lower lr")
        raise GerecError(f"{len(rows)} answers were not in 'name: digit' format (first: {first['kind']} {first['id']}: "
                         f"{first['reason']}); raw outputs in {out / 'score_failures.jsonl'}; "
                         "re-run to retry them, or score without generate mode")


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """"i/n" (0 <= i < n) → (i, n); None stays None."""
    if shard is None:
        return None
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise GerecError(f"shard '{shard}': write it as i/n, e.g. 0/4 for the first of four jobs") from None
    if not 0 <= i < n <= 100_000:
        raise GerecError(f"shard '{shard}': need 0 <= i < n (n at most 100,000)")
    return i, n


def score(ws: Workspace, schema: str | Schema = "movies", backend: str = "encoder", lm: str = DEFAULT_ENCODER,
          recent: int = RECENT, scorer: TextScorer | None = None, generate: bool = False, dtype: str = "",
          batch_size: int = 0, device: str | None = None, engine: str = "local", actors: int = 2,
          ray_address: str | None = None, shard: str | None = None, console: Console | None = None,
          show_progress: bool = True) -> dict[str, Any]:
    """Score every item and user of the workspace's dataset; returns the manifest.

    ``scorer`` (e.g. one just fine-tuned) replaces the one ``backend``/``lm`` name.
    ``engine="ray"`` scores what the cache lacks on ``actors`` Ray actors (``ray_address``: a
    cluster; None: Ray on this machine). ``shard="i/n"`` scores only the i-th of n shares and
    stops (for a job array); a later unsharded run merges the shares and writes the tables.
    """
    console = console or Console(stderr=True)
    ws.data_manifest()  # a clear error before a model loads when there is no dataset
    choice("engine", engine, ("local", "ray"))
    check("actors", actors, 1, 10_000)
    shards = parse_shard(shard)
    if shards and engine == "ray":
        raise GerecError("--shard splits work across independent jobs; with --engine ray, Ray does that: use one")
    if engine == "ray" and scorer is not None:
        raise GerecError("the ray engine rebuilds the scorer on each actor from its name: pass backend/lm, not a scorer")
    schema = schema if isinstance(schema, Schema) else load_schema(schema)
    remote = None
    if engine == "ray":  # the actors load the model; the driver only needs the scorer's identity
        spec = ScorerSpec(backend, lm, generate, dtype, batch_size, device)
        identity: ScorerIdentity = spec
        remote = partial(score_with_ray, spec, schema, actors=actors, address=ray_address)
    else:
        identity = scorer or make_scorer(backend, lm, generate, dtype, batch_size, device)
    run_on = Engine(remote, shards)
    out = ws.features_dir
    item_ids, titles, texts_i = item_texts(ws)
    user_ids, texts_u = user_texts(sequences(ws), titles, recent)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn()]
    started = time.perf_counter()
    with Progress(*columns, console=console, disable=not show_progress, transient=True) as progress:
        raw_i, hash_i, new_i = score_texts(identity, schema, list(texts_i), "item", ws.score_cache_dir, progress, run_on)
        item_seconds = time.perf_counter() - started
        raw_u, hash_u, new_u = score_texts(identity, schema, texts_u, "user", ws.score_cache_dir, progress, run_on)
    seconds = time.perf_counter() - started
    if shards:  # one share of a job array: its part is written; the tables wait for the unsharded run
        return {"shard": f"{shards[0]}/{shards[1]}", "items": {"newly_scored": new_i}, "users": {"newly_scored": new_u},
                "seconds": round(seconds, 2)}
    _check_failures(out, identity, {"item": (item_ids, raw_i, list(texts_i)), "user": (user_ids, raw_u, texts_u)})
    cal_i = Calibration.fit(raw_i) if identity.calibrated else None
    cal_u = Calibration.fit(raw_u) if identity.calibrated else None
    scores_i = cal_i.apply(raw_i) if cal_i else raw_i
    scores_u = cal_u.apply(raw_u) if cal_u else raw_u
    stamp = datetime.now(timezone.utc)
    for path, table in ((ws.item_attributes_path, _attribute_table("item_id", item_ids, scores_i, schema, hash_i, stamp)),
                        (ws.user_attributes_path, _attribute_table("user_id", user_ids, scores_u, schema, hash_u, stamp))):
        with atomic_file(path) as tmp:
            pq.write_table(table, tmp)
    manifest = {
        "scorer": identity.describe(), "schema": schema.to_dict(), "schema_digest": schema.digest(),
        "attributes": schema.names, "recent_items_per_user": recent,
        "engine": engine if engine == "local" else {"kind": engine, "actors": actors, "address": ray_address},
        "items": {"rows": len(item_ids), "newly_scored": new_i, "reused": len(item_ids) - new_i,
                  "items_per_second": round(new_i / item_seconds, 1) if new_i and item_seconds > 0 else None},
        "users": {"rows": len(user_ids), "newly_scored": new_u, "reused": len(user_ids) - new_u},
        "calibration": {"items": cal_i.to_dict() if cal_i else None, "users": cal_u.to_dict() if cal_u else None},
        "seconds": round(seconds, 2), "scored_at": stamp.isoformat(),
        "data_files": ws.data_manifest()["files"],
    }
    write_json(ws.guided_manifest_path, manifest)
    return manifest


def attribute_summary(ws: Workspace) -> dict[str, dict[str, float]]:
    """Mean, min and max of each attribute's item scores (1–9)."""
    names = ws.guided_manifest()["attributes"]
    table = pq.read_table(ws.item_attributes_path, columns=names)
    return {n: {"mean": float(table[n].to_numpy().mean()), "min": float(table[n].to_numpy().min()),
                "max": float(table[n].to_numpy().max())} for n in names}


def base_logits(ws: Workspace, model: str, device: str | None = None) -> BaseLogits:
    """The trained base ``model``'s logits for any history (train items before a target,
    oldest first) against candidate items: what the residual fine-tuning objective adds to."""
    from gerec.training import load_checkpoint

    net = load_checkpoint(ws.model_dir("base", model), device or "cpu").eval()
    max_len = int(net.config.max_len)

    def logits(histories: list[np.ndarray], candidates: np.ndarray) -> torch.Tensor:
        batch = np.zeros((len(histories), max_len), dtype=np.int64)  # left-padded, as evaluation reads them
        for row, history in enumerate(histories):
            tail = history[-max_len:]
            batch[row, max_len - len(tail):] = tail
        with torch.inference_mode():
            scores = net.score(torch.from_numpy(batch).to(net.device), None)
        return scores[:, torch.from_numpy(np.asarray(candidates, dtype=np.int64)).to(net.device)].clone()

    return logits


def finetune(ws: Workspace, schema: str | Schema = "movies", backend: str = "encoder", lm: str = DEFAULT_ENCODER,
             settings: dict[str, Any] | None = None, dtype: str = "", device: str | None = None,
             rescore: bool = True, console: Console | None = None, show_progress: bool = True,
             base_model: str = "sasrec") -> dict[str, Any]:
    """Train LoRA adapters with ``L_rec + λ·L_format`` into ``adapters/<backend>-<domain>``, then
    (``rescore``) score items and users with them; returns both manifests. The ``residual``
    objective adds the LM's term to the trained base ``base_model``'s logits."""
    from gerec.guided.finetune import FinetuneConfig
    from gerec.guided.finetune import finetune as train_adapters

    ws.data_manifest()
    config = update(FinetuneConfig(), settings or {})
    base, provenance = None, {"data_files": ws.data_manifest()["files"]}
    if config.objective == "residual":
        choice("base_model", base_model, MODELS)
        folder = ws.model_dir("base", base_model)
        if not (folder / "model.safetensors").exists():
            raise GerecError(f"the residual objective needs a trained base {base_model}: "
                             f"run `gerec base train --model {base_model}` first")
        base = base_logits(ws, base_model, device)
        provenance["base_model"] = {"model": base_model, "sha256": sha256_file(folder / "model.safetensors")}
    schema = schema if isinstance(schema, Schema) else load_schema(schema)
    scorer = make_scorer(backend, lm, dtype=dtype, device=device)
    out_dir = ws.adapter_dir(backend, schema.domain)
    _, titles, texts = item_texts(ws)
    pad = np.asarray([""], dtype=object)  # entry 0: the padding item
    tuned = train_adapters(scorer, schema, sequences(ws), np.concatenate([pad, titles]), np.concatenate([pad, texts]),
                           config, out_dir, console=console, show_progress=show_progress, provenance=provenance,
                           base=base)
    result: dict[str, Any] = {"finetune": tuned, "adapter": str(out_dir), "config": dataclasses.asdict(config)}
    if rescore:
        result["score"] = score(ws, schema, scorer=scorer, recent=config.recent, console=console,
                                show_progress=show_progress)
    return result
