"""LSTM and bidirectional-LSTM classifiers over sequences of feature vectors."""

from __future__ import annotations

import torch
from torch import nn


class LSTMClassifier(nn.Module):
    """Classify a sequence from the final hidden state of the top LSTM layer.

    Input (n, T, F) float (batch first); output (n, n_classes) logits. With
    ``bidirectional=True`` the last forward state (after step T) and the last backward
    state (after step 1) are concatenated. ``dropout`` applies between stacked layers
    and to the final state before the linear head.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.n_classes = int(n_classes)
        self.bidirectional = bool(bidirectional)
        self.lstm = nn.LSTM(
            input_size=int(n_features),
            hidden_size=int(hidden_size),
            num_layers=int(num_layers),
            batch_first=True,
            bidirectional=self.bidirectional,
            dropout=float(dropout) if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(int(hidden_size) * (2 if self.bidirectional else 1), self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda:
            # The recurrence runs in float32 even under bf16 autocast: cuDNN RNNs accept
            # bfloat16 only from cuDNN 9.13 on, and long recurrences lose accuracy in it.
            with torch.autocast(device_type="cuda", enabled=False):
                _, (h_n, _) = self.lstm(x.to(self.lstm.weight_ih_l0.dtype))
        else:
            _, (h_n, _) = self.lstm(x)  # h_n: (num_layers * directions, n, hidden)
        if self.bidirectional:
            last = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            last = h_n[-1]
        return self.head(self.dropout(last))
