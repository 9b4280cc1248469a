"""A small convolutional network for small images (digits, MNIST-like, CIFAR-like)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class SmallCNN(nn.Module):
    """``[Conv3x3 -> ReLU -> MaxPool2] x len(channels)``, then ``Linear(hidden) -> ReLU
    (-> Dropout) -> Linear(n_classes)``.

    Input (n, C, H, W) float with H and W at least ``2 ** len(channels)``; output
    (n, n_classes) logits. Default ``channels=(32, 64)``, ``hidden=128``.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()
        in_channels, height, width = (int(v) for v in input_shape)
        self.n_classes = int(n_classes)
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, int(out_channels), kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_channels = int(out_channels)
            height //= 2
            width //= 2
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(in_channels * height * width, int(hidden)), nn.ReLU()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(int(hidden), self.n_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
