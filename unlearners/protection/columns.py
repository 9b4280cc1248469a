"""Column roles of a tabular array: numeric columns and one-hot categorical groups.

A categorical attribute coded one-hot occupies a group of 0/1 columns with exactly one 1
per record. Protection mechanisms treat such a group as one attribute (MDAV: the group's
mode; DP: one selection among the categories), so that their output stays one-hot.

:func:`groups_from_feature_names` reads the groups from the toolkit's feature names
(``"column=category"``, as :mod:`mia_audit.data.adult` and :mod:`mia_audit.data.tabular` name
their one-hot columns); :func:`infer_one_hot_groups` finds them in the data when no names
are given (contiguous blocks of 0/1 columns whose values sum to 1 in every record).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from mia_audit.errors import InputError


def groups_from_feature_names(feature_names: Sequence[str]) -> list[list[int]]:
    """The one-hot groups of ``feature_names`` (names ``"attribute=category"`` sharing an
    attribute form a group of >= 2 columns), as lists of column indices in order."""
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(feature_names):
        if not isinstance(name, str):
            raise InputError(f"feature_names must be strings; got {type(name).__name__} at column {j}")
        if "=" in name:
            groups.setdefault(name.split("=", 1)[0], []).append(j)
    return [cols for cols in groups.values() if len(cols) >= 2]


def infer_one_hot_groups(X: np.ndarray) -> list[list[int]]:
    """Blocks of >= 2 nearly contiguous 0/1 columns whose sum is exactly 1 in every row.

    Greedy from left to right: a block starts at a column of 0/1 values that is not all
    zero and grows while every row's sum stays <= 1; it is kept when every row sums to 1.
    All-zero columns (e.g. categories absent from a subsample) belong to no group: they
    are skipped inside a block and left as constant columns (protection leaves them 0).
    Prefer :func:`groups_from_feature_names` where names exist: it keeps the attribute's
    whole category domain. ``X`` is (n, d).
    """
    X = np.asarray(X)
    n, d = X.shape
    binary = np.all((X == 0) | (X == 1), axis=0) if n else np.zeros(d, dtype=bool)
    zero = np.all(X == 0, axis=0) if n else np.ones(d, dtype=bool)
    groups: list[list[int]] = []
    j = 0
    while j < d:
        if not binary[j] or zero[j]:
            j += 1
            continue
        total = X[:, j].astype(np.int64)
        members, best = [j], None
        end = j + 1
        while end < d and binary[end]:
            if zero[end]:
                end += 1
                continue
            trial = total + X[:, end].astype(np.int64)
            if np.any(trial > 1):
                break
            total = trial
            members.append(end)
            end += 1
            if np.all(total == 1):
                best = list(members)
        if best is not None and len(best) >= 2:
            groups.append(best)
            j = best[-1] + 1
        else:
            j += 1
    return groups


def check_columns(d: int, quasi_identifiers: Optional[Sequence[int]],
                  categorical_groups: Optional[Sequence[Sequence[int]]], X: Optional[np.ndarray] = None) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Resolve the protected columns of a (n, d) table.

    Returns ``(qi, groups, numeric)``: the sorted protected column indices, the one-hot
    groups inside them (each an index array) and the protected columns outside any group.
    ``quasi_identifiers`` None means every column; ``categorical_groups`` None means the
    groups inferred from ``X`` (:func:`infer_one_hot_groups`). A group must lie entirely
    inside or outside the protected columns, and groups must not overlap.
    """
    if quasi_identifiers is None:
        qi = np.arange(d)
    else:
        qi = _indices("quasi_identifiers", quasi_identifiers, d)
        if qi.size == 0:
            raise InputError("quasi_identifiers must name at least one column; got an empty list")
    if categorical_groups is None:
        raw_groups: Sequence[Sequence[int]] = infer_one_hot_groups(X) if X is not None else []
    else:
        raw_groups = categorical_groups
    groups: list[np.ndarray] = []
    seen: set[int] = set()
    qi_set = set(qi.tolist())
    for g in raw_groups:
        cols = _indices("categorical_groups", g, d)
        if cols.size < 2:
            raise InputError(f"categorical_groups: each group must list >= 2 one-hot columns; got {list(g)!r}")
        if seen & set(cols.tolist()):
            raise InputError(f"categorical_groups must not overlap; column {sorted(seen & set(cols.tolist()))[0]} "
                             "is in two groups")
        seen |= set(cols.tolist())
        inside = [c in qi_set for c in cols.tolist()]
        if any(inside) and not all(inside):
            raise InputError(f"categorical_groups: group {cols.tolist()} lies partly inside quasi_identifiers; "
                             "a one-hot group must be protected whole or not at all")
        if all(inside):
            groups.append(cols)
    if X is not None:
        for cols in groups:
            block = np.asarray(X)[:, cols]
            if not (np.all((block == 0) | (block == 1)) and np.all(block.sum(axis=1) == 1)):
                raise InputError(f"categorical_groups: columns {cols.tolist()} are not one-hot "
                                 "(0/1 values with exactly one 1 per record)")
    numeric = np.array([c for c in qi.tolist() if c not in seen], dtype=np.int64)
    return qi, groups, numeric


def _indices(param: str, value: Any, d: int) -> np.ndarray:
    try:
        arr = np.asarray(list(value))
    except TypeError:
        raise InputError(f"{param} must be a list of column indices; got {value!r}") from None
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= d):
        raise InputError(f"{param} must hold column indices in [0, {d - 1}]; got {value!r}")
    if np.unique(arr).size != arr.size:
        raise InputError(f"{param} must not repeat a column; got {value!r}")
    return np.sort(arr.astype(np.int64))


__all__ = ["groups_from_feature_names", "infer_one_hot_groups", "check_columns"]
