"""The evaluation protocol's arms, breakdowns and attribution (PROTOCOL.md), built as they claim."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gerec import Workspace
from gerec.artifacts import read_json, sha256_file
from gerec.evaluation.breakdown import bucket_labels
from gerec.steps.base import continue_base
from gerec.steps.data import sequences
from gerec.steps.evaluate import evaluate
from gerec.steps.features import apply, materialize
from gerec.steps.refine import refinement_from_store, train_refined
from gerec_cli.main import app

from small_workspace import DIM


@pytest.fixture
def stored(fresh: Workspace) -> Workspace:
    apply(fresh)
    materialize(fresh, show_progress=False)
    return fresh


def _same_rows(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same rows in any order (up to float rounding: normalization sums in another order)."""
    key = lambda t: t.numpy()[np.lexsort(np.round(t.numpy(), 3).T[::-1])]  # noqa: E731
    return a.shape == b.shape and np.allclose(key(a), key(b), atol=1e-4)


def test_shuffled_arm_permutes_the_real_scores(stored: Workspace) -> None:
    real = refinement_from_store(stored, "sasrec", "refined", DIM)
    shuffled = refinement_from_store(stored, "sasrec", "shuffled", DIM)
    assert _same_rows(shuffled.frozen[1:], real.frozen[1:])  # the same scores ...
    assert not torch.equal(shuffled.frozen[1:], real.frozen[1:])  # ... on other items
    scored = real.users[1:].abs().sum(1) > 0
    assert _same_rows(shuffled.users[1:][scored], real.users[1:][scored])
    assert not torch.equal(shuffled.users, real.users)
    assert torch.equal(shuffled.trainable, real.trainable)  # everything else equal
    nouser = refinement_from_store(stored, "sasrec", "nouser", DIM)
    assert nouser.users is None and torch.equal(nouser.frozen, real.frozen)


def test_continued_arm_starts_from_base_and_gets_the_refined_epochs(stored: Workspace) -> None:
    with pytest.raises(Exception, match="train `refined-sasrec` first"):
        continue_base(stored, "sasrec", show_progress=False)
    refined = train_refined(stored, "sasrec", "refined", {"epochs": 3, "patience": 1}, show_progress=False)
    continued = continue_base(stored, "sasrec", show_progress=False)
    assert continued.epochs == refined.epochs
    meta = read_json(stored.model_dir("continued", "sasrec") / "config.json")
    assert meta["warm_start"] == sha256_file(stored.model_dir("base", "sasrec") / "model.safetensors")
    base = read_json(stored.model_dir("base", "sasrec") / "config.json")
    assert meta["model"] == base["model"] and meta["train"]["lr"] == base["train"]["lr"]  # same settings


def test_buckets_cover_the_test_set_and_gains_have_a_headline(stored: Workspace) -> None:
    for variant in ("refined", "reduced", "shuffled"):
        train_refined(stored, "sasrec", variant, {"epochs": 1}, show_progress=False)
    results = evaluate(stored, ["sasrec"], n_boot=200)
    (row,) = results["rows"]
    users = row["users"]
    for dimension, buckets in row["breakdown"].items():
        assert sum(b["users"] for b in buckets.values()) == users, dimension  # every test event in one bucket
        assert abs(sum(b["share"] for b in buckets.values()) - 1) < 1e-9
    assert row["headline"]["control"] in ("base", "reduced")
    assert set(row["gains"]) >= {"refined_vs_base", "refined_vs_reduced", "refined_vs_shuffled"}
    share = row["attribution"]["refined"]
    assert 0 <= share["mean_share"] <= 1 and set(share["importance"]) == set(stored.guided_manifest()["attributes"])
    md = (stored.reports_dir / "results.md").read_text()
    assert "by the test item's training events" in md and "share of test events" in md
    text = stored.results_path.read_text()
    assert "NaN" not in text and "Infinity" not in text  # standard JSON: an undefined gain is null
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    from gerec.report.plots import bucket_gains

    figure = bucket_gains(json.loads(text), stored.root / "buckets.png")  # the report's per-bucket gains
    assert figure is not None and figure.stat().st_size > 10_000


