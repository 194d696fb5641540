"""LoRA fine-tuning of a scorer: ``L = L_rec + λ·L_format`` (peft).

``L_rec`` — next-item cross-entropy where the score of (user history, item) is the inner
product of their normalized guided vectors, over the batch's targets plus uniformly
sampled items; only the LoRA weights get gradients. With the ``residual`` objective the
inner product is *added to a frozen base recommender's logits* for the same history and
items: the language model is then rewarded only for what the recommender misses, which is
all the refined model can use it for (the ``direct`` objective rewards re-learning what the
ID model already knows).
``L_format`` — keeps the scores interpretable: for the encoder, each fine-tuned score is
pulled toward its zero-shot, phrase-anchored value (the phrases themselves stay anchored
to the base model); for a causal LM, the LM cross-entropy of the answer template plus the
probability mass on digit tokens at each slot.

Examples come from the train split only: a user's history up to a random train position
(its last ``recent`` titles) and the train item that followed it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gerec.artifacts import write_json
from gerec.config import SEED_LIMIT, check, choice
from gerec.data.sequences import Sequences
from gerec.errors import GerecError
from gerec.guided.schema import Schema
from gerec.guided.score import history_text
from gerec.names import FINETUNE_OBJECTIVES

Stats = dict[str, tuple[torch.Tensor, torch.Tensor]]  # kind → (mean, std) of zero-shot raw scores
BaseLogits = Callable[[list[np.ndarray], np.ndarray], torch.Tensor]
"""(histories — each a user's train items before the target, oldest first —, candidate item
ids (C,)) → (B, C) logits of a frozen recommender: what the ``residual`` objective adds to."""


@dataclass
class FinetuneConfig:
    """Settings of ``gerec guided finetune`` (defaults: one pass over ML-100K in minutes on 2 cores)."""

    epochs: int = 1  # passes over the training users, one example per user per pass
    batch_size: int = 32  # users per step; their targets are each other's negatives
    negatives: int = 64  # items sampled uniformly per step, shared by the batch
    lr: float = 1e-3
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    format_weight: float = 10.0  # λ in L_rec + λ·L_format (1.0 let ML-100K's family AUC fall to 0.51)
    temperature: float = 3.0  # direct L_rec logits are <ĝ_u, ĝ_i> / temperature (z-scored vectors give large products)
    recent: int = 10  # titles of the most recent train items that describe a user
    stats_sample: int = 512  # items and users scored zero-shot to fix the normalization
    # direct: <ĝ_u, ĝ_i>/τ alone predicts the next item; residual: w·<ĝ_u, ĝ_i> is added to a frozen
    # base model's logits, w >= 0 the batch's best weight, so the LM learns what the recommender
    # misses (issue 16; needs a trained base). A fixed w = 1/τ raised SASRec's loss on ML-100K
    # (3.74 vs 3.35 alone): the LM's term must earn its weight.
    objective: str = "direct"
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "negatives", "lora_r", "lora_alpha", "recent", "stats_sample"):
            check(name, getattr(self, name), 1, 1_000_000)
        check("lr", self.lr, 0, 10, low_open=True)
        check("lora_dropout", self.lora_dropout, 0, 1, high_open=True)
        check("format_weight", self.format_weight, 0)
        check("temperature", self.temperature, 0, low_open=True)
        check("seed", self.seed, 0, SEED_LIMIT, high_open=True)
        choice("objective", self.objective, FINETUNE_OBJECTIVES)


class TrainableScorer(Protocol):
    backend: str

    def attach_lora(self, config: FinetuneConfig) -> list[torch.nn.Parameter]: ...

    def train_forward(self, texts: list[str], schema: Schema, kind: str,
                      scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...

    def raw_scores(self, texts: list[str], schema: Schema, kind: str = "item") -> torch.Tensor: ...

    def save_adapter(self, path: Path) -> None: ...

    def describe(self) -> dict[str, str]: ...


def training_examples(seqs: Sequences, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """One (user, history, next item) per user with >= 2 train events, at a random train
    position; the history is every train item before the target (the LM reads its last few)."""
    users = seqs.users
    hp, train = seqs.histories(users, "valid")
    lens = np.diff(hp)
    keep = lens >= 2
    users, starts, lens = users[keep], hp[:-1][keep], lens[keep]
    pos = rng.integers(1, lens)  # target index within the user's train sequence
    return users, [train[s:s + p] for s, p in zip(starts, pos)], train[starts + pos]


class Losses(NamedTuple):
    total: torch.Tensor
    rec: torch.Tensor
    format: torch.Tensor
    weight: float | None  # residual objective: the weight the LM's term earned on the batch


def finetune_loss(scorer: TrainableScorer, schema: Schema, stats: Stats, user_texts: list[str],
                  item_texts: list[str], target_col: np.ndarray, config: FinetuneConfig,
                  base_logits: torch.Tensor | None = None) -> Losses:
    """``L``, ``L_rec``, ``L_format`` (and the residual objective's weight) for one batch: user
    ``b``'s next item is ``item_texts[target_col[b]]``, every other item text is a negative;
    scores are z-scored with the zero-shot ``stats``; ``base_logits`` (B, C), when given, are a
    frozen recommender's logits the LM's are added to."""
    user_scores, user_format = scorer.train_forward(user_texts, schema, "user", stats["user"][1])
    item_scores, item_format = scorer.train_forward(item_texts, schema, "item", stats["item"][1])
    g_u = (user_scores - stats["user"][0]) / stats["user"][1]  # (B, m)
    g_i = (item_scores - stats["item"][0]) / stats["item"][1]  # (C, m)
    target = torch.as_tensor(target_col, device=g_u.device)
    products = g_u @ g_i.T  # (B, C)
    weight = None
    if base_logits is None:
        logits = products / config.temperature
    else:
        base_logits = base_logits.to(g_u.device, g_u.dtype)
        w = best_weight(base_logits, products.detach(), target)
        logits, weight = base_logits + w * products, float(w)
    rec = torch.nn.functional.cross_entropy(logits, target)
    fmt = (user_format + item_format) / 2
    return Losses(rec + config.format_weight * fmt, rec, fmt, weight)


def best_weight(base: torch.Tensor, products: torch.Tensor, target: torch.Tensor, steps: int = 20) -> torch.Tensor:
    """The weight w >= 0 that minimizes the cross-entropy of ``base + w·products`` (Newton's method
    on a convex function of one variable): the LM's term gets the weight it earns on this batch —
    0 when it only adds noise to what the base model already ranks, so the residual loss is never
    above the base model's own."""
    w = torch.zeros((), dtype=base.dtype, device=base.device)
    own = products.gather(1, target[:, None])[:, 0]
    for _ in range(steps):
        p = torch.softmax(base + w * products, dim=1)
        mean = (p * products).sum(1)
        grad = (mean - own).mean()
        curve = ((p * products.square()).sum(1) - mean.square()).mean().clamp(min=1e-12)
        w = (w - grad / curve).clamp(min=0.0)
    return w


def zero_shot_stats(scorer: TrainableScorer, schema: Schema, item_texts: list[str], user_texts: list[str]) -> Stats:
    """Mean and std of each attribute's zero-shot raw score: the normalization fixed for a whole run."""
    stats = {}
    for kind, batch in (("item", item_texts), ("user", user_texts)):
        raw = scorer.raw_scores(batch, schema, kind)
        stats[kind] = (raw.mean(0), raw.std(0).clamp(min=1e-6))
    return stats


def finetune(scorer: TrainableScorer, schema: Schema, seqs: Sequences, titles: np.ndarray, texts: np.ndarray,
             config: FinetuneConfig, out_dir: Path, console: Console | None = None, show_progress: bool = True,
             provenance: dict[str, Any] | None = None, base: BaseLogits | None = None) -> dict[str, Any]:
    """Train LoRA adapters for ``scorer`` on the train split of ``seqs``; save them to ``out_dir``.

    ``titles`` and ``texts`` are indexed by item id (entry 0 unused); ``provenance`` joins
    the saved manifest (e.g. the data files it was trained on); ``base`` gives the frozen
    recommender's logits that the ``residual`` objective needs.
    """
    console = console or Console(stderr=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if len(seqs.users) < 2:
        raise GerecError("fine-tuning needs at least 2 users with train events")
    if (config.objective == "residual") != (base is not None):
        raise GerecError("the residual objective needs a base model's logits, and only it uses them")

    # Zero-shot statistics fix the normalization ĝ = (g − μ) / σ for the whole run.
    sample = rng.choice(np.arange(1, seqs.n_items + 1), size=min(config.stats_sample, seqs.n_items), replace=False)
    users0, hist0, _ = training_examples(seqs, rng)
    user_sample = rng.choice(len(users0), size=min(config.stats_sample, len(users0)), replace=False)
    stats = zero_shot_stats(scorer, schema, list(texts[sample]),
                            [history_text(titles[hist0[k][-config.recent:]]) for k in user_sample])

    params = scorer.attach_lora(config)
    opt = torch.optim.AdamW(params, lr=config.lr)
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=not show_progress, transient=True) as progress:
        for epoch in range(1, config.epochs + 1):
            users, histories, targets = training_examples(seqs, rng)
            order = rng.permutation(len(users))
            n_steps = int(np.ceil(len(order) / config.batch_size))
            task = progress.add_task(f"finetune epoch {epoch}", total=n_steps, loss=float("nan"))
            sums = {"loss": 0.0, "rec": 0.0, "format": 0.0, **({"base_rec": 0.0, "weight": 0.0} if base else {})}
            epoch_start = time.perf_counter()
            for step in range(n_steps):
                idx = order[step * config.batch_size:(step + 1) * config.batch_size]
                negatives = rng.integers(1, seqs.n_items + 1, size=config.negatives)
                candidates, target_col = np.unique(np.concatenate([targets[idx], negatives]), return_inverse=True)
                with torch.no_grad():
                    frozen = base([histories[k] for k in idx], candidates) if base is not None else None
                losses = finetune_loss(scorer, schema, stats,
                                       [history_text(titles[histories[k][-config.recent:]]) for k in idx],
                                       list(texts[candidates]), target_col[:len(idx)], config, frozen)
                if frozen is not None:  # the recommender alone on the same examples: what the LM must lower
                    target = torch.as_tensor(target_col[:len(idx)], device=frozen.device)
                    sums["base_rec"] += torch.nn.functional.cross_entropy(frozen.float(), target).item()
                    sums["weight"] += losses.weight or 0.0
                opt.zero_grad(set_to_none=True)
                losses.total.backward()
                opt.step()
                for key, value in (("loss", losses.total), ("rec", losses.rec), ("format", losses.format)):
                    sums[key] += value.item()
                progress.update(task, advance=1, loss=sums["loss"] / (step + 1))
            progress.remove_task(task)
            record = {"epoch": epoch, **{k: v / n_steps for k, v in sums.items()},
                      "seconds": round(time.perf_counter() - epoch_start, 2), "examples": len(users)}
            history.append(record)
            versus = (f" vs the base model alone {record['base_rec']:.4f}, the LM's weight {record['weight']:.3f}"
                      if "base_rec" in record else "")
            console.print(f"finetune epoch {epoch}: loss {record['loss']:.4f} (rec {record['rec']:.4f}{versus}, "
                          f"format {record['format']:.4f}), {record['seconds']:.0f} s", highlight=False)
    scorer.save_adapter(out_dir)
    manifest = {"scorer": scorer.describe(), "schema_digest": schema.digest(), "config": dataclasses.asdict(config),
                "history": history, "seconds": round(time.perf_counter() - started, 2),
                "normalization": {k: {"mean": v[0].tolist(), "std": v[1].tolist()} for k, v in stats.items()},
                **(provenance or {})}
    write_json(out_dir / "finetune_manifest.json", manifest)
    return manifest
