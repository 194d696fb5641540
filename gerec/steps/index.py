"""Index verbs: a FAISS index over a trained model's item table; cold-start items added to it."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from gerec.artifacts import sha256_file, write_json
from gerec.config import check, choice
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.guided.calibration import Calibration
from gerec.guided.schema import parse_schema
from gerec.guided.score import TextScorer
from gerec.names import DEFAULT_INDEX, DEFAULT_MODEL, VARIANTS, index_name
from gerec.retrieval.coldstart import cold_item_vectors
from gerec.models.sequential import SequentialModel
from gerec.retrieval.index import MANIFEST_FILE, ItemIndex, add_to_index, load_index
from gerec.retrieval.index import build_index as build_faiss_index
from gerec.steps.data import cold_items, sequences
from gerec.training import load_checkpoint, user_queries
from gerec.workspace import Workspace


def held_out_users(seqs: Sequences, limit: int = 1000, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` users whose test-target queries measure an approximate index's recall."""
    users = seqs.users[seqs.lengths(seqs.users) >= 2]
    return np.sort(np.random.default_rng(seed).choice(users, size=min(limit, len(users)), replace=False))


def build_index(ws: Workspace, model: str = DEFAULT_MODEL, variant: str = "refined", kind: str = "auto",
                recall_floor: float = 0.95, name: str | None = None, device: str | None = None) -> dict[str, Any]:
    """Index ``models/<variant>-<model>``'s item table as ``indexes/<variant>-<model>`` (or ``name``):
    exactly the vectors its scores use, so the index returns the model's top-k."""
    check("recall_floor", recall_floor, 0, 1)
    choice("variant", variant, VARIANTS)
    model_dir = ws.model_dir(variant, model)
    if not (model_dir / "model.safetensors").exists():
        verb = "gerec base train" if variant == "base" else "gerec refine train"
        raise GerecError(f"no trained model in {model_dir}: train it first (`{verb} --model {model}`)")
    folder = ws.index_dir(name or index_name(model, variant))
    net = load_checkpoint(model_dir, device)
    table = net.catalogue().detach()[1:].cpu().numpy()  # (n_items, d): row i-1 is item i
    items = pq.read_table(ws.items_path, columns=["item_id", "title"]).sort_by("item_id")
    if items.num_rows != len(table):
        raise GerecError(f"{model_dir} has {len(table)} items but the dataset {items.num_rows}: retrain the model")
    source = {"model_dir": str(model_dir.relative_to(ws.root)), "model": model, "variant": variant,
              "model_sha256": sha256_file(model_dir / "model.safetensors"),  # the index answers for these weights
              "embedding": "refined" if net.is_refined else "base", "attributes": net.attributes}
    seqs = sequences(ws)
    queries = user_queries(net, seqs, held_out_users(seqs), "test")
    manifest = build_faiss_index(folder, table, np.asarray(items["item_id"]), items["title"].to_pylist(), source,
                                 kind, queries, recall_floor)
    cold = cold_items(ws)
    if len(cold):
        manifest["cold_items"] = cold_retrieval(load_index(folder), net, seqs, cold)
        write_json(folder / MANIFEST_FILE, manifest)
    return manifest


def cold_retrieval(index: ItemIndex, net: SequentialModel, seqs: Sequences, cold: np.ndarray,
                   k: int = 10) -> dict[str, Any]:
    """How the index retrieves held-out (cold) items: for the users whose test item is one, the
    share whose top-``k`` from the index (history excluded) holds it."""
    users = seqs.users[np.isin(seqs.targets(seqs.users, "test"), cold) & (seqs.lengths(seqs.users) >= 2)]
    if not len(users):
        return {"test_users": 0, f"hit_rate_at_{k}": None}
    hp, seen = seqs.histories(users, "test")
    exclude = [set(seen[hp[j]:hp[j + 1]].tolist()) for j in range(len(users))]
    found, _ = index.search(user_queries(net, seqs, users, "test"), k, exclude)
    hits = (found == seqs.targets(users, "test")[:, None]).any(axis=1)
    return {"test_users": int(len(users)), f"hit_rate_at_{k}": round(float(hits.mean()), 4),
            "ranked_by": "guided part + latent part mapped from it" if net.attributes else "trained rows (no text)"}


