"""SASRec (Kang & McAuley, 2018): causal self-attention over the item sequence."""

from __future__ import annotations

import torch
from torch import nn

from gerec.models.sequential import ModelConfig, SequentialModel
from gerec.models.transformer import Block, attention_mask


class SASRec(SequentialModel):
    causal = True

    def __init__(self, config: ModelConfig, n_items: int) -> None:
        super().__init__(config, n_items)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config.dim, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        length = inputs.shape[1]
        real = (inputs > 0).unsqueeze(-1)  # (B, L, 1)
        x = self.items(inputs) * self.config.dim ** 0.5 + self.positions.weight[-length:]  # (B, L, d), right-aligned
        x = self.dropout(x) * real
        mask = attention_mask(inputs, causal=True)
        for block in self.blocks:
            x = block(x, mask) * real
        return self.norm(x)  # (B, L, d)
