"""Pseudo-random draws that are a function of (seed, a record's content) only: the noise of
:class:`~mia_audit.adapters.wrappers.OutputNoise`."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..frameworks import to_numpy
from .base import _n_rows


def _row_digests(X: Any, n_bytes: int, seed: int) -> np.ndarray:
    """``n_bytes`` pseudo-random bytes per row of X, a function of (seed, the row's content) only.

    Each row is canonicalised (numeric values as little-endian float64 with -0.0 made 0.0,
    anything else as the repr of its values) and fed with the seed and the row's shape to
    SHAKE-256, an extendable-output hash. Returns a uint8 array (n, n_bytes).
    """
    arr = to_numpy(X)  # without loss of precision (bfloat16 becomes float32)
    n = _n_rows(arr)
    out = np.empty((n, n_bytes), dtype=np.uint8)
    prefix = b"mia-audit output-noise\0" + seed.to_bytes(8, "little") + repr(tuple(arr.shape[1:])).encode() + b"\0"
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.bool_
    if numeric:
        canon = np.ascontiguousarray(arr.astype("<f8") + 0.0).reshape(n, -1)
        for i in range(n):
            out[i] = np.frombuffer(hashlib.shake_256(prefix + canon[i].tobytes()).digest(n_bytes), np.uint8)
    else:
        for i in range(n):
            row = repr(np.asarray(arr[i]).tolist()).encode()
            out[i] = np.frombuffer(hashlib.shake_256(prefix + row).digest(n_bytes), np.uint8)
    return out


def record_normals(X: Any, n_classes: int, seed: int) -> np.ndarray:
    """Standard normal draws (n, n_classes), a function of (seed, each row's content) only.

    16 hash bytes per class give two 53-bit uniforms u1 in (0, 1] and u2 in [0, 1);
    the Box-Muller transform sqrt(-2 ln u1) cos(2 pi u2) makes them one standard normal.
    """
    raw = _row_digests(X, 16 * n_classes, seed)
    words = raw.view("<u8").reshape(raw.shape[0], n_classes, 2)
    u1 = ((words[..., 0] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
    u2 = (words[..., 1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


__all__ = ["record_normals"]
