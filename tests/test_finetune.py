"""LoRA fine-tuning of both scorers: gradients, one step, save/load, the whole loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gerec.data.synth import SynthConfig
from gerec.guided.causal import CausalScorer
from gerec.guided.encoder import EncoderScorer
from gerec.guided.finetune import FinetuneConfig, finetune, finetune_loss, zero_shot_stats
from gerec.guided.schema import load_schema

from tiny_lm import SCHEMA, build_tiny_lm

USERS = ["Heat (1995); Alien (1979)", "Up (2009); Toy Story (1995); Babe (1995)"]
ITEMS = ["A hilarious family comedy.", "A dark, violent thriller.", "A love story in Paris.", "A slow war drama."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


def _scorers(tiny: Path) -> list[tuple[object, object]]:
    return [(EncoderScorer(), load_schema("movies")), (CausalScorer(str(tiny), device="cpu"), SCHEMA)]


def _loss(scorer, schema, stats) -> torch.Tensor:  # noqa: ANN001
    """The library's own fine-tuning loss: user 0's next item is ITEMS[1], user 1's is ITEMS[0]."""
    loss, rec, fmt = finetune_loss(scorer, schema, stats, USERS, ITEMS, np.array([1, 0]), FinetuneConfig())
    assert torch.isclose(loss, rec + FinetuneConfig().format_weight * fmt)
    return loss


@pytest.mark.parametrize("backend", ["encoder", "causal"])
def test_gradients_reach_lora_only_and_a_step_lowers_the_loss(backend: str, tiny: Path) -> None:
    scorer, schema = dict(zip(["encoder", "causal"], _scorers(tiny)))[backend]
    stats = zero_shot_stats(scorer, schema, ITEMS, USERS)
    params = scorer.attach_lora(FinetuneConfig(lora_r=4))
    model = scorer.encoder if backend == "encoder" else scorer.lm
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = _loss(scorer, schema, stats)
    before.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n not in trainable)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    step = 1e-4 / float(torch.cat([p.grad.flatten() for p in params]).norm())  # a short step: first order holds
    torch.optim.SGD(params, lr=step).step()
    with torch.no_grad():
        after = _loss(scorer, schema, stats)
    assert after < before


@pytest.mark.parametrize("backend", ["encoder", "causal"])
def test_saved_adapter_reloads_to_identical_scores(backend: str, tiny: Path, tmp_path: Path) -> None:
    scorer, schema = dict(zip(["encoder", "causal"], _scorers(tiny)))[backend]
    stats = zero_shot_stats(scorer, schema, ITEMS, USERS)
    params = scorer.attach_lora(FinetuneConfig(lora_r=4))
    _loss(scorer, schema, stats).backward()
    torch.optim.SGD(params, lr=0.5).step()
    scores = scorer.raw_scores(ITEMS, schema)
    scorer.save_adapter(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    if backend == "encoder":
        reloaded = EncoderScorer(adapter=tmp_path / "adapter")
    else:
        reloaded = CausalScorer(str(tiny), device="cpu", adapter=str(tmp_path / "adapter"))
    assert torch.allclose(reloaded.raw_scores(ITEMS, schema), scores, atol=1e-5)
    assert not torch.allclose(_scorers(tiny)[0 if backend == "encoder" else 1][0].raw_scores(ITEMS, schema), scores)
    assert "adapter_sha256" in reloaded.describe()


def test_finetune_loop_on_a_workspace(ws, tmp_path: Path) -> None:
    from gerec.steps.data import sequences, synthesize
    from gerec.steps.guided import item_texts

    synthesize(ws, SynthConfig(n_items=60, n_users=40, max_length=12, mean_length=8))
    _, titles, texts = item_texts(ws)
    scorer = EncoderScorer()
    config = FinetuneConfig(epochs=2, batch_size=16, negatives=8, stats_sample=32)
    manifest = finetune(scorer, load_schema("movies"), sequences(ws), np.concatenate([[""], titles]),
                        np.concatenate([[""], texts]), config, tmp_path / "adapter", show_progress=False)
    assert [h["epoch"] for h in manifest["history"]] == [1, 2]
    assert all(h["examples"] == 40 for h in manifest["history"])
    assert (tmp_path / "adapter" / "finetune_manifest.json").exists()
    assert scorer.describe()["adapter"] == str(tmp_path / "adapter")


def test_cli_finetune_then_rescore(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from gerec_cli.main import app

    runner = CliRunner()
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["--workspace", ws, "data", "synth", "--items", "40", "--users", "20"]).exit_code == 0
    result = runner.invoke(app, ["--workspace", ws, "guided", "finetune", "--set", "batch_size=10", "--set", "negatives=4",
                                 "--set", "stats_sample=16", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["score"]["scorer"]["adapter"].endswith("encoder-movies")
    assert out["score"]["items"]["newly_scored"] == out["score"]["items"]["rows"]  # new weights: nothing reused
    result = runner.invoke(app, ["--workspace", ws, "guided", "finetune", "--set", "epocs=2"])
    assert result.exit_code == 1 and "did you mean 'epochs'" in result.output