def test_undefined_gains_read_as_a_dash() -> None:
    from gerec.evaluation.compare import change_text

    assert change_text({"mean": 0.126, "low": -0.027, "high": 0.3}) == "+12.6% [-2.7%, +30.0%]"
    assert change_text({"mean": None, "low": None, "high": None}) == "—"
    assert change_text({"mean": float("nan"), "low": 0.0, "high": 0.1}) == "—"


def test_a_gain_over_a_control_that_never_scores_is_undefined_and_quiet() -> None:
    import warnings

    from gerec.evaluation.compare import relative_change

    idx = np.random.default_rng(0).integers(0, 4, size=(50, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run prints no "All-NaN slice" warning for such a bucket
        iv = relative_change(np.array([0.0, 0.5, 0.0, 1.0]), np.zeros(4), idx)
    assert np.isnan(iv.mean) and np.isnan(iv.low) and np.isnan(iv.high)


def test_a_gain_over_one_hitting_user_has_no_interval_and_says_so() -> None:
    """One user hits in both arms: the resamples without that user leave the ratio undefined,
    and percentiles of the rest would print a collapsed [+50.0%, +50.0%] as if certain."""
    from gerec.evaluation.compare import change_text, relative_change

    old = np.zeros(40)
    old[3] = 0.4
    new = old * 1.5
    idx = np.random.default_rng(0).integers(0, 40, size=(500, 40))
    iv = relative_change(new, old, idx)
    assert abs(iv.mean - 0.5) < 1e-9 and np.isnan(iv.low) and np.isnan(iv.high)
    assert change_text(iv.to_dict()) == "+50.0% (too few hits for an interval)"
    assert change_text({"mean": None, "low": None, "high": None}) == "—"


def test_bucket_labels_by_hand() -> None:
    from gerec.data.sequences import Sequences

    # user 1: 30 events of items 1..30 then item 1 again (seen 1× in train); user 2: 3 events, target item 40
    users = np.array([1] * 32 + [2] * 3)
    items = np.array(list(range(1, 31)) + [5, 1] + [2, 3, 40])
    seqs = Sequences.from_arrays(users, items, 2, 40)
    labels = bucket_labels(seqs, np.array([1, 2]), "test")
    assert labels["item_events"].tolist() == ["1–4", "0"]  # item 1: once in train; item 40: never
    assert labels["history_length"].tolist() == ["> 20", "≤ 5"]


def test_cli_arms(stored: Workspace) -> None:
    runner = CliRunner()
    root = ["--workspace", str(stored.root), "--threads", "1"]
    for args in (["refine", "train", "--variant", "nouser", "--set", "epochs=1", "--quiet"],
                 ["base", "continue", "--epochs", "1", "--quiet"]):
        result = runner.invoke(app, root + args)
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, root + ["evaluate", "--bootstrap", "100", "--json"])
    assert result.exit_code == 0, result.output
    assert {"base", "continued", "nouser"} <= set(json.loads(result.stdout)["rows"][0]["variants"])
    assert len(sequences(stored).users) == stored.data_manifest()["final"]["users"]
    only = runner.invoke(app, root + ["evaluate", "--bootstrap", "100", "--arms", "base,continued", "--json"])
    assert only.exit_code == 0, only.output
    (row,) = json.loads(only.stdout)["rows"]
    assert set(row["variants"]) == {"base", "continued"} and "headline" not in row  # no refined arm: no headline
    for arms, message in (("base,guided", "arm 'guided' of sasrec is not trained"), ("base,refind", "unknown arm")):
        bad = runner.invoke(app, root + ["evaluate", "--arms", arms])
        assert bad.exit_code == 1 and message in bad.output, bad.output


def test_a_row_stopped_by_a_wall_budget_is_marked_and_not_compared() -> None:
    from gerec.evaluation.compare import comparison_row, table_rows

    rng = np.random.default_rng(0)
    per_variant = {v: {"NDCG@10": rng.uniform(0, 1, 50)} for v in ("base", "reduced", "refined")}
    row = comparison_row("sasrec", per_variant, ["NDCG@10"], 100, 0, frozenset({"base"}))
    assert set(row["gains"]) == {"refined_vs_reduced"} and row["headline"]["control"] == "reduced"
    labels = [r[2] for r in table_rows({"dataset": "d", "rows": [row]}, ["NDCG@10"])]
    assert "base (time budget: not compared)" in labels


def test_replica_keys_and_their_seeds() -> None:
    from gerec.errors import GerecError
    from gerec.names import parse_replica, replica
    from gerec.steps.run import RunConfig, stages
    from gerec.training import replica_settings

    assert [replica("sasrec", k) for k in range(3)] == ["sasrec", "sasrec-seed1", "sasrec-seed2"]
    assert parse_replica("bert4rec-seed12") == ("bert4rec", 12) and parse_replica("gru4rec") == ("gru4rec", 0)
    for bad in ("sasrec-seed0", "sasrec-seed01", "sasrec-seed", "sasrek", "sasrec-seedx"):
        with pytest.raises(GerecError, match="unknown model"):
            parse_replica(bad)
    assert replica_settings("sasrec-seed2", {})[1]["seed"] == 44  # the default seed 42, + 2
    assert replica_settings("sasrec-seed2", {"seed": 7, "lr": 0.1}) == ("sasrec", {"seed": 9, "lr": 0.1})
    assert "seed" not in replica_settings("sasrec-seed2", {}, inherit_seed=True)[1]  # the checkpoint's own
    with pytest.raises(TypeError):  # keywords only: a new field can never shift a caller's arguments
        RunConfig(None, "movielens")  # type: ignore[misc]
    config = RunConfig(models=("sasrec", "gru4rec"), seeds=2)
    assert config.keys() == ["sasrec", "gru4rec", "sasrec-seed1", "gru4rec-seed1"]
    names = [s.name for s in stages(Workspace.resolve("unused"), config, None, False)]
    assert "base:gru4rec-seed1" in names and "continued:sasrec-seed1" in names and "reduce:sasrec-seed1" in names
    assert names.index("shuffled:sasrec") < names.index("refined:sasrec-seed1")  # whole replicas first
    with pytest.raises(GerecError, match="seeds"):
        RunConfig(seeds=0)
    assert "nouser:sasrec" not in names  # the β = 0 arm costs a training: only when asked for
    asked = [s.name for s in stages(Workspace.resolve("unused"), RunConfig(arms=("refined", "nouser")), None, False)]
    assert "nouser:sasrec" in asked and "shuffled:sasrec" not in asked
    for arms, message in ((("refined", "guided"), "unknown arm 'guided'"), (("reduced",), "must include 'refined'")):
        with pytest.raises(GerecError, match=message):
            RunConfig(arms=arms)
    with pytest.raises(GerecError, match="needs reduction 'none'"):
        RunConfig(freeze_base=True)
    arm = {c.freeze_base: next(s for s in stages(Workspace.resolve("unused"), c, None, False) if s.name == "refined:sasrec")
           for c in (RunConfig(reduction="none"), RunConfig(reduction="none", freeze_base=True))}
    assert "freeze_base" not in arm[False].params and arm[True].params["freeze_base"]  # old keys stay, new ones differ
    guided = {c.finetune: next(s for s in stages(Workspace.resolve("unused"), c, None, False) if s.name == "guided")
              for c in (RunConfig(models=("gru4rec", "sasrec")), RunConfig(models=("gru4rec", "sasrec"), finetune="residual"))}
    assert guided[""].after == ("data",) and guided[""].params["finetune"] is False  # zero-shot keys as before
    assert guided["residual"].after == ("data", "base:gru4rec")  # a retrained first base means new scores
    with pytest.raises(GerecError, match="unknown finetune 'yes'"):
        RunConfig(finetune="yes")
    with pytest.raises(GerecError, match="did you mean 'format_weight'"):
        RunConfig(finetune="residual", finetune_settings={"format_weigth": 3})
    with pytest.raises(GerecError, match="without --finetune"):
        RunConfig(finetune_settings={"format_weight": 3})
    tuned = RunConfig(finetune="residual", finetune_settings={"format_weight": 3})
    assert next(s for s in stages(Workspace.resolve("unused"), tuned, None, False)
                if s.name == "guided").params["finetune_settings"] == {"format_weight": 3}


def test_replicas_train_with_their_own_seed_and_table_and_evaluate_as_one_row(stored: Workspace) -> None:
    from gerec.evaluation.compare import table_rows
    from gerec.steps.base import train_base

    from small_workspace import BASE

    train_base(stored, "sasrec-seed1", BASE, show_progress=False)
    materialize(stored, ["sasrec-seed1"], show_progress=False)
    assert read_json(stored.model_dir("base", "sasrec-seed1") / "config.json")["train"]["seed"] == 43
    own = refinement_from_store(stored, "sasrec-seed1", "refined", DIM)
    first = refinement_from_store(stored, "sasrec", "refined", DIM)
    scale = own.info["normalization"]["alpha"] / first.info["normalization"]["alpha"]  # the latent part's RMS
    assert torch.allclose(own.frozen, first.frozen * scale, atol=1e-5)  # the same language-model scores ...
    assert not torch.equal(own.trainable, first.trainable)  # ... beside the replica's own reduced base table
    for key in ("sasrec", "sasrec-seed1"):
        train_refined(stored, key, "refined", {"epochs": 1}, show_progress=False)
    assert read_json(stored.model_dir("refined", "sasrec-seed1") / "config.json")["train"]["seed"] == 43
    results = evaluate(stored, n_boot=100)
    (row,) = results["rows"]  # one row per architecture, whatever the replicas
    for variant in ("base", "refined"):
        seeds = row["seeds"][variant]
        assert seeds["runs"] == ["sasrec", "sasrec-seed1"]
        means = seeds["means"]["NDCG@10"]
        assert len(set(means)) == 2 and row["variants"][variant]["NDCG@10"]["mean"] == pytest.approx(np.mean(means))
    assert row["attribution"]["refined"]["seeds"] == 2
    labels = [r[2] for r in table_rows(results, ["NDCG@10"])]
    assert any(label.startswith("refined (2 seeds, sd ") for label in labels), labels
    only = evaluate(stored, ["sasrec-seed1"], n_boot=100, write=False)
    assert only["rows"][0]["seeds"]["base"]["runs"] == ["sasrec-seed1"]
    # seeds recorded apart (one session each, as benchmarks/protocol.py does) pool into the same row
    from gerec.errors import GerecError
    from gerec.steps.evaluate import NAMES, evaluate_runs, labels_for, model_row

    seqs = sequences(stored)
    apart = [evaluate_runs(stored, seqs, [key]) for key in ("sasrec", "sasrec-seed1")]
    pooled = {arm: [run for runs in apart for run in runs[arm]] for arm in apart[0]}
    users = pooled["base"][0].users
    rebuilt = model_row("sasrec", pooled, labels_for(stored, seqs, users, "test"), NAMES, 100, 0)
    assert json.dumps(rebuilt, sort_keys=True) == json.dumps(row, sort_keys=True)  # NaN-safe: an undefined gain
    pooled["refined"][1].users = users[1:]
    with pytest.raises(GerecError, match="different users"):
        model_row("sasrec", pooled, labels_for(stored, seqs, users, "test"), NAMES, 100, 0)


def test_metadata_arm_puts_the_categories_in_the_attribute_slots(stored: Workspace) -> None:
    import pyarrow.parquet as pq

    from gerec.errors import GerecError
    from gerec.refine.metadata import category_onehots, metadata_scores

    onehots, names = category_onehots([["a", "b"], None, ["b"], ["c"]])
    assert names == ["a", "b", "c"] and onehots.tolist() == [[1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]
    padded, slots = metadata_scores(onehots, names, 5, np.ones(4, bool), 0)
    assert padded.shape == (4, 5) and slots[:3] == names and not padded[:, 3:].any()
    fit = np.array([True, True, True, False])  # the last item is held out: it shapes no statistic
    moved = onehots.copy()
    moved[3] = [1, 1, 1]
    a, _ = metadata_scores(onehots, names, 2, fit, 0)
    b, pcs = metadata_scores(moved, names, 2, fit, 0)
    assert pcs == ["categories PC1", "categories PC2"] and np.allclose(a[:3], b[:3])
    with pytest.raises(GerecError, match="no genres or categories"):
        category_onehots([None, []])

    real = refinement_from_store(stored, "sasrec", "refined", DIM)
    meta = refinement_from_store(stored, "sasrec", "metadata", DIM)
    genres = pq.read_table(stored.items_path, columns=["item_id", "categories"]).sort_by("item_id")["categories"]
    rows = {}
    for item, cats in enumerate(genres.to_pylist(), 1):  # items of one genre share one row; others differ
        rows.setdefault(tuple(cats), []).append(meta.frozen[item])
    assert len(rows) > 1 and all(torch.allclose(r[0], x) for r in rows.values() for x in r)
    assert len({tuple(np.round(r[0].numpy(), 4)) for r in rows.values()}) == len(rows)
    assert torch.equal(meta.trainable, real.trainable)  # the same reduced base table beside them
    assert meta.users is not None and meta.users.shape == real.users.shape and meta.users[1:].abs().sum() > 0
    assert len(meta.info["attributes"]) == meta.frozen.shape[1]


def test_metadata_user_profile_is_the_mean_of_the_recent_training_items() -> None:
    from gerec.data.sequences import Sequences
    from gerec.refine.metadata import history_profiles

    # user 1: items 1..6 (train 1..4), user 2: items 2, 3, 4 (train: item 2)
    seqs = Sequences.from_arrays(np.array([1] * 6 + [2] * 3), np.array([1, 2, 3, 4, 5, 6, 2, 3, 4]), 2, 6)
    table = np.arange(12, dtype=np.float32).reshape(6, 2)  # row of item i: table[i - 1]
    users, profiles = history_profiles(seqs, table, recent=3)
    assert users.tolist() == [1, 2]
    assert np.allclose(profiles[0], table[[1, 2, 3]].mean(axis=0))  # the last 3 of 1..4, never 5 or 6
    assert np.allclose(profiles[1], table[1])


def test_a_gain_by_an_arm_with_one_hitting_user_has_no_interval() -> None:
    """The mirror case: the *new* arm hits for one user only, so the resamples without that user
    read exactly −100% and a percentile interval would print a bound of −100.0% as if measured."""
    from gerec.evaluation.compare import change_text, relative_change

    rng = np.random.default_rng(1)
    old = np.where(rng.random(40) < 0.5, 0.3, 0.0)
    new = np.zeros(40)
    new[3] = 0.6
    idx = rng.integers(0, 40, size=(500, 40))
    iv = relative_change(new, old, idx)
    assert np.isfinite(iv.mean) and np.isnan(iv.low) and np.isnan(iv.high)
    assert change_text(iv.to_dict()).endswith("(too few hits for an interval)")
    many = relative_change(np.where(rng.random(40) < 0.5, 0.4, 0.0), old, idx)  # both arms hit often
    assert many.low > -1.0 and np.isfinite(many.high)


def test_a_reduction_is_a_run_option_and_a_protocol_row() -> None:
    """`gerec run --reduction` keys the reduce stage (the PCA keeps the key of earlier workspaces),
    and the sweep's row ``dataset/model:orthogonal`` is held against its PCA row."""
    import sys
    from pathlib import Path

    from gerec.errors import GerecError
    from gerec.steps.run import RunConfig, stages

    def reduce_params(config: RunConfig) -> dict:
        return next(s for s in stages(Workspace.resolve("unused"), config, None, False) if s.name == "reduce:sasrec").params

    assert reduce_params(RunConfig()) == {"reduction": "pca"}
    assert reduce_params(RunConfig(reduction="orthogonal")) == {"reduction": "orthogonal"}
    with pytest.raises(GerecError, match="unknown reduction 'ortho'"):
        RunConfig(reduction="ortho")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import protocol

    row = protocol.parse_key("ml-100k/sasrec@movies-extended+residual:orthogonal")
    assert (row.schema, row.finetune, row.reduction) == ("movies-extended", "residual", "orthogonal")
    assert protocol.parse_key("ml-100k/sasrec").reduction == "pca"
    assert protocol.plain_key("ml-100k/sasrec+residual:orthogonal") == "ml-100k/sasrec+residual"
    assert protocol.plain_key("ml-100k/sasrec:orthogonal") == "ml-100k/sasrec"
    assert protocol.plain_key("ml-100k/sasrec@movies-extended") == "ml-100k/sasrec" and not protocol.plain_key("ml-100k/sasrec")
    assert protocol.record_paths("ml-100k/sasrec:orthogonal", 1)[1].parent.name == "ml-100k-sasrec-orthogonal"
    frozen = protocol.parse_key("amazon-beauty/sasrec:none~frozen")
    assert (frozen.reduction, frozen.freeze_base) == ("none", True) and not row.freeze_base
    assert protocol.plain_key("amazon-beauty/sasrec:none~frozen") == "amazon-beauty/sasrec:none"
    assert protocol.record_paths("amazon-beauty/sasrec:none~frozen", 0)[1].parent.name == "amazon-beauty-sasrec-none-frozen"
    for bad in ("ml-100k/sasrec:pca", "ml-100k/sasrec:svd", "ml-100k/sasrec~frozen", "ml-100k/sasrec:none~thawed"):
        with pytest.raises(SystemExit):
            protocol.parse_key(bad)


def test_each_finetune_objective_has_the_settings_its_rows_record() -> None:
    """Every fine-tuning objective has its own chosen settings in the sweep (one shared dict once gave
    the direct objective residual's λ), and each objective's recorded seeds were trained with exactly
    its settings: the sweep would refuse to pool a seed fine-tuned otherwise."""
    import sys
    from pathlib import Path

    from gerec.artifacts import read_json
    from gerec.names import FINETUNE_OBJECTIVES

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import protocol

    assert set(protocol.FINETUNE_SETTINGS) == set(FINETUNE_OBJECTIVES)
    assert protocol.FINETUNE_SETTINGS["direct"] != protocol.FINETUNE_SETTINGS["residual"]
    for objective in FINETUNE_OBJECTIVES:
        key = f"ml-100k/sasrec+{objective}"
        for k in (k for k in range(3) if protocol.recorded(key, k)):
            trained = read_json(protocol.record_paths(key, k)[1])["inputs"]["finetune"]
            assert {name: trained[name] for name in protocol.FINETUNE_SETTINGS[objective]} == \
                protocol.FINETUNE_SETTINGS[objective]


def test_a_seed_trained_off_todays_defaults_is_named(tmp_path, monkeypatch) -> None:
    """A recorded seed whose base model trained with other effective settings than today's code
    gives is named with what differs (a change of gerec's defaults between sessions once left
    a row's bases stopping 20 epochs earlier than a newer row's); one recorded before records
    kept their settings is 'unknown'; what training reads off the data is not compared."""
    import dataclasses
    import sys
    from pathlib import Path

    from gerec.artifacts import write_json
    from gerec.training import configs_from

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import protocol

    monkeypatch.setattr(protocol, "RECORDS", tmp_path)
    key = "amazon-games/sasrec"
    model, train = configs_from(protocol.base_settings("amazon-games", "sasrec"), "sasrec")
    today = {"model": {**dataclasses.asdict(model), "max_len": 50, "loss": "sampled"},  # as training resolves them
             "train": {k: v for k, v in dataclasses.asdict(train).items() if k != "seed"}}
    older = {"model": today["model"], "train": {**today["train"], "patience_steps": 0, "patience": 50}}
    for k, record in enumerate(({"base_config": today}, {"base_config": older}, {})):
        protocol.record_paths(key, k)[1].parent.mkdir(parents=True, exist_ok=True)
        write_json(protocol.record_paths(key, k)[1], record)
    assert protocol.older_defaults(key, 0) == []
    assert protocol.older_defaults(key, 1) == [f"patience 50 (today {train.patience})",
                                               f"patience_steps 0 (today {train.patience_steps})"]
    assert protocol.older_defaults(key, 2) == ["unknown (recorded before base_config)"]
