"""Cleaning, k-core, leave-one-out split, tie-breaking, and errors on bad input."""

from __future__ import annotations

import random
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gerec.artifacts import read_json
from gerec.data import ColumnMap, ImportOptions
from gerec.steps.data import import_data
from gerec.errors import DataError

from conftest import sequences_by_user


def _split(ws) -> dict[tuple[str, str], str]:
    """(original user, original item) → split, independent of dense ids."""
    ids = pq.read_table(ws.id_map_path).to_pylist()
    users = {r["id"]: r["original_id"] for r in ids if r["kind"] == "user"}
    items = {r["id"]: r["original_id"] for r in ids if r["kind"] == "item"}
    return {(users[r["user_id"]], items[r["item_id"]]): r["split"] for r in pq.read_table(ws.interactions_path).to_pylist()}


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    path.write_text("user_id,item_id,timestamp\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_leave_one_out(ws, ml100k: Path) -> None:
    import_data(ws, "movielens", ml100k)
    split = _split(ws)
    # user 2: 10 (150), 12 (160), 14 (170) in time order
    assert split[("2", "10")] == "train" and split[("2", "12")] == "valid" and split[("2", "14")] == "test"
    for user, seq in sequences_by_user().items():
        if len(seq) < 3:
            assert all(u != str(user) for u, _ in split)
    inter = pq.read_table(ws.interactions_path)
    assert inter.column_names == ["user_id", "item_id", "ts", "seq", "split"]
    assert min(inter["item_id"].to_pylist()) == 1  # 0 is padding


def test_ties_broken_by_seeded_key_not_file_order(ws, tmp_path: Path) -> None:
    """Many users whose last two events share a time: the split must not follow row order."""
    rows = [(u, i, 1000 if i >= 3 else i) for u in range(40) for i in range(5)]  # items 3 and 4 tie
    splits = []
    for order in range(3):
        shuffled = rows[:]
        random.Random(order).shuffle(shuffled)
        import_data(ws, "csv", _write_csv(tmp_path / f"e{order}.csv", shuffled))
        splits.append(_split(ws))
    assert splits[0] == splits[1] == splits[2]
    # the tie goes both ways across users (a random key, not item id or file order)
    test_items = {item for (user, item), s in splits[0].items() if s == "test"}
    assert test_items == {"3", "4"}
    manifest = ws.data_manifest()
    assert manifest["split"]["tied_test_events"] == 40 and manifest["split"]["tied_valid_events"] == 40
    assert "md5" in manifest["split"]["tie_policy"]
    # another seed breaks ties differently for some user
    import_data(ws, "csv", tmp_path / "e0.csv", options=ImportOptions(seed=1))
    assert _split(ws) != splits[0]


def test_dedupe_keeps_first_event(ws, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "e.csv", [(1, 5, 10), (1, 6, 20), (1, 5, 30), (1, 7, 40)])
    manifest = import_data(ws, "csv", path)
    assert manifest["dropped"]["duplicates"] == 1
    assert [r["ts"] for r in pq.read_table(ws.interactions_path).to_pylist()] == [10, 20, 40]
    manifest = import_data(ws, "csv", path, options=ImportOptions(dedupe=False))
    assert manifest["final"]["interactions"] == 4


def test_kcore_is_iterative(ws, tmp_path: Path) -> None:
    # Round 1 drops item 9 (2 events); user 2 is left with 2 events and goes; item 8 then
    # has 2 events and goes in round 2. What remains: users 1, 3, 4, 5 on items 1, 2, 3.
    rows = [(1, 1, 1), (1, 2, 2), (1, 3, 3), (1, 9, 4),
            (2, 9, 1), (2, 1, 2), (2, 8, 3),
            (3, 1, 1), (3, 2, 2), (3, 3, 3), (3, 8, 4),
            (4, 1, 1), (4, 2, 2), (4, 3, 3), (4, 8, 4),
            (5, 1, 1), (5, 2, 2), (5, 3, 3)]
    manifest = import_data(ws, "csv", _write_csv(tmp_path / "e.csv", rows), options=ImportOptions(min_item=3))
    assert manifest["dropped"]["rounds"] == 3
    assert manifest["dropped"]["items_below_min_item"] == 2
    assert manifest["dropped"]["users_fewer_than_3"] == 1
    assert (manifest["final"]["users"], manifest["final"]["items"], manifest["final"]["interactions"]) == (4, 3, 12)


def test_min_rating(ws, ml100k: Path) -> None:
    manifest = import_data(ws, "movielens", ml100k, options=ImportOptions(min_rating=3))
    assert manifest["dropped"]["below_min_rating"] == 2  # ratings 2 and 1


# -- bad input -------------------------------------------------------------------------------

def test_missing_path(ws, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        import_data(ws, "movielens", tmp_path / "nope")


def test_wrong_format(ws, tmp_path: Path, ml100k: Path) -> None:
    with pytest.raises(DataError, match="not a MovieLens folder"):
        import_data(ws, "movielens", tmp_path)
    with pytest.raises(DataError, match="unknown format 'tsv'"):
        import_data(ws, "tsv", ml100k)
    with pytest.raises(DataError, match="u.data: cannot read"):
        import_data(ws, "amazon-reviews", ml100k / "u.data", ml100k / "u.item")


def test_missing_columns_named(ws, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("uid,iid,t\n1,2,3\n")
    with pytest.raises(DataError, match=r"no column 'user_id' for the user column; columns are: uid, iid, t"):
        import_data(ws, "csv", path)


def test_non_utf8_names_line(ws, tmp_path: Path) -> None:
    seqs = tmp_path / "seq.txt"
    seqs.write_text("u1 a b c\n")
    items = tmp_path / "items.txt"
    items.write_bytes(b"a apple\nb Caf\xe9\nc cherry\n")
    with pytest.raises(DataError, match=r"items.txt:2: not valid utf-8"):
        import_data(ws, "sequences", seqs, items)


def test_ids_without_text(ws, tmp_path: Path) -> None:
    seqs = tmp_path / "seq.txt"
    seqs.write_text("u1 a b c\nu2 a b zz c\n")
    items = tmp_path / "items.txt"
    items.write_text("a apple\nb banana\nc cherry\n")
    with pytest.raises(DataError, match=r"seq.txt:2: item 'zz' has no text in .*items.txt"):
        import_data(ws, "sequences", seqs, items)
    manifest = import_data(ws, "sequences", seqs, items, options=ImportOptions(missing_text="drop"))
    assert manifest["dropped"]["missing_text"] == 1


def test_empty_after_filtering(ws, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "e.csv", [(1, 1, 1), (1, 2, 2)])
    with pytest.raises(DataError, match="no interactions left after filtering"):
        import_data(ws, "csv", path)


def test_failed_import_leaves_previous_dataset(ws, ml100k: Path, tmp_path: Path) -> None:
    import_data(ws, "movielens", ml100k)
    before = read_json(ws.data_manifest_path)
    with pytest.raises(DataError):
        import_data(ws, "csv", _write_csv(tmp_path / "e.csv", [(1, 1, 1)]))
    assert read_json(ws.data_manifest_path) == before
    # no temp folders left: the link and the version it points to
    assert sorted(p.name for p in ws.root.iterdir()) == sorted(["data", os.readlink(ws.data_dir)])


def test_bad_time_values(ws, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,timestamp\n1,1,yesterday\n1,2,2020-01-01\n1,3,2020-01-02\n")
    with pytest.raises(DataError, match="1 values that are not times"):
        import_data(ws, "csv", path, columns=ColumnMap())


def test_artifacts_are_readable_by_others(ws, ml100k: Path) -> None:
    import os
    import stat

    import_data(ws, "movielens", ml100k)
    umask = os.umask(0)
    os.umask(umask)
    for path in [ws.data_dir, ws.interactions_path, ws.data_manifest_path]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o044 == 0o044 & ~umask, (path, oct(mode))


def test_every_text_column_is_checked(ws, tmp_path: Path) -> None:
    events = _write_csv(tmp_path / "e.csv", [(1, 1, 1), (1, 2, 2), (1, 3, 3)])
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,blurb\n1,a,x\n2,b,y\n3,c,z\n")
    with pytest.raises(DataError, match="no column 'genre' for the text column"):
        import_data(ws, "csv", events, items, ColumnMap(text=("genre", "blurb")))
