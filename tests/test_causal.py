"""The causal-LM scorer on a tiny model built by the test: slots, expected digits, generate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gerec.guided.causal import CausalScorer, ScoreFormatError, find_digit_slots, parse_answer

from tiny_lm import SCHEMA, build_tiny_lm

TEXTS = ["Item one: a hilarious comedy.", "A much longer item text about a slow romantic drama " * 3]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def scorer(tiny: Path) -> CausalScorer:
    return CausalScorer(str(tiny), device="cpu")


def test_digit_slots_point_at_the_digits(scorer: CausalScorer) -> None:
    slots = find_digit_slots(scorer.tokenizer, SCHEMA)
    assert len(slots.positions) == len(SCHEMA) and len(slots.digit_ids) == 9
    decoded = [scorer.tokenizer.decode([i]).strip() for i in slots.digit_ids]
    assert decoded == [str(d) for d in range(1, 10)]
    assert all(scorer.tokenizer.decode([slots.answer_ids[p]]).strip() == "5" for p in slots.positions)


def test_digits_must_be_single_tokens_in_context(tmp_path: Path) -> None:
    split = CausalScorer(str(build_tiny_lm(tmp_path / "split", merge_digits=False)), device="cpu")
    with pytest.raises(ScoreFormatError, match="not single tokens"):
        find_digit_slots(split.tokenizer, SCHEMA)


def test_scores_are_expected_digits_in_range(scorer: CausalScorer) -> None:
    scores = scorer.raw_scores(TEXTS, SCHEMA)
    assert scores.shape == (2, 3) and (scores >= 1).all() and (scores <= 9).all()


def test_teacher_forced_reading_matches_a_full_forward(scorer: CausalScorer) -> None:
    """logits_to_keep and left padding must not change what is read at each slot."""
    slots = scorer.slots(SCHEMA)
    batched = scorer.raw_scores(TEXTS, SCHEMA)
    for k, text in enumerate(TEXTS):
        ids = scorer._prompt_ids([text], SCHEMA, "item")[0] + slots.answer_ids
        with torch.no_grad():
            logits = scorer.lm(input_ids=torch.tensor([ids])).logits[0]  # (L, V) all positions
        start = len(ids) - len(slots.answer_ids)
        rows = logits[[start + p - 1 for p in slots.positions]][:, slots.digit_ids]
        expected = torch.softmax(rows, -1) @ torch.arange(1.0, 10.0)
        assert torch.allclose(batched[k], expected, atol=1e-4)


def test_chat_template_is_used_when_present(tiny: Path, tmp_path: Path) -> None:
    from gerec.guided.causal import prompt_text

    with_chat = CausalScorer(str(tiny), device="cpu")
    assert prompt_text(with_chat.tokenizer, SCHEMA, "x", "item").startswith("<s>system:")
    plain = CausalScorer(str(build_tiny_lm(tmp_path / "plain", chat=False)), device="cpu")
    assert prompt_text(plain.tokenizer, SCHEMA, "x", "user").endswith("Answer:\n")
    assert plain.raw_scores(["x"], SCHEMA, "user").shape == (1, 3)


def test_generate_parser() -> None:
    assert parse_answer("humor: 7\nromance: 2\npace: 9\n", SCHEMA) == [7.0, 2.0, 9.0]
    assert parse_answer("Sure!\n- **Humor**: 3\n- Romance: 4\n- pace : 5", SCHEMA) == [3.0, 4.0, 5.0]
    with pytest.raises(ScoreFormatError, match="no 'romance: <1-9>' line"):
        parse_answer("humor: 7\nromance: high\npace: 9", SCHEMA)
    with pytest.raises(ScoreFormatError, match="no 'pace"):
        parse_answer("humor: 7\nromance: 2\npace: 10", SCHEMA)


@pytest.mark.parametrize("generate", [False, True])
def test_a_spec_names_the_scorer_it_builds_without_loading_it(tiny: Path, generate: bool) -> None:
    """The Ray driver keys the score cache from the spec alone: it must equal the loaded scorer's key."""
    from gerec.guided.distributed import ScorerSpec

    spec = ScorerSpec("causal", str(tiny), generate=generate)
    loaded = CausalScorer(str(tiny), device="cpu", generate=generate)
    assert spec.describe() == loaded.describe() and spec.calibrated is loaded.calibrated is False


def test_generate_keeps_raw_text_of_bad_answers(tiny: Path) -> None:
    scorer = CausalScorer(str(tiny), device="cpu", generate=True)
    scores = scorer.raw_scores(TEXTS[:1], SCHEMA)  # an untrained model answers nonsense
    assert torch.isnan(scores).all()
    text, raw, reason = scorer.failures[0]
    assert text == TEXTS[0] and isinstance(raw, str) and "line" in reason


def test_cli_scores_a_workspace_with_a_causal_lm(tiny: Path, tmp_path: Path) -> None:
    import json

    import yaml
    from typer.testing import CliRunner

    from gerec_cli.main import app

    runner = CliRunner()
    ws = str(tmp_path / "ws")
    schema = tmp_path / "tiny.yaml"
    schema.write_text(yaml.safe_dump(SCHEMA.to_dict()))
    assert runner.invoke(app, ["--workspace", ws, "data", "synth", "--items", "30", "--users", "12"]).exit_code == 0
    args = ["--workspace", ws, "guided", "score", "--backend", "causal", "--model", str(tiny), "--schema", str(schema),
            "--quiet"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["scorer"]["mode"] == "teacher-forced" and manifest["calibration"]["items"] is None
    # free generation from an untrained model: a clear error naming an item, raw outputs kept
    result = runner.invoke(app, [*args, "--generate"])
    assert result.exit_code == 1 and "not in 'name: digit' format (first: item 1" in result.output
    assert (tmp_path / "ws" / "features" / "score_failures.jsonl").exists()
