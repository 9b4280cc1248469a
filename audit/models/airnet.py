"""AirNet: a small VGG-like network that trains fast on CIFAR-10, after the ideas of airbench94
(K. Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU", github.com/KellerJordan/cifar10-airbench).
Our own implementation of the ideas, not a copy of that code.

Layers, for an input (n, C, H, W) (C = 3 for CIFAR):

1. **whitening**: a fixed 2x2 convolution without padding (output H-1, W-1) whose filters are the
   eigenvectors ``v`` of the covariance of the 2x2 patches of the training images, scaled by
   ``1 / sqrt(lambda + eps)``, each both as ``+v`` and ``-v`` (2 * C * 4 = 24 channels for RGB).
   :meth:`AirNet.init_from_data` sets them (and the bias, to centre the patches) from at most the first
   5,000 training images; the filter weights are a buffer (never trained), the bias is trained (airnet's
   recipe: for the first 3 epochs, ``freeze_after``). Before
   that call the filters are the pixel basis (``+e_i``, ``-e_i``) with zero bias. Then GELU;
2. one block per entry of ``widths`` (default 64, 256, 256): conv 3x3 (padding 1, no bias), max-pool 2,
   BatchNorm, GELU, conv 3x3, BatchNorm, GELU. Each convolution starts as kaiming-uniform weights with
   the first ``min(in, out)`` filters set to the identity (a "partial Dirac" start);
3. global max pool, a linear layer without bias, and a fixed output scale 1/9 (:data:`LOGIT_SCALE`).

BatchNorm as in airbench: running-statistics momentum 0.4 in torch's convention (airbench's "0.6"),
eps 1e-12, **no trained scale** (fixed at 1) and a trained shift. airbench trains the shifts with a 64x
larger learning rate; here the shift is stored as ``shift`` and used as ``SHIFT_SCALE * shift`` with
SHIFT_SCALE = 8: under SGD (with or without momentum, with torch's coupled weight decay) that is exactly
a 64x = 8**2 learning rate for the effective shift and the same per-step weight decay, without a second
parameter group (so any trainer that builds one optimiser over ``parameters()`` gets it).

Test-time augmentation, in eval mode only (train mode: the plain forward), as airbench's ``tta_level``:
``tta=True`` (or 1, the default) averages the logits of ``x`` and of ``x`` flipped left-right; ``tta=2``
gives that pair half the weight and the same pair for ``x`` shifted one pixel up-left and one pixel
down-right (reflect padding) a quarter each (6 views, one forward pass); ``tta=False`` (or 0): none.

Measured with ``recipe_for("airnet", "image")`` (10 epochs; since 2026-12-02 with airbench94's
alternating flips, Lookahead and the whitening bias trained for 3 epochs) on the CPU in float32, seed 0,
on the JPEG (quality 75, 4:2:0) copy of CIFAR-10 in ``../shared/data``, not the original pixels
(``benchmarks/airnet_accuracy.py``): on a random half (25,000 images), 87.54 % test accuracy with the
flip (86.54 % without, 87.87 % with the flip and shifts), 1,558 s on 2 cores of an AMD EPYC; with 20
epochs (the steps of 10 epochs on all 50,000), 88.76 % (87.74 %, 88.84 %), 2,580 s (beside other jobs). The recipe
without those three pieces, same machine, rows and seed: 87.17 % (86.07 %, 87.34 %), 1,459 s, so they add
0.4-0.5 points here (one run each; the binomial SE of one accuracy is 0.33 points). On an Intel Xeon that
recipe gave 86.75 % on the half (86.08 % without the flip), 2,202 s, and 90.06 % on all 50,000 (89.30 %), 3,794 s. airbench94 reports 94.01 % on all 50,000 original images.

What the JPEG copy costs (``benchmarks/jpeg_effect.py``): the exact pixels of 5,085 train and 1,017
test images survive in truncated copies of the original batches. Trained (20 epochs) and tested on those
exact images airnet reaches 79.50 %, on their JPEG versions 75.66 % (mean of seeds 0 and 1): 3.8 points
lost to the compression at that size, about the gap between the figures above and airbench94's.
With this recipe on all 50,000 JPEG images: 90.24 % (89.53 % without the flip, 90.40 % with the flip and shifts).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError

#: the fixed factor on the logits
LOGIT_SCALE = 1.0 / 9.0
#: the effective BatchNorm shift is SHIFT_SCALE * the stored parameter (SGD: SHIFT_SCALE**2 = 64x lr)
SHIFT_SCALE = 8.0
#: torch-convention momentum of the BatchNorm running statistics, and its eps
BN_MOMENTUM = 0.4
BN_EPS = 1e-12
#: side of the square patches the whitening layer sees
WHITEN_KERNEL = 2
#: the whitening statistics use at most this many (the first) training images
WHITEN_IMAGES = 5000
#: eigenvalue regulariser of the whitening, relative to the mean patch variance (trace / dim)
WHITEN_EPS = 5e-4
DEFAULT_WIDTHS = (64, 256, 256)
#: test-time augmentation levels: 0 none, 1 the left-right flip, 2 the flip and two one-pixel shifts
TTA_LEVELS = (0, 1, 2)


class ShiftBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d with a fixed unit scale and a trained shift used as ``SHIFT_SCALE * shift``."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=BN_EPS, momentum=BN_MOMENTUM, affine=False, track_running_stats=True)
        self.shift = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.shift * SHIFT_SCALE,
                            self.training, self.momentum, self.eps)


class PatchWhitening(nn.Module):
    """A fixed 2x2 convolution that whitens image patches (``+v`` and ``-v`` filters); trained bias.

    ``weight`` is a buffer that ``forward`` only reads (:attr:`constant_buffers`), so the batched
    reference trainer stacks each model's own filters and trains the models together."""

    constant_buffers = ("weight",)

    def __init__(self, in_channels: int, eps: float = WHITEN_EPS):
        super().__init__()
        k = WHITEN_KERNEL
        dim = in_channels * k * k
        self.in_channels = int(in_channels)
        self.eps = float(eps)
        basis = torch.eye(dim).reshape(dim, in_channels, k, k)
        self.register_buffer("weight", torch.cat([basis, -basis]))
        self.bias = nn.Parameter(torch.zeros(2 * dim))

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> None:
        """Set filters and bias from ``images`` (m, C, H, W): the ``+v`` half maps the patches to
        zero mean and covariance ``diag(lambda / (lambda + eps'))`` (about the identity)."""
        k = WHITEN_KERNEL
        dim = self.in_channels * k * k
        work = images.device if images.device.type in ("cpu", "cuda") else torch.device("cpu")  # float64
        total = torch.zeros(dim, dtype=torch.float64, device=work)
        outer = torch.zeros(dim, dim, dtype=torch.float64, device=work)
        count = 0
        for chunk in images.split(500):
            patches = image_patches(chunk.to(device=work, dtype=torch.float64), k)
            total += patches.sum(0)
            outer += patches.T @ patches
            count += patches.shape[0]
        mean = total / count
        cov = outer / count - torch.outer(mean, mean)
        cov = 0.5 * (cov + cov.T)
        values, vectors = torch.linalg.eigh(cov)  # ascending
        values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1)  # largest first, as airbench
        eps = self.eps * max(float(torch.trace(cov)) / dim, 1e-12)
        filters = vectors.T / torch.sqrt(values + eps)[:, None]  # (dim, dim), one filter per row
        bias = -(filters @ mean)
        weight = torch.cat([filters, -filters]).reshape(2 * dim, self.in_channels, k, k)
        self.weight.copy_(weight.to(self.weight))
        self.bias.copy_(torch.cat([bias, -bias]).to(self.bias))


