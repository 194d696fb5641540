"""Metrics against hand-computed cases; broken models must score ~0 or fail loudly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gerec.data.sequences import Sequences
from gerec.errors import EvaluationError
from gerec.evaluation import evaluate, metric_names, metrics_from_ranks, pessimistic_ranks
from gerec.models import Popularity

NEG = -1.0  # column 0 is padding


def test_ties_count_against_target() -> None:
    scores = torch.tensor([[NEG, 1.0, 3.0, 2.0, 3.0]])
    assert pessimistic_ranks(scores, torch.tensor([2])).tolist() == [1]  # item 4 ties with the target
    assert pessimistic_ranks(scores, torch.tensor([3])).tolist() == [2]


def test_excluded_items_and_padding_do_not_count() -> None:
    scores = torch.tensor([[100.0, 1.0, 3.0, 2.0, 3.0]])
    exclude = (torch.tensor([0]), torch.tensor([4]))
    assert pessimistic_ranks(scores, torch.tensor([2]), exclude).tolist() == [0]
    # the target is never excluded, even if the user saw it before
    exclude = (torch.tensor([0, 0]), torch.tensor([4, 2]))
    assert pessimistic_ranks(scores, torch.tensor([2]), exclude).tolist() == [0]


def test_hand_computed_metrics() -> None:
    m = metrics_from_ranks(torch.tensor([0, 2, 5, 30]), ks=(5, 10))
    assert m["MRR@5"].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0])
    assert m["NDCG@5"].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert m["Recall@5"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert m["MRR@10"].tolist() == pytest.approx([1.0, 1 / 3, 1 / 6, 0.0])
    assert m["NDCG@10"].tolist() == pytest.approx([1.0, 0.5, 1 / math.log2(7), 0.0])
    assert metric_names((5,)) == ["MRR@5", "Recall@5", "NDCG@5"]


def test_k_larger_than_catalogue() -> None:
    scores = torch.tensor([[NEG, 1.0, 2.0, 0.5]])
    rank = pessimistic_ranks(scores, torch.tensor([3]))
    assert rank.tolist() == [2]
    assert metrics_from_ranks(rank, ks=(20,))["Recall@20"].tolist() == [1.0]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_infinite_scores_fail(bad: float) -> None:
    scores = torch.tensor([[NEG, 1.0, bad, 2.0]])
    with pytest.raises(EvaluationError, match="NaN|infinite"):
        pessimistic_ranks(scores, torch.tensor([1]))


def _toy_sequences(n_users: int = 50, n_items: int = 40, length: int = 8) -> Sequences:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, n_users + 1), length)
    items = np.concatenate([rng.choice(np.arange(1, n_items + 1), size=length, replace=False) for _ in range(n_users)])
    return Sequences.from_arrays(users, items, n_users, n_items)


class Constant:
    def __init__(self, n_items: int, value: float) -> None:
        self.n_items, self.value = n_items, value

    def score(self, histories: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        return torch.full((len(users), self.n_items + 1), self.value)


class Oracle:
    """Knows each user's next item: the last item of the history is followed by the target."""

    def __init__(self, seqs: Sequences, split: str) -> None:
        self.seqs, self.split = seqs, split

    def score(self, histories: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(users), self.seqs.n_items + 1)
        out[torch.arange(len(users)), torch.from_numpy(self.seqs.targets(users.numpy(), self.split))] = 1.0
        return out


def test_constant_model_scores_zero() -> None:
    seqs = _toy_sequences()
    result = evaluate(Constant(seqs.n_items, 0.5), seqs, "test")
    assert all(v == 0.0 for v in result.metrics.values())


def test_nan_model_fails_evaluation() -> None:
    seqs = _toy_sequences()
    with pytest.raises(EvaluationError):
        evaluate(Constant(seqs.n_items, float("nan")), seqs, "valid")


@pytest.mark.parametrize("split", ["valid", "test"])
def test_oracle_scores_one(split: str) -> None:
    seqs = _toy_sequences()
    result = evaluate(Oracle(seqs, split), seqs, split)
    assert result.metrics["NDCG@5"] == 1.0 and result.metrics["MRR@20"] == 1.0
    assert len(result.users) == 50 and result.per_user["NDCG@10"].shape == (50,)


def test_history_is_excluded_and_batching_does_not_matter() -> None:
    seqs = _toy_sequences()
    pop = Popularity.fit(seqs)
    small = evaluate(pop, seqs, "test", batch_size=7)
    large = evaluate(pop, seqs, "test", batch_size=512)
    assert small.metrics == large.metrics
    # with history excluded, at most n_items - (length - 1) items compete
    users = seqs.users
    hp, hist = seqs.histories(users, "test")
    scores = pop.score(torch.zeros(len(users), 1, dtype=torch.long), torch.from_numpy(users))
    ranks = pessimistic_ranks(scores, torch.from_numpy(seqs.targets(users, "test")),
                              (torch.from_numpy(np.repeat(np.arange(len(users)), np.diff(hp))), torch.from_numpy(hist)))
    assert int(ranks.max()) <= seqs.n_items - 7 - 1
    assert np.allclose(small.per_user["Recall@20"], (ranks < 20).double().numpy())


def test_histories_and_targets() -> None:
    seqs = Sequences.from_arrays(np.array([1, 1, 1, 1, 2, 2, 2]), np.array([5, 6, 7, 8, 1, 2, 3]), 2, 8)
    users = np.array([1, 2])
    assert seqs.targets(users, "test").tolist() == [8, 3]
    assert seqs.targets(users, "valid").tolist() == [7, 2]
    assert seqs.padded(users, "test", 2).tolist() == [[6, 7], [1, 2]]
    assert seqs.padded(users, "valid", 4).tolist() == [[0, 0, 5, 6], [0, 0, 0, 1]]
    hp, items = seqs.train_items()
    assert items.tolist() == [5, 6, 1]
