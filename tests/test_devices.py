"""Devices: one rule for choosing one, and no tensor created without the device of its inputs.

On a CPU-only machine the second is checked by running training, evaluation and queries with
the model on the CPU while torch's *default* device is ``meta``: any tensor made without an
explicit device lands on ``meta`` and the next operation mixing it with the model's fails.
Where the machine has a GPU, a training step and an evaluation also run there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gerec.data.sequences import Sequences
from gerec.devices import resolve_device, set_threads
from gerec.errors import GerecError
from gerec.evaluation import evaluate
from gerec.models.popularity import Popularity
from gerec.models.refined import Refinement
from gerec.training import configs_from, load_checkpoint, train, user_queries

SETTINGS = {"epochs": 1, "dim": 16, "max_len": 8, "heads": 1, "layers": 1, "batch_size": 16}


def _sequences(n_users: int = 20, n_items: int = 40, length: int = 8) -> Sequences:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, n_users + 1), length)
    return Sequences.from_arrays(users, rng.integers(1, n_items + 1, size=len(users)), n_users, n_items)


def _refinement(seqs: Sequences, m: int = 4) -> Refinement:
    rng = np.random.default_rng(1)
    table = lambda rows, cols: torch.from_numpy(rng.standard_normal((rows, cols)).astype(np.float32))  # noqa: E731
    info = {"attributes": [f"a{j}" for j in range(m)], "normalization": {}}
    return Refinement(table(seqs.n_items + 1, m), table(seqs.n_items + 1, SETTINGS["dim"] - m),
                      table(seqs.n_users + 1, m), 0.5, info)


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("GEREC_DEVICE", "cpu")
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(GerecError, match="unknown device 'banana'"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(GerecError, match="torch sees none on this machine"):
            resolve_device("cuda")
    with pytest.raises(GerecError, match="threads must be at least 1"):
        set_threads(0)


@pytest.mark.parametrize(("model", "loss", "refined"), [
    ("sasrec", "ce", False), ("sasrec", "sampled", True), ("gru4rec", "ce", True), ("gru4rec", "sampled", False),
    ("bert4rec", "ce", False), ("bert4rec", "sampled", True),
])
def test_nothing_relies_on_the_default_device(model: str, loss: str, refined: bool, tmp_path: Path) -> None:
    seqs = _sequences()
    model_config, train_config = configs_from({**SETTINGS, "loss": loss, "n_negatives": 5}, model)
    reference = train(seqs, model_config, train_config, tmp_path / "ref", show_progress=False, device="cpu",
                      refinement=_refinement(seqs) if refined else None)
    with torch.device("meta"):  # the model runs on the CPU; a tensor made without a device lands on meta
        result = train(seqs, model_config, train_config, tmp_path / "run", show_progress=False, device="cpu",
                       refinement=_refinement(seqs) if refined else None)
        queries = user_queries(result.model, seqs, seqs.users[:5], "test")
        loaded = load_checkpoint(tmp_path / "run", "cpu")
        popularity = evaluate(Popularity.fit(seqs), seqs, "test").metrics
    assert result.model.device == loaded.device == torch.device("cpu")
    assert result.test == reference.test  # the same run as with a CPU default: same seed, same numbers
    assert queries.shape == (5, SETTINGS["dim"]) and np.isfinite(queries).all()
    assert set(popularity) == set(result.test)
    assert loaded.attributes == (["a0", "a1", "a2", "a3"] if refined else [])


ACCELERATORS = [d for d, ok in (("cuda", torch.cuda.is_available()), ("mps", torch.backends.mps.is_available())) if ok]


@pytest.mark.skipif(not ACCELERATORS, reason="no GPU on this machine (the meta-device test covers device handling)")
@pytest.mark.parametrize("model", ["sasrec", "gru4rec", "bert4rec"])
def test_training_and_evaluation_on_an_accelerator(model: str, tmp_path: Path) -> None:
    seqs = _sequences()
    model_config, train_config = configs_from(SETTINGS, model)
    result = train(seqs, model_config, train_config, tmp_path, show_progress=False, device=ACCELERATORS[0],
                   refinement=_refinement(seqs))
    assert result.model.device.type == ACCELERATORS[0]
    on_cpu = load_checkpoint(tmp_path, "cpu")  # a checkpoint loads on any device
    cpu_test = evaluate(on_cpu, seqs, "test", max_len=8).metrics
    assert all(abs(cpu_test[k] - result.test[k]) < 1e-3 for k in cpu_test)
