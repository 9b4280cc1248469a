"""An independent k-anonymity check: every combination of quasi-identifier values that
occurs in a table occurs at least k times (a group-by over the exact values)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def class_sizes(X: np.ndarray, quasi_identifiers: Optional[Sequence[int]] = None) -> np.ndarray:
    """How many records share each distinct combination of quasi-identifier values."""
    X = np.asarray(X)
    table = X.reshape(X.shape[0], -1)
    if quasi_identifiers is not None:
        table = table[:, list(quasi_identifiers)]
    _, counts = np.unique(np.ascontiguousarray(table), axis=0, return_counts=True)
    return counts


def is_k_anonymous(X: np.ndarray, k: int, quasi_identifiers: Optional[Sequence[int]] = None) -> bool:
    """True when every quasi-identifier combination of ``X`` occurs at least ``k`` times."""
    sizes = class_sizes(X, quasi_identifiers)
    return bool(sizes.size == 0 or sizes.min() >= k)


__all__ = ["class_sizes", "is_k_anonymous"]
