"""Options of the method (issue 16): a per-position history profile in the items' attribute
space, and learned positive per-attribute weights and β."""

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
