"""GRU4Rec (Hidasi et al., 2016; with full cross-entropy as in Hidasi & Czapp, 2023)."""

from __future__ import annotations

import torch
from torch import nn

from gerec.models.sequential import ModelConfig, SequentialModel


class GRU4Rec(SequentialModel):
    causal = True

    def __init__(self, config: ModelConfig, n_items: int) -> None:
        super().__init__(config, n_items)
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.dim, num_layers=config.layers, batch_first=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.out = nn.Linear(config.dim, config.dim)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        # Left-padded rows are rolled to the right of the padding, so the GRU starts each
        # sequence from a zero state at its first real item, then rolled back.
        b, length = inputs.shape
        lengths = (inputs > 0).sum(dim=1)  # (B,)
        shift = (length - lengths)[:, None]
        index = (torch.arange(length, device=inputs.device)[None, :] + shift) % length  # right-padded view
        x = self.dropout(self.items(torch.gather(inputs, 1, index)))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)  # (B, L, d)
        back = (torch.arange(length, device=inputs.device)[None, :] - shift) % length
        out = torch.gather(out, 1, back[:, :, None].expand(-1, -1, out.shape[-1]))
        return self.out(out) * (inputs > 0).unsqueeze(-1)
