"""Does each attribute of a richer schema mean what its name says? Evidence on ML-100K.

Scores MovieLens-100K's items with a schema (default: ``movies-extended``, 22 attributes) and
holds every attribute that has a label in the data against it:
* genre-like attributes: ROC-AUC of the item scores against the genre flags (humor ↔ Comedy,
  war ↔ War, science fiction ↔ Sci-Fi, ...);
* era ↔ release year, mainstream reach ↔ log number of ratings, acclaim ↔ mean rating,
  mature audience ↔ mean age of the film's raters: Spearman correlation over items
  (films with at least 5 ratings for the last two, so a mean is a mean).
Attributes without a label (pace, mood ...) are listed as such. Labels come from the
original files in ../shared/data/ml-100k (ratings and ages are not imported by gerec).

Run: python benchmarks/schema_evidence.py [--schema movies-extended] [--threads 2]
Writes benchmarks/results/schema_evidence.json and prints the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import gerec
from gerec import Workspace
from gerec.artifacts import write_json

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k"
GENRES = {"humor": ["Comedy"], "darkness": ["Horror", "Thriller"], "family friendliness": ["Children's", "Animation"],
          "romance": ["Romance"], "action intensity": ["Action"], "suspense": ["Thriller", "Mystery"],
          "war": ["War"], "science fiction": ["Sci-Fi"], "crime": ["Crime"], "western": ["Western"],
          "musical": ["Musical"], "documentary": ["Documentary"], "adventure": ["Adventure"], "fantasy": ["Fantasy"]}
MIN_RATINGS = 5  # for per-film means (acclaim, audience age)


def labels(ws: Workspace) -> dict[str, np.ndarray]:
    """Per dense item id (1..n): genre flags, release year, log ratings, mean rating, mean rater age."""
    con = duckdb.connect()
    con.read_parquet(str(ws.id_map_path)).create_view("ids")
    con.read_parquet(str(ws.items_path)).create_view("items")
    con.read_csv(str(DATA / "u.data"), sep="\t", header=False,
                 names=["user", "item", "rating", "ts"], dtype=["VARCHAR", "VARCHAR", "INTEGER", "BIGINT"]).create_view("r")
    con.read_csv(str(DATA / "u.user"), sep="|", header=False,
                 names=["user", "age", "gender", "occupation", "zip"], dtype=["VARCHAR", "INTEGER", "VARCHAR", "VARCHAR",
                                                                            "VARCHAR"]).create_view("u")
    table = con.execute("""
        SELECT i.item_id, i.title, i.text, count(r.rating) AS n, avg(r.rating) AS rating, avg(u.age) AS age
        FROM items i JOIN ids m ON m.kind = 'item' AND m.id = i.item_id
        LEFT JOIN r ON r.item = m.original_id LEFT JOIN u ON u.user = r.user
        GROUP BY ALL ORDER BY i.item_id""").to_arrow_table()
    texts = table["text"].to_pylist()
    out: dict[str, np.ndarray] = {}
    for genre in {g for gs in GENRES.values() for g in gs}:
        out[genre] = np.array([genre in t.split("Genres:")[-1] for t in texts])
    years = [re.search(r"\((\d{4})\)", t) for t in table["title"].to_pylist()]
    out["year"] = np.array([float(y.group(1)) if y else np.nan for y in years])
    n = table["n"].to_numpy().astype(float)
    out["log ratings"] = np.log1p(n)
    enough = n >= MIN_RATINGS
    out["mean rating"] = np.where(enough, table["rating"].to_numpy(zero_copy_only=False), np.nan)
    out["mean rater age"] = np.where(enough, table["age"].to_numpy(zero_copy_only=False), np.nan)
    return out


CORRELATED = {"era": "year", "mainstream reach": "log ratings", "acclaim": "mean rating",
              "mature audience": "mean rater age"}


def evidence(ws: Workspace, names: list[str]) -> dict[str, dict[str, object]]:
    scores = pq.read_table(ws.item_attributes_path)
    truth = labels(ws)
    out: dict[str, dict[str, object]] = {}
    for name in names:
        s = scores[name].to_numpy()
        if name in GENRES:
            flag = np.any([truth[g] for g in GENRES[name]], axis=0)
            out[name] = {"label": "/".join(GENRES[name]), "measure": "ROC-AUC",
                         "value": round(float(roc_auc_score(flag, s)), 3), "positives": int(flag.sum())}
        elif name in CORRELATED:
            y = truth[CORRELATED[name]]
            ok = ~np.isnan(y)
            out[name] = {"label": CORRELATED[name], "measure": "Spearman",
                         "value": round(float(spearmanr(s[ok], y[ok]).statistic), 3), "items": int(ok.sum())}
        else:
            out[name] = {"label": None, "measure": None, "value": None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", default="movies-extended")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ws = Workspace.resolve(tempfile.mkdtemp(prefix="gerec-evidence-"))
    gerec.import_data(ws, "movielens", DATA)
    manifest = gerec.score(ws, args.schema, show_progress=False)
    found = evidence(ws, manifest["attributes"])
    write_json(Path(__file__).parent / "results" / "schema_evidence.json",
               {"schema": args.schema, "dataset": "ml-100k", "attributes": found, "score_seconds": manifest["seconds"],
                "command": f"python benchmarks/schema_evidence.py --schema {args.schema}",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores", "threads": args.threads,
                "date": time.strftime("%Y-%m-%d")})
    print(f"{args.schema} on ML-100K ({len(found)} attributes, scored in {manifest['seconds']:.0f} s)")
    for name, e in found.items():
        value = f"{e['measure']} {e['value']:.3f} vs {e['label']}" if e["value"] is not None else "no label in the data"
        print(f"  {name:<22}{value}")


if __name__ == "__main__":
    main()
