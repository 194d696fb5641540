"""Next-item losses that scale with the catalogue.

- :func:`full_ce`: softmax over every item at every target position — the reference.
- :func:`chunked_ce`: the same loss and gradients, with the catalogue in chunks whose logits
  are recomputed in the backward pass instead of stored: memory O(T × chunk), not O(T × C).
- :func:`sampled_softmax`: the target against ``N`` negatives shared by the whole batch
  (one (T, N) product instead of (T, C)); with negatives drawn by popularity, the log-Q
  correction (subtract ``log q(i)`` from every candidate's logit) keeps the estimate
  unbiased, as in published SASRec+/eSASRec training.
Row 0 of ``table`` is padding and is never a candidate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def full_ce(h: torch.Tensor, table: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (T, C), mean cross-entropy) of queries ``h`` (T, d) against ``table`` (C, d), targets ``y`` (T,)."""
    logits = h @ table.T  # (T, C)
    logits[:, 0] = float("-inf")  # padding is never a target
    return logits, F.cross_entropy(logits, y)


def _chunk_lse(h: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(h @ rows.T, dim=1)  # (T,)


def chunked_ce(h: torch.Tensor, table: torch.Tensor, y: torch.Tensor, chunk: int) -> torch.Tensor:
    """Mean full cross-entropy, equal to :func:`full_ce`'s, holding at most (T, chunk) logits."""
    real = table[1:]  # padding is never a candidate
    parts = [checkpoint(_chunk_lse, h, real[start:start + chunk], use_reentrant=False)
             for start in range(0, len(real), chunk)]
    lse = torch.logsumexp(torch.stack(parts, dim=1), dim=1)  # (T,)
    positive = (h * table[y]).sum(-1)
    return (lse - positive).mean()


def sampled_softmax(h: torch.Tensor, table: torch.Tensor, y: torch.Tensor, negatives: torch.Tensor,
                    log_q: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (T, 1 + N), loss): each target against the shared ``negatives`` (N,).

    A negative equal to the target is masked (an accidental hit). ``log_q`` (C,): log of each
    item's sampling probability; subtracted from every logit when negatives were drawn by it.
    """
    pos = (h * table[y]).sum(-1, keepdim=True)  # (T, 1)
    neg = h @ table[negatives].T  # (T, N)
    if log_q is not None:
        pos = pos - log_q[y][:, None]
        neg = neg - log_q[negatives][None, :]
    neg = neg.masked_fill(negatives[None, :] == y[:, None], float("-inf"))
    logits = torch.cat([pos, neg], dim=1)
    return logits, F.cross_entropy(logits, torch.zeros_like(y))
