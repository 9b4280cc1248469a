"""Label-only boundary attack: how far a record sits from the decision boundary.

Choquette-Choo, Tramer, Carlini, Papernot 2021 ("Label-only membership inference
attacks", ICML 2021) and Li & Zhang 2021 ("Membership leakage in label-only exposures",
CCS 2021) observe that a model is more robust around its training records: the
predicted label of a member survives larger perturbations. Using only predicted
labels, this attack perturbs each record with growing strength and counts how often the
label stays correct:

tabular and sequence records (Gaussian noise)
    ``levels`` noise scales sigma_l = max_noise * l / levels (l = 1..levels), each in
    units of the feature's standard deviation over the queried records, with
    ``n_queries / levels`` noisy copies per scale (seeded). The default max_noise = 0.1
    was the better of 0.1 / 0.3 / 1 / 3 for overfitted MLPs on Adult; like the noise
    scale of Choquette-Choo et al., it is best tuned on reference models of the task.
images (n, C, H, W) (augmentations, the "data augmentation" attack of Choquette-Choo et al.)
    level 0 is the flipped image, level l >= 1 every flip x shift (dy, dx) with
    max(|dy|, |dx|) = l (zeros shifted in), rings added until ``n_queries`` queries
    are spent (a ring that does not fit whole is subsampled, seeded).

The score estimates the distance to the boundary as the area under the robustness
curve: ``correct(x) * (1 + mean_l fraction_correct_l(x))`` in [0, 2]; a record the
model misclassifies scores 0, one whose label never flips scores 2. The queries are
labels only, so the attack works on :class:`mia_audit.adapters.LabelOnly` models.
Higher score = more likely a member.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mia_audit.checks import positive_int, positive_number
from mia_audit.errors import InputError, bad_value
from mia_audit.reference.queries import augment
from mia_audit.seeding import check_seed, rng

from .reference_base import QueryAttack
from .registry import ATTACKS


def _labels(adapter, X: np.ndarray) -> np.ndarray:
    return np.asarray(adapter.predict_labels(X), dtype=np.int64)


def image_levels(shape: tuple[int, ...], n_queries: int, generator: np.random.Generator) -> list[list[tuple[bool, int, int]]]:
    """The image queries (flip, dy, dx) per level, at most ``n_queries`` in all."""
    H, W = shape[-2:]
    levels: list[list[tuple[bool, int, int]]] = [[(True, 0, 0)]]
    used = 1
    for r in range(1, max(H, W)):
        ring = [(f, dy, dx) for f in (False, True) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                if max(abs(dy), abs(dx)) == r]
        room = n_queries - used
        if room <= 0:
            break
        if len(ring) > room:
            ring = [ring[i] for i in sorted(generator.choice(len(ring), size=room, replace=False))]
        levels.append(ring)
        used += len(ring)
    return levels


@ATTACKS.register("boundary", help="label-only: robustness of the predicted label to noise / augmentations")
class BoundaryAttack(QueryAttack):
    """Distance to the decision boundary from label flips under growing perturbations (label-only)."""

    name = "boundary"
    requires = ("correct",)
    reference = ("Choquette-Choo, Tramer, Carlini, Papernot. Label-only membership inference attacks. ICML 2021; "
                 "Li, Zhang. Membership leakage in label-only exposures. CCS 2021.")

    def __init__(self, n_queries: int = 64, levels: int = 8, max_noise: float = 0.1, seed: int = 0):
        n_queries = positive_int("n_queries", n_queries)
        levels = positive_int("levels", levels)
        if n_queries < levels:
            raise InputError(f"n_queries must be at least levels ({levels}) so every noise level gets a query; "
                             f"got {n_queries}")
        self.n_queries = n_queries
        self.levels = levels
        self.max_noise = positive_number("max_noise", max_noise)
        self.seed = check_seed(seed)

    def score_queries(self, model: Any, X: Any, y: Any) -> np.ndarray:
        """Scores (n,) of the records ``X`` (n, ...) with labels ``y`` (n,), from at most
        ``1 + n_queries`` label queries per record to ``model`` (any adapter, label-only included)."""
        from mia_audit.adapters import as_adapter
        from mia_audit.signals import check_labels

        adapter = as_adapter(model)
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[0] == 0:
            raise bad_value("X", "a non-empty array of records (n, ...)", f"shape {X.shape}")
        if not np.issubdtype(X.dtype, np.floating):
            raise bad_value("X", "floating-point features (noise is added to them)", f"dtype {X.dtype}")
        y = check_labels(y, X.shape[0], adapter.n_classes)
        correct = _labels(adapter, X) == y
        g = rng(self.seed, "boundary")
        fractions = []
        if X.ndim == 4:
            for level in image_levels(X.shape, self.n_queries, g):
                hits = [(_labels(adapter, augment(X, f, dy, dx)) == y) for f, dy, dx in level]
                fractions.append(np.mean(hits, axis=0))
        else:
            per_level = self.n_queries // self.levels
            scale = X.std(axis=0, dtype=np.float64)
            for level in range(1, self.levels + 1):
                sigma = self.max_noise * level / self.levels
                noise = g.standard_normal((per_level,) + X.shape) * (sigma * scale)
                noisy = (X[None].astype(np.float64) + noise).astype(X.dtype).reshape((-1,) + X.shape[1:])
                hits = (_labels(adapter, noisy).reshape(per_level, X.shape[0]) == y[None])
                fractions.append(hits.mean(axis=0))
        robustness = np.mean(fractions, axis=0) if fractions else np.zeros(X.shape[0])
        return correct * (1.0 + robustness)


__all__ = ["BoundaryAttack", "image_levels"]
