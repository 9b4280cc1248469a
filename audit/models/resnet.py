"""CIFAR-style ResNet-18 (He et al. 2016, as commonly adapted to 32x32 images).

Differences from the ImageNet model: a 3x3 stride-1 stem convolution and no max-pool,
so a 32x32 input reaches the last stage at 4x4. Four stages of two BasicBlocks each,
widths ``width * (1, 2, 4, 8)`` (64-128-256-512 by default), BatchNorm after every
convolution, global average pooling and one linear layer giving logits.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """Input (n, C, H, W) float; output (n, n_classes) logits."""

    def __init__(self, input_shape: Sequence[int], n_classes: int, width: int = 64):
        super().__init__()
        in_channels = int(input_shape[0])
        self.n_classes = int(n_classes)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        stages: list[nn.Module] = []
        in_planes = width
        for index, multiple in enumerate((1, 2, 4, 8)):
            planes = width * multiple
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)))
            in_planes = planes
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_planes, self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        return self.head(torch.flatten(self.pool(out), 1))
