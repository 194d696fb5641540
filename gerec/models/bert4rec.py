"""BERT4Rec (Sun et al., 2019): bidirectional attention trained by cloze (masked items).

The mask token is the item table's last row. Training hides a share of positions and
predicts them; at inference a mask is appended after the history and predicted.
"""

from __future__ import annotations

import torch
from torch import nn

from gerec.models.sequential import ModelConfig, SequentialModel
from gerec.models.transformer import Block, attention_mask


class BERT4Rec(SequentialModel):
    causal = False

    def __init__(self, config: ModelConfig, n_items: int) -> None:
        super().__init__(config, n_items)
        self.mask_token = n_items + 1
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.norm_in = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config.dim, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)

    def training_pair(self, window: torch.Tensor, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        seq = window[:, 1:]  # (B, max_len): a bidirectional model needs no shift
        real = seq > 0
        # drawn on the CPU generator (reproducible on any device), then moved to the data
        draws = torch.rand(seq.shape, generator=generator, device="cpu").to(seq.device)
        hide = (draws < self.config.mask_prob) & real
        # every sequence trains on at least its last item (the inference task)
        hide[:, -1] |= ~hide.any(dim=1) & real[:, -1]
        inputs = torch.where(hide, torch.full_like(seq, self.mask_token), seq)
        targets = torch.where(hide, seq, torch.zeros_like(seq))
        return inputs, targets

    def query_inputs(self, histories: torch.Tensor) -> torch.Tensor:
        history = histories[:, -(self.config.max_len - 1):]
        mask = torch.full((histories.shape[0], 1), self.mask_token, dtype=histories.dtype, device=histories.device)
        return torch.cat([history, mask], dim=1)  # (B, <= max_len)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        length = inputs.shape[1]
        real = (inputs > 0).unsqueeze(-1)
        x = self.dropout(self.norm_in(self.items(inputs) + self.positions.weight[-length:])) * real
        mask = attention_mask(inputs, causal=False)
        for block in self.blocks:
            x = block(x, mask) * real
        return self.norm(x)
