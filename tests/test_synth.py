"""The synthetic default: deterministic, readable text, sequences driven by taste and order."""

from __future__ import annotations

import numpy as np
import pytest
import pyarrow.parquet as pq

from gerec.data.synth import ATTRIBUTES, SynthConfig, generate
from gerec.steps.data import import_synthetic, synthesize

SMALL = SynthConfig(n_items=200, n_users=300, max_length=40)


def test_deterministic_in_seed() -> None:
    a, b = generate(SMALL), generate(SMALL)
    assert all(a[k].equals(b[k]) for k in a)
    c = generate(SynthConfig(n_items=200, n_users=300, max_length=40, seed=8))
    assert not a["interactions"].equals(c["interactions"])


def test_texts_say_some_attributes_and_never_a_wrong_one() -> None:
    tables = generate(SMALL)
    texts = tables["items"]["text"].to_pylist()
    truth = tables["item_truth"]
    marked = stated = 0
    for name, low, high in ATTRIBUTES:
        values = np.asarray(truth[name])
        for text, v in zip(texts, values):
            says_high = any(p in text for p in high)
            says_low = any(p in text for p in low)
            assert not (says_high and v < 0.65) and not (says_low and v > 0.35), (name, v, text)
            marked += v >= 0.65 or v <= 0.35
            stated += says_high or says_low
    assert abs(stated / marked - SMALL.stated) < 0.05, stated / marked  # some texts say it, some do not
    assert any(text.count(".") == 1 for text in texts)  # a bare "Title (year) is a genre." exists


def test_default_catalogue_is_long_tailed_with_new_items(tmp_path) -> None:
    import duckdb

    from gerec import Workspace
    from gerec.data.stats import realism, within_reference

    ws = Workspace.resolve(tmp_path)
    synthesize(ws)
    con = duckdb.connect()
    con.read_parquet(str(ws.interactions_path)).create_view("inter")
    shape = realism(con, "inter")
    assert shape["top10pct_items_event_share"] > 0.4 and shape["items_under_5_train_events"] > 0.1  # long tail
    assert shape["test_items_without_train_events"] > 0  # new items reach the test split
    outside = [key for key, ok in within_reference(shape).items() if not ok]
    assert not outside, {key: shape[key] for key in outside}  # every statistic within the real datasets' range
    released = pq.read_table(ws.synthetic_dir / "item_truth.parquet")["released_day"]
    arriving = 1 - SynthConfig.backlist  # the rest arrive over the timeline
    assert 1 - released.null_count / len(released) == pytest.approx(arriving, abs=0.01)


def test_sequences_follow_user_taste() -> None:
    tables = generate(SMALL)
    names = [a[0] for a in ATTRIBUTES]
    values = np.stack([np.asarray(tables["item_truth"][n]) for n in names], axis=1)  # (I, m)
    prefs = np.stack([np.asarray(tables["user_truth"][n]) for n in names], axis=1)  # (U, m)
    inter = tables["interactions"]
    users = np.array([int(u[1:]) for u in inter["user"].to_pylist()])
    items = np.array([int(i[1:]) for i in inter["item"].to_pylist()])
    consumed = np.zeros_like(prefs)
    np.add.at(consumed, users, values[items] - values.mean(axis=0))
    corr = np.mean([np.corrcoef(prefs[:, j], consumed[:, j])[0, 1] for j in range(len(names))])
    assert corr > 0.4, corr
    ts = np.asarray(inter["ts"])
    assert all(np.all(np.diff(ts[users == u]) >= 0) for u in range(10))


def test_synthesize_and_import(ws) -> None:
    assert synthesize(ws, SMALL, do_import=False) is None
    out = ws.synthetic_dir
    assert {p.name for p in out.iterdir()} == {"interactions.parquet", "items.parquet", "item_truth.parquet",
                                              "user_truth.parquet", "manifest.json"}
    manifest = import_synthetic(ws)
    assert manifest["final"]["users"] == 300 and manifest["final"]["items"] <= 200
    text = pq.read_table(ws.items_path)["text"][0].as_py()
    assert "(" in text and "is a" in text
