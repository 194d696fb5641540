"""A pre-LayerNorm transformer block with an explicit attention mask (SASRec, BERT4Rec)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, L, d); mask: (B, 1, L, L) bool, True where a query may attend to a key."""
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                              dropout_p=self.attn_dropout if self.training else 0.0)  # (B, H, L, d/H)
        x = x + self.dropout(self.proj(attn.transpose(1, 2).reshape(b, length, d)))
        return x + self.dropout(self.ffn(self.norm2(x)))


def attention_mask(inputs: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, L) ids → (B, 1, L, L): attend to real (non-padding) keys, only earlier ones if
    ``causal``; a position always sees itself, so no row is fully masked (no NaN)."""
    length = inputs.shape[1]
    keys = (inputs > 0)[:, None, None, :]  # (B, 1, 1, L)
    mask = keys | torch.eye(length, dtype=torch.bool, device=inputs.device)
    if causal:
        mask = mask & torch.ones(length, length, dtype=torch.bool, device=inputs.device).tril()
    return mask
