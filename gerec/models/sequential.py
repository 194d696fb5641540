"""What GRU4Rec, SASRec and BERT4Rec share: the item table, the loss, and scoring.

A model only defines ``encode(inputs) -> (B, L, d)`` hidden states and, for BERT4Rec, how
training inputs and inference inputs are built. Scores are inner products of a hidden
state with the item table; the loss is cross-entropy over the full catalogue at every
target position of a window (or sampled softmax with uniform negatives).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gerec.config import ConfigError, check, choice
from gerec.models.embedding import FusedItemTable, HistoryProfile, ItemTable, UserGuided
from gerec.models.losses import chunked_ce, full_ce, sampled_softmax
from gerec.names import MODELS


# loss=auto: larger catalogues train with sampled softmax. Measured on Amazon Beauty (12k items):
# the same test NDCG@10 as full CE (0.0438 vs 0.0439) in 10 s vs 20 s per epoch, 217 s vs 362 s to
# the best epoch, half the memory (benchmarks/README.md, time to quality).
SAMPLED_ABOVE = 5_000


@dataclass
class ModelConfig:
    """Architecture of a sequential recommender (defaults follow the published setups)."""

    model: str = "sasrec"  # gru4rec | sasrec | bert4rec
    dim: int = 64  # embedding width d, shared by the item table and hidden states
    max_len: int | None = None  # events a model sees; None: 200 for MovieLens-like data (median length >= 50), else 50
    layers: int = 2  # transformer blocks or GRU layers
    heads: int = 2  # attention heads (transformers)
    # SASRec, test NDCG@10, 3 seeds: 0.5 beats 0.2 on Beauty (0.0454 vs 0.0438, one seed at 0.2), Games
    # (0.0564 vs 0.0535, idem), ML-100K (0.0833 vs 0.0782) and the synthetic default (0.1332 vs 0.1280),
    # but fails on a sparse 610-user catalogue (0.0056 vs 0.0224, popularity 0.0059), so 0.2 stays
    dropout: float = 0.2
    mask_prob: float = 0.2  # BERT4Rec: share of positions hidden in cloze training
    loss: str = "auto"  # ce: softmax over all items; sampled: target vs n_negatives shared by the batch; auto: by catalogue size
    # loss=ce: items per chunk (0: all at once); same loss and gradients, memory O(T × chunk). On Games
    # chunks of 2,048 gave the same curve at 45% of the peak memory; the loss alone costs up to 1.3× on
    # small catalogues (logits recomputed in backward), so it is a memory option, off by default
    ce_chunk: int = 0
    # loss=sampled: negatives per step, shared by every target of the batch; on Beauty 1,024 beat 256
    # (test NDCG@10 0.0438 vs 0.0394) at about the same cost per epoch
    n_negatives: int = 1024
    # uniform | popularity (∝ train count + 1, with log-Q): popularity with 1,024 negatives is the measured
    # configuration above; uniform with 1,024 is not measured yet, so the sampler's own effect is open
    sampler: str = "popularity"
    logq: bool = True  # sampler=popularity: subtract log q(i) from each logit (unbiased; eSASRec/SASRec+)

    def __post_init__(self) -> None:
        choice("model", self.model, MODELS)
        check("dim", self.dim, 1, 8192)  # upper bounds: an absurd value is a typo, not a request for 1 TB
        if self.max_len is not None:
            check("max_len", self.max_len, 2, 100_000)
        check("layers", self.layers, 1, 64)
        check("heads", self.heads, 1, self.dim)
        if self.model != "gru4rec" and self.dim % self.heads:
            raise ConfigError(f"'heads' ({self.heads}) must divide 'dim' ({self.dim})")
        check("dropout", self.dropout, 0, 1, high_open=True)
        check("mask_prob", self.mask_prob, 0, 1, low_open=True, high_open=True)
        choice("loss", self.loss, ("auto", "ce", "sampled"))
        check("ce_chunk", self.ce_chunk, 0, 10_000_000)
        check("n_negatives", self.n_negatives, 1, 1_000_000)
        choice("sampler", self.sampler, ("uniform", "popularity"))


class SequentialModel(nn.Module):
    """Base class: subclasses implement :meth:`encode`."""

    causal: bool = True  # predicts the next item at every position (BERT4Rec: False)

    def __init__(self, config: ModelConfig, n_items: int) -> None:
        super().__init__()
        if config.loss == "auto":
            config = dataclasses.replace(config, loss="sampled" if n_items > SAMPLED_ABOVE else "ce")
        self.config = config
        self.n_items = n_items
        self.items: ItemTable | FusedItemTable = ItemTable(n_items + 1 + (0 if self.causal else 1), config.dim)
        self.user_guided: UserGuided | None = None  # refined models: β·g_u added to the query
        self.profile: HistoryProfile | None = None  # refined models: the history's attribute profile, per position
        self.refinement: dict[str, Any] | None = None  # how a refined table was made (None: a base model)
        self.head: nn.Linear | None = None  # widened refined models: hidden state → the query's lead columns
        self.sampling: torch.Tensor | None = None  # sampler=popularity: (n_items,) probabilities, on the CPU

    def set_item_counts(self, counts: torch.Tensor) -> None:
        """Train-split counts (n_items + 1,) for popularity-sampled negatives and their log-Q."""
        probs = counts[1:].double().cpu() + 1.0
        self.sampling = (probs / probs.sum()).float()  # on the CPU, like the generator that draws from it
        log_q = torch.cat([torch.zeros(1, device="cpu"), torch.log(self.sampling * self.config.n_negatives)])
        self.register_buffer("log_q", log_q.to(self.items.table().device), persistent=False)

    def refine(self, frozen: torch.Tensor, trainable: torch.Tensor, users: torch.Tensor | None, beta: float,
               info: dict[str, Any]) -> None:
        """Swap in a refined item table ``[frozen ; trainable]`` (rows as the current table) and,
        with ``users`` (n_users + 1, m), trainable user guided vectors; ``info`` says how they
        were made (parts, attributes, normalization) and is what :attr:`attributes` reads.
        With ``info["widened"]`` the table is wider than the model (the whole base table beside
        the scores) and a linear head, zero at the start, gives the query its extra columns."""
        dim, widened = self.config.dim, bool(info.get("widened"))
        lead = frozen.shape[1] + trainable.shape[1] - dim
        if lead < 0 or (lead and not widened):
            raise ValueError(f"refined width {frozen.shape[1]} + {trainable.shape[1]} != model dim {dim}")
        device = self.items.table().device
        learn = bool(info.get("learn_scales", False))
        self.items = FusedItemTable(frozen, trainable, learn, dim if widened else None).to(device)
        self.head = None
        if lead:
            self.head = nn.Linear(dim, lead, bias=False).to(device)
            nn.init.zeros_(self.head.weight)  # the widened model starts scoring as its base did
        self.user_guided = UserGuided(users, beta, learn).to(device) if users is not None else None
        decay = info.get("profile_decay")
        self.profile = HistoryProfile(float(decay), self.n_items).to(device) if decay and frozen.shape[1] else None
        self.refinement = info

    def freeze_base(self) -> None:
        """Train only what a widened refinement added (the adapter, the query head, the user
        vectors, learned scales, the profile weight and lead columns of a control's own): the
        base model's encoder and item rows stay exactly as trained, so whatever the model gains
        is what the added parts bring, not more training of a converged base."""
        if self.head is None:
            raise ValueError("only a widened refined model (reduction 'none') has a whole base model to freeze")
        items = self.items
        assert isinstance(items, FusedItemTable)
        added = {id(p) for part in (self.head, self.user_guided, self.profile) if part is not None
                 for p in part.parameters()}
        added |= {id(p) for p in (items.adapter, items.log_scales) if p is not None}
        for p in self.parameters():
            if id(p) not in added:
                p.requires_grad_(False)
        lead = items.trainable.shape[1] - self.config.dim  # trainable columns beside the base's own
        if lead:
            items.trainable.requires_grad_(True)  # the base's d columns get no gradient, so no update
            items.trainable.register_hook(lambda g: torch.cat([g[:, :lead], torch.zeros_like(g[:, lead:])], dim=1))

    @property
    def is_refined(self) -> bool:
        """True for a model trained on a refined item table (any ``parts``)."""
        return self.refinement is not None

    @property
    def attributes(self) -> list[str]:
        """Names of the frozen guided dimensions, in table order ([] when there are none):
        the one answer to "which dimensions of a score are attributes?"."""
        if not self.refinement or not self.refinement.get("frozen_dim"):
            return []
        return list(self.refinement["attributes"])[: self.refinement["frozen_dim"]]

    @property
    def device(self) -> torch.device:
        return self.items.table().device

    @property
    def width(self) -> int:
        """Width of item rows and queries: ``dim``, more for a widened refined table."""
        return self.items.dim

    def query(self, hidden: torch.Tensor, users: torch.Tensor | None,
              profile: torch.Tensor | None = None) -> torch.Tensor:
        """The vector scored against item rows: the hidden state, plus in a refined model ``β·g_u``
        and (with a history profile) the profile of the items so far, on the attribute dimensions.
        A widened model's query is ``[head(h) ; h]`` before those are added."""
        if self.head is not None:
            hidden = torch.cat([self.head(hidden), hidden], dim=-1)
        if profile is not None:
            m = profile.shape[-1]
            hidden = torch.cat([hidden[..., :m] + profile, hidden[..., m:]], dim=-1)
        if self.user_guided is None:
            return hidden
        if users is None:
            raise ValueError("a refined model with user vectors needs the user ids")
        return self.user_guided.query(hidden, users)

    def profiles(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """(B, L, m) history profiles at every position of ``inputs`` (None without the option)."""
        if self.profile is None:
            return None
        return self.profile(inputs, self.items.guided())

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, L) item ids, left-padded with 0 → (B, L, d) hidden states."""
        raise NotImplementedError

    def training_pair(self, window: torch.Tensor, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, max_len + 1) window → (inputs, targets), each (B, max_len); target 0 = no loss."""
        return window[:, :-1], window[:, 1:]

    def query_inputs(self, histories: torch.Tensor) -> torch.Tensor:
        """What the encoder reads at inference to predict the item after ``histories``."""
        return histories[:, -self.config.max_len:]

    def catalogue(self) -> torch.Tensor:
        """(n_items + 1, d): rows of real items and padding (never a mask token)."""
        return self.items.table()[: self.n_items + 1]

    def forward(self, window: torch.Tensor, generator: torch.Generator | None = None,
                users: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Training step over (B, max_len + 1) windows of users (B,): returns (logits at target
        positions — None for chunked cross-entropy, which never holds them all — and the loss)."""
        inputs, targets = self.training_pair(window, generator)
        hidden = self.encode(inputs)  # (B, L, d)
        keep = (targets > 0) & (inputs > 0)  # a target after padding has no history to predict from
        y = targets[keep]  # (T,)
        profile = self.profiles(inputs)
        h = self.query(hidden[keep], users[:, None].expand_as(keep)[keep] if users is not None else None,
                       profile[keep] if profile is not None else None)  # (T, d)
        table = self.catalogue()
        if self.config.loss == "sampled":
            popular = self.config.sampler == "popularity"
            return sampled_softmax(h, table, y, self.negatives(generator).to(h.device),
                                   self.log_q if popular and self.config.logq else None)
        if self.config.ce_chunk:
            return None, chunked_ce(h, table, y, self.config.ce_chunk)
        return full_ce(h, table, y)

    def negatives(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n_negatives,) item ids drawn on the CPU generator (the same draws on any device)."""
        n = self.config.n_negatives
        if self.config.sampler == "popularity":
            if self.sampling is None:
                raise ValueError("sampler=popularity needs the train counts: call set_item_counts first")
            return torch.multinomial(self.sampling, n, replacement=True, generator=generator) + 1
        return torch.randint(1, self.n_items + 1, (n,), generator=generator, device="cpu")

    def user_vectors(self, histories: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) histories (and (B,) user ids) → (B, d) query vectors: what predicts the next item."""
        inputs = self.query_inputs(histories)
        profile = self.profiles(inputs)
        return self.query(self.encode(inputs)[:, -1], users, profile[:, -1] if profile is not None else None)

    def score(self, histories: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """(B, n_items + 1) scores of every item as the next one (evaluation interface)."""
        return self.user_vectors(histories, users) @ self.catalogue().T
