"""Which pool records each reference model trains on, and each model's seeds.

The membership mask uses **complementary pairs**: models 2j and 2j + 1 train on a
random half of the pool and on its complement. So

* every record is IN for exactly K/2 models and OUT for the other K/2 (the balanced
  design of Carlini et al. 2022's reference code, which guarantees that after all
  experiments "each example is seen exactly half of the time"), and
* every model trains on exactly floor(N/2) or ceil(N/2) records (a random half),
  which lets many models of one architecture be trained in lock-step in one batched
  call (:mod:`mia_audit.reference.batched`): same number of batches of the same sizes.

The balanced design of the reference code alone (a random K x N matrix ranked per
column) gives each model a binomially varying training-set size, which would split
the batched training into many groups of different sizes. The price of the pairs is
a dependence between the two models of a pair (their IN sets are complements), which
does not change any per-record statistic the attacks fit: each record still gets K/2
IN and K/2 OUT models, each drawn from independent random halves of the other pairs.
With N odd, the half holding the extra record alternates between the two models of
a pair from pair to pair, so the sizes split evenly between the two values.
"""

from __future__ import annotations

import numpy as np

from ..checks import positive_int
from ..errors import bad_value
from ..seeding import check_seed, derive_seed


def check_n_models(n_models: object) -> int:
    if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or n_models < 2 or n_models % 2:
        raise bad_value("n_models", "an even integer >= 2 (models come in complementary pairs)", n_models)
    return int(n_models)


def membership_mask(n_models: int, n_records: int, seed: int) -> np.ndarray:
    """The (K, N) boolean mask: ``mask[k, i]`` is True when model k trains on record i."""
    n_models = check_n_models(n_models)
    n_records = positive_int("n_records", n_records, minimum=2, note=" (the pool size)")
    seed = check_seed(seed)
    g = np.random.default_rng(derive_seed(seed, "reference", "mask"))
    mask = np.zeros((n_models, int(n_records)), dtype=bool)
    half = n_records // 2
    for pair in range(n_models // 2):
        order = g.permutation(n_records)
        take = half + (n_records % 2 if pair % 2 else 0)
        first = np.zeros(n_records, dtype=bool)
        first[order[:take]] = True
        mask[2 * pair] = first
        mask[2 * pair + 1] = ~first
    return mask


def init_seed(seed: int, k: int) -> int:
    """Seed of reference model k's initial weights (``build_model(..., seed=...)``)."""
    return derive_seed(seed, "reference", "init", int(k))


def train_seed(seed: int, k: int) -> int:
    """Seed of reference model k's training (data order, augmentation, dropout)."""
    return derive_seed(seed, "reference", "train", int(k))


__all__ = ["membership_mask", "init_seed", "train_seed", "check_n_models"]
