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


BASE = torch.tensor([[0.5, 0.0, 0.2, -0.1], [0.0, 0.3, 0.1, 0.4]])  # a frozen recommender's logits


def _loss(scorer, schema, stats, objective: str = "direct") -> torch.Tensor:  # noqa: ANN001
    """The library's own fine-tuning loss: user 0's next item is ITEMS[1], user 1's is ITEMS[0]
    (residual: on top of BASE, where the LM's term must earn a weight to get a gradient)."""
    config = FinetuneConfig(objective=objective)
    losses = finetune_loss(scorer, schema, stats, USERS, ITEMS, np.array([1, 0]), config,
                           BASE if objective == "residual" else None)
    assert torch.isclose(losses.total, losses.rec + config.format_weight * losses.format)
    assert objective == "direct" or losses.weight > 0
    return losses.total


@pytest.mark.parametrize("objective", ["direct", "residual"])
@pytest.mark.parametrize("backend", ["encoder", "causal"])
def test_gradients_reach_lora_only_and_a_step_lowers_the_loss(backend: str, objective: str, tiny: Path) -> None:
    scorer, schema = dict(zip(["encoder", "causal"], _scorers(tiny)))[backend]
    stats = zero_shot_stats(scorer, schema, ITEMS, USERS)
    params = scorer.attach_lora(FinetuneConfig(lora_r=4))
    model = scorer.encoder if backend == "encoder" else scorer.lm
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = _loss(scorer, schema, stats, objective)
    before.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n not in trainable)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    step = 1e-4 / float(torch.cat([p.grad.flatten() for p in params]).norm())  # a short step: first order holds
    torch.optim.SGD(params, lr=step).step()
    with torch.no_grad():
        after = _loss(scorer, schema, stats, objective)
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


def test_residual_objective_weighs_the_lm_by_what_it_earns() -> None:
    """Residual L_rec is the cross-entropy of base logits + w·<ĝ_u, ĝ_i>, with w >= 0 the batch's
    best weight: never above the base model's own loss; w = 0 when the LM's term only hurts."""
    from gerec.guided.finetune import best_weight

    scorer, schema = EncoderScorer(), load_schema("movies")
    stats = zero_shot_stats(scorer, schema, ITEMS, USERS)
    targets = np.array([1, 0])
    residual = FinetuneConfig(objective="residual")
    ce = torch.nn.functional.cross_entropy
    for base in (torch.zeros(2, 4), torch.randn(2, 4, generator=torch.Generator().manual_seed(0)) * 3):
        with torch.no_grad():
            losses = finetune_loss(scorer, schema, stats, USERS, ITEMS, targets, residual, base)
        assert losses.rec <= ce(base, torch.as_tensor(targets)) + 1e-6 and losses.weight >= 0
    # the weight is the minimum of a grid search over w
    gen = torch.Generator().manual_seed(1)
    base, products, target = torch.randn(64, 30, generator=gen) * 2, torch.randn(64, 30, generator=gen), torch.arange(64) % 30
    products[torch.arange(64), target] += 1.0  # the LM leans toward the targets: it earns a weight
    grid = torch.linspace(0, 3, 3001)
    best = grid[torch.stack([ce(base + w * products, target) for w in grid]).argmin()]
    assert abs(float(best_weight(base, products, target)) - float(best)) < 2e-3 and best > 0.1
    assert float(best_weight(base, -products, target)) == 0.0  # it leans away: no weight
    with pytest.raises(Exception, match="objective"):
        FinetuneConfig(objective="both")


def test_training_histories_hold_only_the_train_items_before_the_target(ws) -> None:  # noqa: ANN001
    from gerec.guided.finetune import training_examples
    from gerec.steps.data import sequences, synthesize

    synthesize(ws, SynthConfig(n_items=60, n_users=40, max_length=12, mean_length=8))
    seqs = sequences(ws)
    users, histories, targets = training_examples(seqs, np.random.default_rng(0))
    hp, train = seqs.histories(users, "valid")
    for k, (history, target) in enumerate(zip(histories, targets)):
        own = train[hp[k]:hp[k + 1]]
        assert 1 <= len(history) < len(own)
        assert (own[:len(history)] == history).all() and own[len(history)] == target  # no target, no later item


def test_residual_finetune_on_a_trained_base(fresh, tmp_path: Path) -> None:  # noqa: ANN001
    from gerec.errors import GerecError
    from gerec.steps.data import sequences
    from gerec.steps.guided import base_logits, finetune
    from gerec.training import load_checkpoint

    # the base's logits for a history are what evaluation scores for the same (left-padded) history
    seqs = sequences(fresh)
    users = seqs.users[:5]
    net = load_checkpoint(fresh.model_dir("base", "sasrec"))
    padded = seqs.padded(users, "valid", int(net.config.max_len))
    hp, flat = seqs.histories(users, "valid")
    candidates = np.array([1, 7, 3, 40])
    got = base_logits(fresh, "sasrec")([flat[hp[k]:hp[k + 1]] for k in range(len(users))], candidates)
    with torch.no_grad():
        want = net.score(torch.from_numpy(padded), None)[:, candidates]
    assert torch.allclose(got, want, atol=1e-5)

    settings = {"objective": "residual", "batch_size": 16, "negatives": 8, "stats_sample": 32}
    result = finetune(fresh, "movies", settings=settings, rescore=False, show_progress=False)
    tuned = result["finetune"]
    assert tuned["config"]["objective"] == "residual" and tuned["base_model"]["model"] == "sasrec"
    assert len(tuned["base_model"]["sha256"]) == 64
    # the base alone, on the same examples, is never below the residual loss
    assert all(h["rec"] <= h["base_rec"] + 1e-6 and h["weight"] >= 0 for h in tuned["history"])
    with pytest.raises(GerecError, match="trained base gru4rec"):
        finetune(fresh, "movies", settings=settings, rescore=False, show_progress=False, base_model="gru4rec")
