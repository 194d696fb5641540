"""The three datasets in ../shared/data import with the counts their README states."""

from __future__ import annotations

import pytest

from gerec.steps.data import import_data

from conftest import SHARED_DATA

needs_data = pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not beside the project")


@needs_data
def test_ml100k(ws) -> None:
    m = import_data(ws, "movielens", SHARED_DATA / "ml-100k")
    assert (m["raw"]["users"], m["raw"]["items"], m["raw"]["interactions"]) == (943, 1682, 100_000)
    assert m["final"]["interactions"] == 100_000
    # 44% of users' last two events share a second: the tie policy decides their split
    assert 0.40 < m["split"]["tied_test_events"] / 943 < 0.48


@needs_data
@pytest.mark.parametrize("name, seqs, items, counts", [
    ("amazon-games", "games_sequences.tsv", "games_items.tsv", (50_546, 16_859, 452_989)),
    ("amazon-beauty", "user_sequence.txt", "item_generative_indexing_phase_0.txt", (22_363, 12_101, 198_502)),
])
def test_amazon_sequences(ws, name: str, seqs: str, items: str, counts: tuple[int, int, int]) -> None:
    m = import_data(ws, "sequences", SHARED_DATA / name / seqs, SHARED_DATA / name / items)
    assert (m["raw"]["users"], m["raw"]["items"], m["raw"]["interactions"]) == counts
    assert m["split"]["test"] == counts[0]