def indexed_model(ws: Workspace, index: ItemIndex, device: str | None = "cpu") -> SequentialModel:
    """The model ``index`` was built from — refused if it has been retrained since, because the
    index would then return another top-k than the model scores (vectors differ)."""
    source = index.manifest["source"]
    model_dir = ws.model_dir(source["variant"], source["model"])
    if not (model_dir / "model.safetensors").exists():
        raise GerecError(f"the index was built from {model_dir}, which no longer holds a trained model")
    if source.get("model_sha256") != sha256_file(model_dir / "model.safetensors"):
        raise GerecError(f"{model_dir} was trained again after its index was built: rebuild the index "
                         f"(`gerec index build --model {source['model']} --variant {source['variant']}`)")
    model = load_checkpoint(model_dir, device)
    if index.dim != model.width:
        raise GerecError(f"the index has width {index.dim}, {model_dir} {model.width}: rebuild the index")
    return model


def read_new_items(path: Path) -> tuple[list[str], list[str]]:
    """(titles, texts) from a UTF-8 CSV or TSV file with ``title`` and ``text`` columns; every
    problem names the file and line."""
    if not path.is_file():
        raise GerecError(f"{path}: {'not a file' if path.exists() else 'file not found'}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a byte-order mark is not a column name
            reader = csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ",", strict=True)
            if reader.fieldnames is None or not {"title", "text"} <= set(reader.fieldnames):
                found = ", ".join(reader.fieldnames or []) or "nothing"
                raise GerecError(f"{path}:1: needs 'title' and 'text' columns, found {found}")
            titles, texts = [], []
            for row in reader:
                title, text = row.get("title"), row.get("text")
                if not title or not title.strip() or not text or not text.strip() or None in row:
                    raise GerecError(f"{path}:{reader.line_num}: each row needs a title and a text, and no extra "
                                     "fields")
                titles.append(title.strip())
                texts.append(text.strip())
    except UnicodeDecodeError as err:
        raise GerecError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise GerecError(f"{path}:{reader.line_num}: {err}") from None
    if not titles:
        raise GerecError(f"{path}: no items")
    return titles, texts


def add_items(ws: Workspace, titles: list[str], texts: list[str], index: str = DEFAULT_INDEX,
              scorer: TextScorer | None = None) -> tuple[list[int], dict[str, Any]]:
    """Score new items' texts, give them refined vectors and append them to an index (no
    rebuild); returns their new ids and the index manifest."""
    if not texts or len(titles) != len(texts):
        raise GerecError("give one title and one text per new item")
    folder = ws.index_dir(index)
    current = load_index(folder)
    model = indexed_model(ws, current)
    manifest = ws.guided_manifest()
    if scorer is None:
        if manifest["scorer"].get("backend") != "encoder":
            raise GerecError("cold-start scoring runs the offline encoder; pass a scorer for other back-ends")
        from gerec.guided.encoder import EncoderScorer

        scorer = EncoderScorer(manifest["scorer"]["model"], adapter=manifest["scorer"].get("adapter"))
    schema = parse_schema(manifest["schema"], str(ws.guided_manifest_path))
    raw = scorer.raw_scores(texts, schema, "item").double().numpy()
    calibration = manifest["calibration"]["items"]
    scores = Calibration.from_dict(calibration).apply(raw) if calibration else raw
    vectors = cold_item_vectors(model, scores)
    start = int(current.ids.max()) + 1
    ids = list(range(start, start + len(texts)))
    return ids, add_to_index(folder, vectors, np.asarray(ids), titles)
