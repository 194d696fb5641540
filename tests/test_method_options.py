"""Options of the method (issue 16): a per-position history profile in the items' attribute
space, learned positive per-attribute weights and β, and the widened table that keeps the
whole base model (reduction ``none``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gerec.models import build_model
from gerec.models.refined import Refinement
from gerec.models.sequential import ModelConfig

N_ITEMS, M, DIM = 30, 4, 16


def refined(model: str, decay: float, learn: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model(ModelConfig(model=model, dim=DIM, max_len=10, layers=1, heads=2, dropout=0.0), N_ITEMS)
    frozen = torch.cat([torch.zeros(1, M), torch.randn(N_ITEMS, M)])
    trainable = torch.randn(N_ITEMS + 1, DIM - M) * 0.1
    users = torch.randn(5, M)
    info = {"attributes": [f"a{i}" for i in range(M)], "profile_decay": decay, "learn_scales": learn}
    Refinement(frozen, trainable, users, 1.0, info).apply(net)
    return net.eval()


@pytest.mark.parametrize("model", ["sasrec", "gru4rec"])
def test_a_position_profile_never_sees_a_later_item(model: str) -> None:
    net = refined(model, 0.7, True)
    inputs = torch.tensor([[0, 0, 3, 7, 1, 9, 4, 12, 5, 6]])
    later = inputs.clone()
    later[0, 6:] = torch.tensor([20, 21, 22, 23])  # other items after position 5
    users = torch.tensor([[2] * 10])
    with torch.no_grad():
        q = net.query(net.encode(inputs), users, net.profiles(inputs))
        q2 = net.query(net.encode(later), users, net.profiles(later))
    assert torch.allclose(q[0, :6], q2[0, :6], atol=1e-6) and not torch.allclose(q[0, 6:], q2[0, 6:])
    profile = net.profiles(inputs)[0].detach()
    rows = net.items.guided().detach()[inputs[0]]
    t, w = 5, 0.7 ** torch.arange(3, -1, -1.0)  # positions 2..5 hold items, the rest is padding
    assert torch.allclose(profile[t], (w[:, None] * rows[2:6]).sum(0) / w.sum(), atol=1e-5)
    assert torch.equal(profile[1], torch.zeros(M))  # nothing before: no profile


def test_bert4rec_profile_skips_the_mask_token() -> None:
    net = refined("bert4rec", 0.5, False)
    mask = N_ITEMS + 1
    a, b = torch.tensor([[3, 4, mask]]), torch.tensor([[3, 4, 9]])
    assert torch.allclose(net.profiles(a)[0, 1], net.profiles(b)[0, 1])
    assert torch.allclose(net.profiles(a)[0, 2], net.profiles(a)[0, 1], atol=1e-6)  # the mask adds nothing


def test_learned_scales_and_beta_stay_positive_and_are_trained() -> None:
    net = refined("sasrec", 0.0, True)
    opt = torch.optim.SGD(net.parameters(), lr=5.0)
    for _ in range(20):  # a loss that wants every weight below zero
        opt.zero_grad()
        (net.items.scales().sum() + net.user_guided.weight()).backward()
        opt.step()
    assert (net.items.scales() > 0).all() and net.user_guided.weight() > 0
    assert net.items.scales().max() < 1  # they did move
    assert net.profile is None  # decay 0: no profile
    plain = refined("sasrec", 0.0, False)
    assert plain.items.log_scales is None and plain.user_guided.log_beta is None


def test_options_train_save_and_load(tmp_path) -> None:
    from gerec.steps.features import apply, materialize
    from gerec.steps.refine import train_refined
    from gerec.training import load_checkpoint

    from small_workspace import make_workspace

    ws = make_workspace(tmp_path / "ws")
    apply(ws)
    materialize(ws, show_progress=False)
    result = train_refined(ws, "sasrec", "refined", {"epochs": 2}, show_progress=False, profile_decay=0.8,
                           learn_scales=True)
    loaded = load_checkpoint(ws.model_dir("refined", "sasrec"))
    assert loaded.profile is not None and loaded.items.log_scales is not None
    histories, users = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]]), torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.allclose(loaded.score(histories, users), result.model.cpu().score(histories, users), atol=1e-5)
    assert np.isfinite(result.test["NDCG@10"])
    from gerec.steps.evaluate import evaluate

    share = evaluate(ws, ["sasrec"], n_boot=50, write=False)["rows"][0]["attribution"]["refined"]
    assert set(share["learned_scales"]) == set(share["importance"]) and min(share["learned_scales"].values()) > 0


@pytest.mark.parametrize("model", ["sasrec", "gru4rec", "bert4rec"])
def test_a_widened_model_starts_as_its_base_and_learns_the_attribute_columns(model: str) -> None:
    """Reduction ``none``: the base table stays whole beside the scores, [ĝ ; e] at width m + d;
    the adapter into the encoder and the query's head start at zero, so before training the
    widened model (without user vectors) scores exactly as the base model it starts from."""
    torch.manual_seed(0)
    config = ModelConfig(model=model, dim=DIM, max_len=10, layers=1, heads=2, dropout=0.0)
    base = build_model(config, N_ITEMS).eval()
    net = build_model(config, N_ITEMS)
    net.load_state_dict(base.state_dict())
    frozen = torch.cat([torch.zeros(1, M), torch.randn(N_ITEMS, M)])
    table = base.catalogue().detach()
    info = {"attributes": [f"a{i}" for i in range(M)], "widened": True}
    Refinement(frozen, table.clone(), None, 0.0, info).apply(net)
    net.eval()
    assert net.width == DIM + M and net.catalogue().shape == (N_ITEMS + 1, DIM + M) and net.attributes
    histories, users = torch.tensor([[0, 3, 7, 1, 9], [4, 12, 5, 6, 2]]), torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.allclose(net.score(histories, users), base.score(histories, users), atol=1e-5)
        if model == "bert4rec":  # the mask token's row is the base model's own
            assert torch.equal(net.items.table()[-1, M:], base.items.table()[-1])
    net.train()
    _, loss = net(torch.tensor([[0, 3, 7, 1, 9, 4], [4, 12, 5, 6, 2, 8]]), torch.Generator().manual_seed(0))
    loss.backward()
    assert net.items.adapter.grad.abs().sum() > 0 and net.head.weight.grad.abs().sum() > 0
    assert net.items.frozen.requires_grad is False


@pytest.mark.parametrize("model", ["sasrec", "gru4rec", "bert4rec"])
@pytest.mark.parametrize("control", [False, True])
def test_a_frozen_base_trains_only_what_refinement_adds(model: str, control: bool) -> None:
    """``freeze_base``: after optimizer steps the base model's encoder and item columns are
    exactly as trained; the adapter, the query head, the user vectors and a control's own lead
    columns (reduced-only: random trainable columns in the attribute slots) have moved."""
    torch.manual_seed(0)
    config = ModelConfig(model=model, dim=DIM, max_len=10, layers=1, heads=2, dropout=0.0)
    net = build_model(config, N_ITEMS)
    base = {k: v.clone() for k, v in net.state_dict().items()}
    table = net.catalogue().detach().clone()
    info = {"attributes": [f"a{i}" for i in range(M)], "widened": True, "freeze_base": True}
    if control:  # reduced-only: no scores, M random trainable columns before the base's own
        refinement = Refinement(torch.zeros(N_ITEMS + 1, 0), torch.cat([torch.randn(N_ITEMS + 1, M), table], 1),
                                None, 0.0, info)
    else:
        refinement = Refinement(torch.cat([torch.zeros(1, M), torch.randn(N_ITEMS, M)]), table, torch.randn(5, M),
                                1.0, info)
    refinement.apply(net)
    before = net.items.trainable.detach().clone()
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    window, users = torch.tensor([[0, 3, 7, 1, 9, 4], [4, 12, 5, 6, 2, 8]]), torch.tensor([1, 2])
    for step in range(3):
        opt.zero_grad()
        _, loss = net(window, torch.Generator().manual_seed(step), None if control else users)
        loss.backward()
        opt.step()
    after = net.state_dict()
    encoder = [k for k in base if not k.startswith("items.")]
    assert encoder and all(torch.equal(after[k], base[k]) for k in encoder)
    assert torch.equal(net.items.trainable[:, -DIM:], before[:, -DIM:])  # the base's own columns, mask row too
    assert not torch.equal(net.items.adapter, torch.zeros_like(net.items.adapter))
    assert not torch.equal(net.head.weight, torch.zeros_like(net.head.weight))
    if control:
        assert not torch.equal(net.items.trainable[:, :M], before[:, :M])
    else:
        assert net.user_guided is not None and any(p.requires_grad for p in net.user_guided.parameters())


def test_only_a_widened_model_has_a_base_to_freeze() -> None:
    net = build_model(ModelConfig(dim=DIM, max_len=10, layers=1, heads=2), N_ITEMS)
    info = {"attributes": [f"a{i}" for i in range(M)], "freeze_base": True}
    with pytest.raises(ValueError, match="only a widened"):
        Refinement(torch.zeros(N_ITEMS + 1, M), torch.zeros(N_ITEMS + 1, DIM - M), None, 0.0, info).apply(net)


def test_a_widened_table_is_refused_without_the_flag() -> None:
    net = build_model(ModelConfig(dim=DIM, max_len=10, layers=1, heads=2), N_ITEMS)
    with pytest.raises(ValueError, match="refined width"):
        Refinement(torch.zeros(N_ITEMS + 1, M), torch.zeros(N_ITEMS + 1, DIM), None, 0.0, {"attributes": []}).apply(net)


def test_the_none_reduction_trains_a_widened_model_from_the_whole_base(tmp_path) -> None:
    """Through the store: ``none`` stores the base table as it is; every arm from it is widened,
    starts from the base checkpoint (recorded as the warm start), and saves and loads."""
    from gerec.artifacts import read_json, sha256_file
    from gerec.errors import GerecError
    from gerec.refine.reduce import fit_reduction
    from gerec.steps.features import apply, materialize
    from gerec.steps.refine import train_refined
    from gerec.training import load_checkpoint

    from small_workspace import make_workspace

    table = np.random.default_rng(0).standard_normal((20, 8))
    assert np.array_equal(fit_reduction(table, 8, "none").transform(table), table.astype(np.float32))
    with pytest.raises(GerecError, match="keeps all d=8"):
        fit_reduction(table, 6, "none")
    ws = make_workspace(tmp_path / "ws")
    apply(ws)
    report = materialize(ws, reduction="none", show_progress=False)["reduced"][0]
    base = load_checkpoint(ws.model_dir("base", "sasrec"))
    d, m = base.config.dim, report["m"]
    assert (report["method"], report["k"]) == ("none", d)
    for variant in ("refined", "reduced"):
        result = train_refined(ws, "sasrec", variant, {"epochs": 1}, show_progress=False)
        folder = ws.model_dir(variant, "sasrec")
        config = read_json(folder / "config.json")
        assert config["warm_start"] == sha256_file(ws.model_dir("base", "sasrec") / "model.safetensors")
        assert config["refine"]["widened"] and result.model.width == d + m
        loaded = load_checkpoint(folder)
        assert torch.allclose(loaded.catalogue()[:, -d:], result.model.cpu().catalogue()[:, -d:])
        assert bool(loaded.attributes) == (variant == "refined")
    # freeze_base: the refined arm's base columns stay the base model's; refused on a weight decay
    frozen = train_refined(ws, "sasrec", "refined", {"epochs": 1}, show_progress=False, freeze_base=True)
    assert read_json(ws.model_dir("refined", "sasrec") / "config.json")["refine"]["freeze_base"]
    assert torch.equal(frozen.model.cpu().catalogue()[:, -d:], base.catalogue())
    with pytest.raises(GerecError, match="weight_decay"):
        train_refined(ws, "sasrec", "refined", {"epochs": 1, "weight_decay": 0.1}, freeze_base=True)
    # the index serves the widened vectors: the model's own top-k, with exact attribute reasons
    from gerec.serving.answers import recommendations
    from gerec.steps.index import build_index
    from gerec.steps.recommend import load_recommender

    assert build_index(ws, "sasrec", "refined")["width"] == d + m
    rec = load_recommender(ws, "refined-sasrec")
    answer = recommendations(rec, user_id=3, k=5)
    assert len(answer["items"]) == 5
    for item in answer["items"]:
        assert abs(sum(item["attributes"].values()) + item["latent"] - item["score"]) < 1e-4
