"""Small datasets written by the tests themselves, in every supported format."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from gerec import Workspace

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# (user, item, rating, unix time): user 3 has two events, fewer than leave-one-out needs.
EVENTS = [
    (1, 10, 5, 100), (1, 11, 4, 200), (1, 12, 3, 300), (1, 13, 2, 300),
    (2, 10, 4, 150), (2, 12, 5, 160), (2, 14, 1, 170),
    (3, 11, 3, 100), (3, 13, 3, 110),
]
GENRES = ["unknown", "Action", "Comedy", "Drama"]
MOVIES = {10: ("Café Society (2016)", [2]), 11: ("Heat (1995)", [1, 3]), 12: ("Up (2009)", [2]),
          13: ("Alien (1979)", [1]), 14: ("Amélie (2001)", [2, 3])}


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small workspace with a base SASRec and guided scores; copy it (``fresh``) before changing it."""
    from small_workspace import make_workspace

    return make_workspace(tmp_path_factory.mktemp("prepared") / "ws").root


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory, prepared: Path) -> Path:
    """The prepared workspace with a materialized store, a refined SASRec and its index;
    copy it (``shutil.copytree(indexed, dst, symlinks=True)``) before changing it."""
    from gerec.steps.features import apply, materialize
    from gerec.steps.index import build_index
    from gerec.steps.refine import train_refined

    root = tmp_path_factory.mktemp("indexed") / "ws"
    shutil.copytree(prepared, root, symlinks=True)
    ws = Workspace.resolve(root)
    apply(ws)
    materialize(ws, show_progress=False)
    train_refined(ws, "sasrec", "refined", {"epochs": 1}, show_progress=False)
    build_index(ws, "sasrec")
    return root


@pytest.fixture
def fresh(prepared: Path, tmp_path: Path) -> Workspace:
    """A private copy of the prepared workspace."""
    shutil.copytree(prepared, tmp_path / "ws")
    return Workspace.resolve(tmp_path / "ws")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.resolve(tmp_path / "ws")


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    root = tmp_path / "ml-100k"
    root.mkdir()
    (root / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in EVENTS))
    (root / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(GENRES)))
    lines = []
    for item, (title, genres) in MOVIES.items():
        flags = "|".join("1" if g in genres else "0" for g in range(len(GENRES)))
        lines.append(f"{item}|{title}|01-Jan-1995||http://x|{flags}\n")
    (root / "u.item").write_bytes("".join(lines).encode("latin-1"))
    return root


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    root = tmp_path / "ml-1m"
    root.mkdir()
    (root / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in EVENTS))
    (root / "movies.dat").write_bytes("".join(
        f"{i}::{t}::{'|'.join(GENRES[g] for g in gs)}\n" for i, (t, gs) in MOVIES.items()).encode("latin-1"))
    return root


@pytest.fixture
def ml_latest(tmp_path: Path) -> Path:
    root = tmp_path / "ml-latest-small"
    root.mkdir()
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r}.0,{t}\n" for u, i, r, t in EVENTS))
    (root / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f'{i},"{t}",{"|".join(GENRES[g] for g in gs)}\n' for i, (t, gs) in MOVIES.items()), encoding="utf-8")
    return root


@pytest.fixture
def amazon2018(tmp_path: Path) -> tuple[Path, Path]:
    reviews = tmp_path / "Video_Games_5.json.gz"
    with gzip.open(reviews, "wt") as fh:
        for u, i, r, t in EVENTS:
            fh.write(json.dumps({"reviewerID": f"A{u}", "asin": f"B{i}", "overall": float(r),
                                 "unixReviewTime": t, "reviewText": "fine"}) + "\n")
    meta = tmp_path / "meta_Video_Games.json.gz"
    with gzip.open(meta, "wt") as fh:
        for i, (title, _) in MOVIES.items():
            fh.write(json.dumps({"asin": f"B{i}", "title": title, "brand": "Acme",
                                 "category": ["Video Games", "PC"], "description": ["Great.", "Fun."]}) + "\n")
    return reviews, meta


@pytest.fixture
def amazon2014(tmp_path: Path) -> tuple[Path, Path]:
    reviews = tmp_path / "reviews_Beauty_5.json"
    reviews.write_text("".join(json.dumps({"reviewerID": f"A{u}", "asin": f"B{i}", "overall": float(r),
                                           "unixReviewTime": t}) + "\n" for u, i, r, t in EVENTS))
    meta = tmp_path / "meta_Beauty.json"  # 2014 metadata: Python literals, not JSON
    meta.write_text("".join(repr({"asin": f"B{i}", "title": title, "categories": [["Beauty", "Hair Care"]],
                                  "description": "Soft."}) + "\n" for i, (title, _) in MOVIES.items()))
    return reviews, meta


def sequences_by_user() -> dict[int, list[int]]:
    by_user: dict[int, list[tuple[int, int]]] = {}
    for u, i, _, t in EVENTS:
        by_user.setdefault(u, []).append((t, i))
    return {u: [i for _, i in sorted(v)] for u, v in by_user.items()}
