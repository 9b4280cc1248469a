"""The auditor's own records as one pool: members, non-members and (optionally) validation
records of a model the toolkit did not train, laid out as a :class:`Dataset` and a
:class:`Split` (members are ``train``, non-members ``test``; there is no forget set), so that
every audit goes through the same steps whatever its target."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .dataset import Dataset
from .own_tables import KIND_BY_NDIM
from .split import Split


def supplied_pool(members: tuple[np.ndarray, np.ndarray], nonmembers: tuple[np.ndarray, np.ndarray], *,
                  n_classes: int, validation: Optional[tuple[np.ndarray, np.ndarray]] = None,
                  population: Optional[tuple[np.ndarray, np.ndarray]] = None,
                  name: str = "records", source: Optional[str] = None
                  ) -> tuple[Dataset, Split, Optional[np.ndarray]]:
    """``(pool, split, validation_indices)``: members, then non-members, then validation records,
    then population records (from the same distribution, outside the model's training set:
    reference models train on them, RMIA and QMIA compare with them) in one :class:`Dataset`;
    ``split.train`` the members, ``split.test`` the non-members. Population records are in no
    set of the split: the pipeline finds them as the records outside train, test and validation."""
    parts = [members, nonmembers] + ([validation] if validation is not None else []) \
        + ([population] if population is not None else [])
    X = np.concatenate([np.asarray(p[0]) for p in parts])
    y = np.concatenate([np.asarray(p[1]) for p in parts])
    meta = {"source": source} if source else {}
    pool = Dataset(name=name, X=X, y=y, n_classes=int(n_classes), kind=KIND_BY_NDIM.get(X.ndim, "tabular"),
                   meta=meta)
    n_in, n_out = len(members[1]), len(nonmembers[1])
    split = Split(train=np.arange(n_in), test=np.arange(n_in, n_in + n_out), n=len(y))
    n_val = len(validation[1]) if validation is not None else 0
    validation_idx = np.arange(n_in + n_out, n_in + n_out + n_val) if validation is not None else None
    return pool, split, validation_idx


__all__ = ["supplied_pool", "KIND_BY_NDIM"]
