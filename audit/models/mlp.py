"""Multi-layer perceptron over 1-D feature vectors."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """``Linear -> ReLU (-> Dropout)`` per hidden layer, then a linear head giving logits.

    Input (n, in_features) float; output (n, n_classes) logits. ``hidden=()`` gives a
    multinomial logistic regression. Build through :func:`mia_audit.models.build_model` for
    validated, seeded construction.
    """

    def __init__(self, in_features: int, n_classes: int, hidden: Sequence[int] = (256, 256), dropout: float = 0.0):
        super().__init__()
        self.n_classes = int(n_classes)
        layers: list[nn.Module] = []
        width = int(in_features)
        for size in hidden:
            layers.append(nn.Linear(width, int(size)))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
