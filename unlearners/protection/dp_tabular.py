"""epsilon-DP protection of a table, record by record (as EUPG's Algorithm 2).

Every protected attribute of every record is released through a DP mechanism, with the
budget epsilon split equally over the attributes (sequential composition: attributes of
one record are correlated), so each released record is epsilon-DP:

* numeric attribute j with range [lo_j, hi_j]: ``x + Laplace(scale = (hi_j - lo_j) / eps_a)``
  (global sensitivity = the attribute's range), then clipped to [lo_j, hi_j]
  (post-processing); an attribute with a zero range is released as is (sensitivity 0);
* one-hot categorical attribute (a group of 0/1 columns): one category selected with
  utility 1 for the record's true category and 0 for the others (sensitivity 1), by
  OpenDP's ``make_noisy_max`` (report-noisy-max with exponential noise, i.e.
  permute-and-flip, an epsilon-DP selection at least as accurate as the exponential
  mechanism with the same utility; the exponential mechanism proper, Gumbel noise, is
  deprecated in OpenDP 0.16), released one-hot;

where ``eps_a = epsilon / (number of numeric attributes + number of categorical groups)``
(constant columns, such as one-hot columns of categories absent from the data when the
groups are inferred, are released unchanged and not counted).

All noise comes from OpenDP 0.16 (``opendp.prelude``, feature "contrib"), which draws
from its own cryptographically secure generator: the output cannot be seeded and differs
from call to call (a seeded, replayable noise would void the guarantee). The attribute
ranges are taken from the table itself, as in the paper ("the attribute range").

Departure from the paper: for Adult's categorical attributes the paper used TabNet
embeddings and a cosine-similarity utility; here the utility is 1 for the true category
and 0 otherwise (no embedding model to train; the guarantee is the same).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from mia_audit.checks import positive_number
from mia_audit.errors import InputError

from .columns import check_columns

INSTALL_HINT = 'pip install "mia-audit[dp]"'


def opendp_prelude():
    """``opendp.prelude`` with the "contrib" feature enabled (InputError when missing)."""
    try:
        import opendp.prelude as dp
    except ImportError:
        raise InputError(
            f"the DP protection of eupg-dp needs OpenDP (>= 0.16); install it with {INSTALL_HINT}"
        ) from None
    dp.enable_features("contrib")
    return dp


def laplace_noise(values: np.ndarray, scale: float) -> np.ndarray:
    """``values`` (any shape) plus independent Laplace(``scale``) noise drawn by OpenDP."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or scale == 0:
        return values.copy()
    dp = opendp_prelude()
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    mechanism = dp.m.make_laplace(*space, scale=float(scale))
    noisy = np.asarray(mechanism(values.reshape(-1).tolist()), dtype=np.float64)
    return noisy.reshape(values.shape)


def select_categories(true_index: np.ndarray, n_categories: int, epsilon: float) -> np.ndarray:
    """For each record's true category (n,), an epsilon-DP selected category (n,): OpenDP's
    report-noisy-max over utilities (1 for the true category, 0 for the others)."""
    dp = opendp_prelude()
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.linf_distance(T=float)
    unit = dp.m.make_noisy_max(*space, dp.max_divergence(), scale=1.0)
    # the privacy loss is linear in 1/scale: scale for a loss of epsilon at sensitivity 1
    scale = float(unit.map(1.0)) / float(epsilon)
    mechanism = dp.m.make_noisy_max(*space, dp.max_divergence(), scale=scale)
    out = np.empty(true_index.shape[0], dtype=np.int64)
    scores = [0.0] * n_categories
    for i, t in enumerate(true_index.tolist()):
        scores[t] = 1.0
        out[i] = int(mechanism(scores))
        scores[t] = 0.0
    return out


def dp_protect_table(X: np.ndarray, epsilon: float, *, quasi_identifiers: Optional[Sequence[int]] = None,
                     categorical_groups: Optional[Sequence[Sequence[int]]] = None) -> tuple[np.ndarray, dict]:
    """An epsilon-DP copy of the table ``X`` (n, d) and a summary of what was done.

    ``quasi_identifiers``: the protected columns (default: every column, as in the paper);
    ``categorical_groups``: one-hot groups (default: inferred). ``X`` is not modified.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"DP table protection needs X of shape (n, d); got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError("DP table protection needs finite values; X contains NaN or inf")
    _check_epsilon(epsilon)
    _, groups, numeric = check_columns(X.shape[1], quasi_identifiers, categorical_groups, X)
    out = np.array(X, dtype=np.float64, copy=True)
    block = out[:, numeric]
    lo, hi = (block.min(axis=0), block.max(axis=0)) if X.shape[0] else (np.zeros(0), np.zeros(0))
    varying = numeric[hi > lo]  # a constant column (e.g. an absent category) is released as is
    n_attributes = varying.size + len(groups)
    if n_attributes == 0:
        raise InputError("DP table protection found nothing to protect: every protected column is constant")
    eps_a = float(epsilon) / n_attributes
    for j, col in enumerate(numeric.tolist()):  # one OpenDP call per attribute (its own scale)
        if hi[j] > lo[j]:
            out[:, col] = np.clip(laplace_noise(block[:, j], (hi[j] - lo[j]) / eps_a), lo[j], hi[j])
    for cols in groups:
        chosen = select_categories(np.argmax(out[:, cols], axis=1), cols.size, eps_a)
        out[:, cols] = np.eye(cols.size)[chosen]
    summary = {"epsilon": float(epsilon), "epsilon_per_attribute": eps_a, "numeric_attributes": int(varying.size),
               "constant_columns": int(numeric.size - varying.size),
               "categorical_attributes": len(groups), "noise": "opendp"}
    return out.astype(X.dtype, copy=False), summary


def _check_epsilon(epsilon: float) -> None:
    positive_number("epsilon", epsilon)


__all__ = ["dp_protect_table", "laplace_noise", "select_categories", "opendp_prelude", "INSTALL_HINT"]
