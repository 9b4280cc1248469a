"""k-anonymity by MDAV microaggregation (Domingo-Ferrer and Torra 2005).

MDAV ("maximum distance to average vector") partitions the records into groups of
between k and 2k - 1 records that are close in the quasi-identifiers, then replaces each
record's quasi-identifiers by its group's centroid, so that every combination of
quasi-identifier values is shared by at least k records (k-anonymity)::

    while >= 3k records remain:
        c  = centroid of the remaining records
        r  = the remaining record farthest from c
        s  = the remaining record farthest from r
        group r with its k - 1 nearest remaining records; remove them
        group s with its k - 1 nearest remaining records; remove them
    if >= 2k records remain:
        r = the record farthest from their centroid; group it with its k - 1 nearest;
        the rest form the last group
    else: the remaining records form the last group

Distances are Euclidean over the quasi-identifier columns as given (the toolkit's tabular
data are standardised, with one-hot categoricals in 0/1), computed for all remaining
records at once with numpy matrix-vector products (O(n^2 d / k) in all). A one-hot categorical group is
aggregated to its mode (the most frequent category in the group, the lowest index on a
tie) so that the output stays one-hot; numeric columns to their mean. Ties in "farthest"
and "nearest" go to the lowest row index among the remaining records, so the partition
is deterministic. (If the two seeds of a round fall in one group, which needs exact
distance ties, the round forms one group.)
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from mia_audit.checks import positive_int
from mia_audit.errors import InputError

from .columns import check_columns


def mdav_groups(Z: np.ndarray, k: int) -> np.ndarray:
    """The MDAV partition of the rows of ``Z`` (n, d): a group label per row (n,), groups
    numbered in the order they are formed, each of k..2k-1 rows (all n rows when n < 2k)."""
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0]
    k = positive_int("k", k)
    if n < k:
        raise InputError(f"k-anonymity with k={k} needs at least k records; got {n}")
    labels = np.full(n, -1, dtype=np.int64)
    # the remaining records: a block of rows of Z (compacted when half of it is used up),
    # their squared norms, their row numbers, which of them are still free, and their sum
    block, block_sq, block_rows = Z, np.einsum("ij,ij->i", Z, Z), np.arange(n)
    free = np.ones(n, dtype=bool)
    total = Z.sum(axis=0)
    left = n
    group = 0

    def sq_dist(point: np.ndarray) -> np.ndarray:
        # |x - p|^2 = |x|^2 - 2 x.p + |p|^2 for the whole block at once (clipped at 0 for rounding)
        return np.maximum(block_sq - 2.0 * (block @ point) + point @ point, 0.0)

    def farthest(point: np.ndarray) -> int:
        d2 = sq_dist(point)
        d2[~free] = -1.0
        return int(np.argmax(d2))  # first (lowest row) on ties; a position in the block

    def take_group(seed_at: int, count: int) -> None:
        nonlocal block, block_sq, block_rows, free, total, left, group
        d2 = sq_dist(block[seed_at])
        d2[~free] = np.inf
        d2[seed_at] = -1.0  # the seed itself first
        candidates = np.argpartition(d2, count - 1)[:count]
        cut = d2[candidates].max()
        # ties at the cut: the lowest rows among them, so the partition is deterministic
        inside = np.flatnonzero(d2 < cut)
        chosen = np.concatenate([inside, np.flatnonzero(d2 == cut)[: count - inside.size]])
        labels[block_rows[chosen]] = group
        group += 1
        free[chosen] = False
        total = total - block[chosen].sum(axis=0)
        left -= chosen.size
        if left * 2 < block_rows.size:  # compact the block
            block, block_sq, block_rows = block[free], block_sq[free], block_rows[free]
            free = np.ones(block_rows.size, dtype=bool)

    while left >= 3 * k:
        r = farthest(total / left)
        s_row = block_rows[farthest(block[r])]
        take_group(r, k)
        if labels[s_row] >= 0:  # s fell into r's group (only on exact ties)
            continue
        take_group(int(np.flatnonzero(block_rows == s_row)[0]), k)
    if left >= 2 * k:
        take_group(farthest(total / left), k)
    if left:
        labels[labels < 0] = group
    return labels


def aggregate(X: np.ndarray, labels: np.ndarray, numeric: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """A copy of ``X`` (n, d) with, inside each group of rows, the ``numeric`` columns
    replaced by their mean and each one-hot column group by its mode (one-hot)."""
    out = np.array(X, dtype=np.float64, copy=True)
    n_groups = int(labels.max()) + 1 if labels.size else 0
    counts = np.bincount(labels, minlength=n_groups).astype(np.float64)
    if numeric.size:
        sums = np.zeros((n_groups, numeric.size))
        np.add.at(sums, labels, out[:, numeric])
        out[:, numeric] = (sums / counts[:, None])[labels]
    for cols in groups:
        tallies = np.zeros((n_groups, cols.size))
        np.add.at(tallies, labels, out[:, cols])
        mode = np.argmax(tallies, axis=1)  # first (lowest column) on ties
        out[:, cols] = np.eye(cols.size)[mode[labels]]
    return out


def mdav_anonymize(X: np.ndarray, k: int, *, quasi_identifiers: Optional[Sequence[int]] = None,
                   categorical_groups: Optional[Sequence[Sequence[int]]] = None) -> tuple[np.ndarray, np.ndarray]:
    """k-anonymise the table ``X`` (n, d) by MDAV over its quasi-identifier columns.

    ``quasi_identifiers``: column indices (default: every column); ``categorical_groups``:
    lists of one-hot column indices (default: inferred, see
    :func:`mia_audit.unlearners.protection.columns.infer_one_hot_groups`). Columns outside the
    quasi-identifiers are copied unchanged. Returns ``(X_k, labels)``: the anonymised copy
    in ``X``'s dtype and each record's group. ``X`` is not modified.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"MDAV needs a table X of shape (n, d); got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError("MDAV needs finite values; X contains NaN or inf")
    qi, groups, numeric = check_columns(X.shape[1], quasi_identifiers, categorical_groups, X)
    labels = mdav_groups(X[:, qi], k)
    out = aggregate(X, labels, numeric, groups)
    return out.astype(X.dtype, copy=False), labels


__all__ = ["mdav_groups", "aggregate", "mdav_anonymize"]
