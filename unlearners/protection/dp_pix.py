"""DP-Pix (Fan 2018, "Differential privacy for image publication"): epsilon-DP images.

Each image (C, H, W) is pixelised: every b x b block of a channel is replaced by its mean
(blocks at the right and bottom edges may be smaller when H or W is not a multiple of b).
Neighbouring images differ in at most ``m`` pixel values, each in [0, 255]; one changed
value moves its block's mean by at most 255 / (block size), so the L1 sensitivity of the
pixelised image is 255 m / b^2 (255 m / smallest block size with partial blocks), and
Laplace noise of scale ``sensitivity / epsilon`` is added to every block mean (OpenDP,
see :mod:`.dp_tabular`). The noisy means are clipped to [0, 255] and written back to all
pixels of their block.

Scale: the toolkit's images are floats in [0, 1] (mia_audit.data: pixel / 255 or count / 16);
they are mapped to [0, 255] by ``255 * (x - lo) / (hi - lo)`` with [lo, hi] = [0, 1] when
all values lie there, else the images' own min and max, protected on that scale and
mapped back the same way, so the output has the input's scale and dtype. Defaults m = 16,
b = 4 as in EUPG's experiments.
"""

from __future__ import annotations

import numpy as np

from mia_audit.checks import positive_int
from mia_audit.errors import InputError

from .dp_tabular import _check_epsilon, laplace_noise

PIXEL_MAX = 255.0


def pixelize(images: np.ndarray, b: int) -> tuple[np.ndarray, int]:
    """Block means of ``images`` (n, C, H, W) over b x b blocks: (n, C, ceil(H/b), ceil(W/b))
    and the smallest block's number of pixels."""
    n, C, H, W = images.shape
    Hb, Wb = -(-H // b), -(-W // b)
    pad = np.zeros((n, C, Hb * b, Wb * b), dtype=np.float64)
    pad[:, :, :H, :W] = images
    sums = pad.reshape(n, C, Hb, b, Wb, b).sum(axis=(3, 5))
    rows = np.minimum(b, H - b * np.arange(Hb))
    cols = np.minimum(b, W - b * np.arange(Wb))
    sizes = rows[:, None] * cols[None, :]
    return sums / sizes, int(sizes.min())


def unpixelize(cells: np.ndarray, b: int, H: int, W: int) -> np.ndarray:
    """Each block value written to all pixels of its block: (n, C, H, W)."""
    return np.repeat(np.repeat(cells, b, axis=2), b, axis=3)[:, :, :H, :W]


def dp_pix(images: np.ndarray, epsilon: float, *, b: int = 4, m: int = 16) -> tuple[np.ndarray, dict]:
    """An epsilon-DP copy of ``images`` (n, C, H, W) by DP-Pix, and a summary. Not in place."""
    X = np.asarray(images)
    if X.ndim != 4:
        raise InputError(f"DP-Pix needs images of shape (n, C, H, W); got shape {X.shape}")
    _check_epsilon(epsilon)
    positive_int("pixel_block", b)
    positive_int("pixel_m", m)
    if not np.all(np.isfinite(X)):
        raise InputError("DP-Pix needs finite pixel values; the images contain NaN or inf")
    lo, hi = (0.0, 1.0) if X.size and X.min() >= 0 and X.max() <= 1 else (float(X.min()), float(X.max()))
    span = hi - lo if hi > lo else 1.0
    scaled = (X.astype(np.float64) - lo) * (PIXEL_MAX / span)
    cells, smallest = pixelize(scaled, int(b))
    sensitivity = PIXEL_MAX * int(m) / smallest
    noisy = np.clip(laplace_noise(cells, sensitivity / float(epsilon)), 0.0, PIXEL_MAX)
    out = unpixelize(noisy, int(b), X.shape[2], X.shape[3]) * (span / PIXEL_MAX) + lo
    summary = {"epsilon": float(epsilon), "pixel_block": int(b), "pixel_m": int(m), "sensitivity_0_255": sensitivity,
               "scale": [lo, hi], "noise": "opendp"}
    return out.astype(X.dtype, copy=False), summary


__all__ = ["dp_pix", "pixelize", "unpixelize"]