def image_patches(images: torch.Tensor, k: int) -> torch.Tensor:
    """All k x k patches (stride 1, no padding) of ``images`` (n, C, H, W) as rows (n*(H-k+1)*(W-k+1), C*k*k),
    each flattened in the (C, k, k) order of a convolution's weight."""
    n, c = images.shape[:2]
    p = images.unfold(2, k, 1).unfold(3, k, 1)  # (n, C, H', W', k, k)
    return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)


def _identity_start(conv: nn.Conv2d) -> nn.Conv2d:
    """Set the first min(in, out) filters of a 3x3 convolution to pass their own input channel through."""
    with torch.no_grad():
        w = conv.weight
        m = min(w.shape[0], w.shape[1])
        w[:m] = 0.0
        idx = torch.arange(m)
        w[idx, idx, w.shape[2] // 2, w.shape[3] // 2] = 1.0
    return conv


class AirBlock(nn.Module):
    """conv 3x3, max-pool 2, BatchNorm, GELU, conv 3x3, BatchNorm, GELU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = _identity_start(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))
        self.norm1 = ShiftBatchNorm(out_channels)
        self.conv2 = _identity_start(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False))
        self.norm2 = ShiftBatchNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


def smallest_side(n_blocks: int) -> int:
    """The smallest H and W an AirNet with ``n_blocks`` blocks takes (whitening -1, then halvings)."""
    return 2 ** int(n_blocks) + WHITEN_KERNEL - 1


class AirNet(nn.Module):
    """Input (n, C, H, W) float, H and W >= :func:`smallest_side`; output (n, n_classes) logits.

    ``widths``: output channels of each block (default 64, 256, 256); ``tta``: the test-time
    augmentation in eval mode (True or 1: the left-right flip; 2: the flip and two one-pixel
    shifts; False or 0: none); ``whiten_eps``: the whitening regulariser relative to the mean
    patch variance.
    """

    def __init__(self, input_shape: Sequence[int], n_classes: int, widths: Sequence[int] = DEFAULT_WIDTHS,
                 tta: bool | int = True, whiten_eps: float = WHITEN_EPS):
        super().__init__()
        in_channels = int(input_shape[0])
        self.n_classes = int(n_classes)
        if int(tta) not in TTA_LEVELS:
            raise InputError(f"tta must be True, False or a level 0, 1 or 2; got {tta!r}")
        self.tta = tta
        self.whiten = PatchWhitening(in_channels, whiten_eps)
        blocks, width = [], self.whiten.out_channels
        for out in widths:
            blocks.append(AirBlock(width, int(out)))
            width = int(out)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, self.n_classes, bias=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The plain forward pass (no test-time flip)."""
        out = self.blocks(F.gelu(self.whiten(x)))
        return self.head(out.amax(dim=(2, 3))) * LOGIT_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = int(self.tta)
        if level == 0 or self.training:
            return self.logits(x)
        n = x.shape[0]
        if level == 1:
            both = self.logits(torch.cat([x, x.flip(-1)]))
            return 0.5 * (both[:n] + both[n:])
        H, W = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        up_left, down_right = padded[..., :H, :W], padded[..., 2:, 2:]
        out = self.logits(torch.cat([x, x.flip(-1), up_left, up_left.flip(-1), down_right, down_right.flip(-1)]))
        views = out.view(6, n, *out.shape[1:])
        return 0.25 * (views[0] + views[1]) + 0.125 * (views[2] + views[3] + views[4] + views[5])

    def init_from_data(self, X: torch.Tensor) -> None:
        """Set the whitening layer from the patch statistics of the model's own training inputs ``X``
        (n, C, H, W) on the model's device (only the first :data:`WHITEN_IMAGES` are used; no grad).
        Trainers call it on their copy of the model before building the optimiser."""
        if not isinstance(X, torch.Tensor) or X.dim() != 4 or X.shape[1] != self.whiten.in_channels:
            shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
            raise InputError(
                f"init_from_data needs images X of shape (n, {self.whiten.in_channels}, H, W) as a tensor; got {shape}"
            )
        if X.shape[0] < 1 or min(X.shape[2:]) < WHITEN_KERNEL:
            raise InputError(f"init_from_data needs at least one image of side >= {WHITEN_KERNEL}; got {tuple(X.shape)}")
        with torch.no_grad():
            self.whiten.fit(X[:WHITEN_IMAGES].detach())


__all__ = ["AirNet", "PatchWhitening", "ShiftBatchNorm", "image_patches", "smallest_side", "LOGIT_SCALE", "TTA_LEVELS"]
