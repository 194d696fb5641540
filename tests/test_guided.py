"""Attribute schemas and the offline encoder scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from gerec.data.synth import SynthConfig
from gerec.guided.calibration import Calibration
from gerec.guided.encoder import EncoderScorer, split_units
from gerec.guided.schema import SchemaError, load_schema, parse_schema, shipped_schemas
from gerec.steps.data import sequences, synthesize
from gerec.steps.guided import item_texts, score, user_texts


def test_shipped_schemas_are_valid() -> None:
    assert {"movies", "clothing", "games", "beauty", "generic"} <= set(shipped_schemas())
    for name in shipped_schemas():
        schema = load_schema(name)
        assert 8 <= len(schema) <= 24
    assert "family friendliness" in load_schema("movies").names
    # each dataset's richer schema: 16-24 attributes (issue 16), its domain's own kind of schema
    for name, domain in (("movies-extended", "movies"), ("games-extended", "games"), ("beauty-extended", "beauty")):
        assert 16 <= len(load_schema(name)) <= 24 and load_schema(name).domain == domain


GOOD = {"name": "humor", "description": "How funny.", "low": "serious", "high": "funny"}


@pytest.mark.parametrize("attributes, message", [
    ([GOOD], "at least 2 attributes"),
    ([GOOD, GOOD], "duplicate attribute name 'humor'"),
    ([GOOD, {**GOOD, "name": "pace", "low": ""}], r"attribute 2 \('pace'\) is missing its 'low' phrase"),
    ([GOOD, {"name": "pace", "description": "d", "high": "fast"}], "missing its 'low' phrase"),
    ([GOOD, {**GOOD, "name": "pace", "colour": "red"}], "unknown key"),
])
def test_schema_errors_are_clear(attributes: list, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema({"domain": "x", "attributes": attributes}, "my.yaml")


def test_schema_from_file_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "wine.yaml"
    path.write_text(yaml.safe_dump({"domain": "wine", "attributes": [GOOD, {**GOOD, "name": "body"}]}))
    assert load_schema(path).names == ["humor", "body"]
    with pytest.raises(SchemaError, match="no schema named 'movie'"):
        load_schema("movie")
    assert load_schema(path).digest() != load_schema("movies").digest()


def test_calibration_maps_onto_1_to_9_keeping_order() -> None:
    raw = np.random.default_rng(0).normal(size=(500, 3)) * [1.0, 0.01, 5.0]
    cal = Calibration.fit(raw)
    scores = cal.apply(raw)
    assert scores.min() > 1 and scores.max() < 9
    assert np.allclose(np.median(scores, axis=0), 5, atol=0.3)
    assert all((np.argsort(scores[:, j]) == np.argsort(raw[:, j])).all() for j in range(3))
    assert np.allclose(Calibration.from_dict(cal.to_dict()).apply(raw), scores)


def test_units() -> None:
    long = "Heat (1995) is a film about a crew of thieves in Los Angeles. " * 3 + "It is tense! Car chases?"
    assert split_units(long, "item")[-2:] == ["It is tense!", "Car chases?"]
    assert split_units("Heat (1995). Genres: Action.", "item") == ["Heat (1995). Genres: Action."]
    assert split_units("Heat (1995); Up (2009)", "user") == ["Heat (1995)", "Up (2009)"]


@pytest.fixture(scope="module")
def scorer() -> EncoderScorer:
    return EncoderScorer()


def test_encoder_reads_attributes_zero_shot(scorer: EncoderScorer) -> None:
    schema = load_schema("movies")
    texts = ["A hilarious comedy full of jokes. Perfect for kids and the whole family.",
             "A dark, violent and disturbing horror film. Strictly for adults."]
    raw = scorer.raw_scores(texts, schema).numpy()
    j = {n: k for k, n in enumerate(schema.names)}
    assert raw[0, j["humor"]] > raw[1, j["humor"]]
    assert raw[0, j["family friendliness"]] > raw[1, j["family friendliness"]]
    assert raw[1, j["darkness"]] > raw[0, j["darkness"]]


def test_user_text_uses_train_items_only(ws) -> None:
    synthesize(ws, SynthConfig(n_items=60, n_users=20, max_length=12, mean_length=8))
    seqs = sequences(ws)
    users, texts = user_texts(seqs, item_texts(ws)[1], recent=3)
    titles = dict(zip(pq.read_table(ws.items_path)["item_id"].to_pylist(), pq.read_table(ws.items_path)["title"].to_pylist()))
    for user, text in zip(users[:5], texts[:5]):
        seq = seqs.items[seqs.indptr[user]:seqs.indptr[user + 1]]
        assert text == "; ".join(titles[i] for i in seq[:-2][-3:])
        assert titles[seq[-1]] not in text.split("; ") and titles[seq[-2]] not in text.split("; ")


def test_score_workspace_writes_tables_and_reuses_cache(ws, scorer: EncoderScorer) -> None:
    synthesize(ws, SynthConfig(n_items=60, n_users=30, max_length=12, mean_length=8))
    schema = load_schema("movies")
    n_items = pq.read_metadata(ws.items_path).num_rows  # items that occur in interactions
    first = score(ws, schema, scorer=scorer, show_progress=False)
    assert first["items"]["newly_scored"] == n_items and first["users"]["newly_scored"] == 30
    items = pq.read_table(ws.features_dir / "item_attributes.parquet")
    assert items.column_names == ["item_id", *schema.names, "vector", "content_hash", "event_timestamp"]
    vectors = np.asarray(items["vector"].to_pylist())
    assert vectors.shape == (n_items, len(schema)) and vectors.min() >= 1 and vectors.max() <= 9
    assert np.allclose(vectors[:, 0], items[schema.names[0]].to_numpy())
    second = score(ws, schema, scorer=scorer, show_progress=False)
    assert second["items"]["newly_scored"] == 0 and second["users"]["newly_scored"] == 0
    again = pq.read_table(ws.features_dir / "item_attributes.parquet")
    assert np.allclose(np.asarray(again["vector"].to_pylist()), vectors)
    third = score(ws, load_schema("generic"), scorer=scorer, show_progress=False)  # another schema: rescored
    assert third["items"]["newly_scored"] == n_items
