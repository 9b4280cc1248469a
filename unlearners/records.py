"""Labelled records and their fingerprints.

An unlearner receives its data as :class:`Records` (``X`` of shape (n, ...) and integer
labels ``y`` of shape (n,), numpy arrays or torch tensors). A trained model remembers
the *fingerprints* of the records it was trained on (one 64-bit hash per record, over
the record's values and label), so that a forget set outside the training set is
refused clearly without the model having to keep its training data.

Fingerprints hash values, not dtypes: float records are hashed as float64 and integer
records as int64, so ``X.astype(np.float64)`` has the same fingerprints as ``X``.
Identical records have identical fingerprints; forgetting one of two identical records
forgets both (the conservative reading of a deletion request).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from mia_audit.errors import InputError

_CHUNK = 4096  # rows converted to float64 at a time (bounded memory for large images)


@dataclass(frozen=True, eq=False)
class Records:
    """``X`` (n, ...) and integer labels ``y`` (n,). Never modified by the toolkit."""

    X: Any
    y: Any

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def take(self, rows: np.ndarray) -> "Records":
        """The records at ``rows`` (a new object; the arrays are indexed copies)."""
        rows = np.asarray(rows, dtype=np.int64)
        if _is_tensor(self.X):
            import torch

            index = torch.as_tensor(rows, device=self.X.device)
            return Records(self.X[index], self.y[torch.as_tensor(rows, device=self.y.device)])
        return Records(np.asarray(self.X)[rows], np.asarray(self.y)[rows])

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        return _numpy(self.X), _numpy(self.y)


def as_records(value: Any, param: str, *, allow_empty: bool = False) -> Records:
    """``value`` (a :class:`Records` or an ``(X, y)`` pair) checked and returned as Records."""
    if isinstance(value, Records):
        X, y = value.X, value.y
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        X, y = value
    else:
        raise InputError(f"{param} must be an unlearners.Records or an (X, y) pair; got {type(value).__name__}")
    if not hasattr(X, "shape") or len(X.shape) < 2:
        X = np.asarray(X)
        if X.ndim < 2:
            raise InputError(f"{param}: X must have shape (n, ...) with one record per row; got shape {X.shape}")
    if not hasattr(y, "shape"):
        y = np.asarray(y)
    if len(y.shape) != 1 or int(y.shape[0]) != int(X.shape[0]):
        raise InputError(
            f"{param}: y must be 1-D with one label per row of X ({int(X.shape[0])} rows); got shape {tuple(y.shape)}"
        )
    y_np = _numpy(y)
    if y_np.size and (not np.issubdtype(y_np.dtype, np.number) or np.issubdtype(y_np.dtype, np.complexfloating)
                      or np.any(y_np != np.round(y_np)) or np.any(y_np < 0)):
        raise InputError(f"{param}: y must hold integer class labels >= 0")
    if not allow_empty and int(X.shape[0]) == 0:
        raise InputError(f"{param} must hold at least one record; got 0")
    return Records(X, y)


def fingerprints(records: Records) -> np.ndarray:
    """One uint64 hash per record, over its values and its label (shape (n,))."""
    X, y = records.numpy()
    n = X.shape[0]
    out = np.empty(n, dtype=np.uint64)
    labels = y.astype(np.int64)
    flat = X.reshape(n, -1)
    value_type = np.int64 if np.issubdtype(flat.dtype, np.integer) or flat.dtype == bool else np.float64
    for start in range(0, n, _CHUNK):
        block = np.ascontiguousarray(flat[start:start + _CHUNK], dtype=value_type)
        for i, row in enumerate(block):
            h = hashlib.blake2b(row.tobytes(), digest_size=8)
            h.update(labels[start + i].tobytes())
            out[start + i] = int.from_bytes(h.digest(), "little")
    return out


def check_subset(keys: np.ndarray, of: np.ndarray, *, param: str, what: str) -> None:
    """Raise unless every fingerprint in ``keys`` is in the sorted array ``of``."""
    inside = np.isin(keys, of)
    if not inside.all():
        first = int(np.flatnonzero(~inside)[0])
        raise InputError(
            f"{param}: {int((~inside).sum())} of {keys.size} records are not in {what} (first at row {first}); "
            "an unlearner can only forget records the model was trained on"
        )


def _is_tensor(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "torch"


def _numpy(a: Any) -> np.ndarray:
    if _is_tensor(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


__all__ = ["Records", "as_records", "fingerprints", "check_subset"]
