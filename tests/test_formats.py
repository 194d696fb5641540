"""Every reader yields the same canonical tables from its own fixture format."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gerec.data import ColumnMap
from gerec.steps.data import import_data
from gerec.data.formats import read_dataset

from conftest import EVENTS, GENRES, MOVIES


def _users_items(ws) -> tuple[int, int, int]:
    m = ws.data_manifest()
    return m["final"]["users"], m["final"]["items"], m["final"]["interactions"]


def test_movielens_100k_latin1_titles_and_genres(ws, ml100k: Path) -> None:
    manifest = import_data(ws, "movielens", ml100k)
    assert manifest["raw"]["interactions"] == len(EVENTS)
    assert manifest["dropped"]["users_fewer_than_3"] == 1  # user 3
    assert _users_items(ws) == (2, 5, 7)
    items = {r["title"]: r["text"] for r in pq.read_table(ws.items_path).to_pylist()}
    assert items["Café Society (2016)"] == "Café Society (2016). Genres: Comedy."
    assert items["Heat (1995)"] == "Heat (1995). Genres: Action, Drama."
    categories = {r["title"]: r["categories"] for r in pq.read_table(ws.items_path).to_pylist()}
    assert categories["Heat (1995)"] == ["Action", "Drama"]  # the genre flags, kept as metadata


@pytest.mark.parametrize("fixture", ["ml1m", "ml_latest"])
def test_movielens_1m_and_latest(ws, fixture: str, request: pytest.FixtureRequest) -> None:
    import_data(ws, "movielens", request.getfixturevalue(fixture))
    assert _users_items(ws) == (2, 5, 7)
    titles = pq.read_table(ws.items_path)["title"].to_pylist()
    assert "Amélie (2001)" in titles
    assert all(c is not None for c in pq.read_table(ws.items_path)["categories"].to_pylist())


@pytest.mark.parametrize("fixture", ["amazon2018", "amazon2014"])
def test_amazon_reviews_both_metadata_generations(ws, fixture: str, request: pytest.FixtureRequest) -> None:
    reviews, meta = request.getfixturevalue(fixture)
    import_data(ws, "amazon-reviews", reviews, meta)
    assert _users_items(ws) == (2, 5, 7)
    first = pq.read_table(ws.items_path).to_pylist()[0]
    assert "Categories:" in first["text"] and "Description:" in first["text"]
    assert first["categories"] and all(c in first["text"] for c in first["categories"])


def test_amazon_reviews_needs_metadata(tmp_path: Path, amazon2018) -> None:
    with pytest.raises(Exception, match="metadata"):
        read_dataset("amazon-reviews", amazon2018[0])


def test_sequences_whitespace_with_asin_items(ws, tmp_path: Path) -> None:
    seqs = tmp_path / "user_sequence.txt"
    seqs.write_text("A1 B1 B2 B3\nA2 B2 B3 B4 B1\nA3 B1 B2\n")
    items = tmp_path / "items.txt"
    items.write_text("B1 red lipstick\nB2 sedu ionic flat iron\nB3 foot scrubber\nB4 \n")
    manifest = import_data(ws, "sequences", seqs, items)
    assert manifest["order"] == "position"
    assert manifest["raw"]["item_texts_empty"] == 1
    assert _users_items(ws) == (2, 4, 7)


def test_sequences_tsv_with_header_and_item_table(ws, tmp_path: Path) -> None:
    seqs = tmp_path / "games_sequences.tsv"
    seqs.write_text("user_id\treviewer_id\titem_ids_chronological\n0\tRA\t0 1 2\n1\tRB\t2 1 0 3\n")
    items = tmp_path / "games_items.tsv"
    items.write_text("item_id\tasin\ttitle\n0\tX0\tMario Kart\n1\tX1\tZelda\n2\tX2\tHalo\n3\tX3\tDoom\n")
    import_data(ws, "sequences", seqs, items)
    assert _users_items(ws) == (2, 4, 7)
    assert sorted(pq.read_table(ws.items_path)["title"].to_pylist()) == ["Doom", "Halo", "Mario Kart", "Zelda"]
    inter = pq.read_table(ws.interactions_path).to_pylist()
    user1 = [r["item_id"] for r in inter if r["user_id"] == 1]
    assert user1 == [1, 2, 3]  # dense ids follow original ids 0, 1, 2 and keep file order


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_with_column_mapping(ws, tmp_path: Path, fmt: str) -> None:
    events = pa.table({"uid": [u for u, *_ in EVENTS], "iid": [i for _, i, *_ in EVENTS],
                       "when": [t for *_, t in EVENTS], "stars": [float(r) for _, _, r, _ in EVENTS]})
    items = pa.table({"iid": list(MOVIES), "name": [t for t, _ in MOVIES.values()],
                      "blurb": ["a film"] * len(MOVIES), "kinds": [" | ".join(GENRES[g] for g in gs) for _, gs in MOVIES.values()]})
    ev_path, it_path = tmp_path / f"events.{fmt}", tmp_path / f"items.{fmt}"
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(events, ev_path)
        pacsv.write_csv(items, it_path)
    else:
        pq.write_table(events, ev_path)
        pq.write_table(items, it_path)
    cols = ColumnMap(user="uid", item="iid", time="when", rating="stars", title="name", text=("name", "blurb"),
                     categories="kinds")
    import_data(ws, fmt, ev_path, it_path, cols)
    assert _users_items(ws) == (2, 5, 7)
    rows = pq.read_table(ws.items_path).to_pylist()
    assert rows[0]["text"] == "Café Society (2016). a film"
    assert {r["title"]: r["categories"] for r in rows}["Heat (1995)"] == ["Action", "Drama"]
    import_data(ws, fmt, ev_path, it_path, ColumnMap(user="uid", item="iid", time="when", title="name"))
    assert pq.read_table(ws.items_path)["categories"].null_count == 5  # none named: none made up


def test_csv_without_time_column_uses_file_order(ws, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id\n1,30\n1,20\n1,10\n")
    manifest = import_data(ws, "csv", path, columns=ColumnMap(time=None))
    assert manifest["order"] == "position"
    inter = pq.read_table(ws.interactions_path).to_pylist()
    assert [r["split"] for r in inter] == ["train", "valid", "test"]
    ids = {r["original_id"]: r["id"] for r in pq.read_table(ws.id_map_path).to_pylist() if r["kind"] == "item"}
    assert [r["item_id"] for r in inter] == [ids["30"], ids["20"], ids["10"]]
