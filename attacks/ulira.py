"""``u-lira``: the per-example unlearning likelihood-ratio attack (Hayes et al. 2024).

Hayes, Shumailov, Triantafillou, Khalifa, Papernot, "Inexact unlearning needs more
careful evaluations to avoid a false sense of privacy" (2024). LiRA (Carlini et al.
2022, :mod:`mia_audit.attacks.lira`) adapted to unlearning: for each target record the attacker
fits two Gaussians to the record's logit-scaled confidence ``phi = log(p_y / (1 - p_y))``
over unlearned reference models,

* IN-then-unlearned: models trained with the record and then unlearned by the method
  under audit with the record in their forget set, and
* never seen: models whose training set did not hold the record (trained without it,
  then unlearned by the same method on other records, so both sets went through the
  same procedure),

and scores the audited unlearned model's ``phi`` on the record by the log-likelihood
ratio, averaged over queries (augmentations) as in LiRA:

    score = mean_a [ log N(phi_a; mu_unl, sigma_unl^2) - log N(phi_a; mu_never, sigma_never^2) ]

Higher = more likely "trained on, then unlearned". An exact unlearner makes the two
distributions equal, so the scores are noise and the AUC of forget against never-seen
records is 0.5; a method that leaves traces shifts ``mu_unl`` towards the members' side.

Interface (that of :class:`mia_audit.attacks.reference_base.ReferenceAttack`):
``fit_references(reference, mask, never_seen=None)`` with ``reference`` the M unlearned
reference models' :class:`mia_audit.reference.QuerySignals` (M, N, A), ``mask`` (M, N) True
where model m trained on record i *and then unlearned it*, and ``never_seen`` (M, N) True
where record i was not in model m's training set (default ``~mask``: every model either
unlearned the record or never saw it). Records a model trained on and kept are in
neither mask and do not enter the fits. Then ``score_target(target, pool_indices)``.
:func:`mia_audit.run.shadow_unlearning.ulira_references` builds the references.

The Gaussians are LiRA's (:func:`mia_audit.attacks.lira.gaussian_fit`): per-record means, sample
standard deviations (ddof = 1) floored at ``mia_audit.attacks.lira.STD_FLOOR``, and with
``fixed_variance=True`` (for few reference models) one pooled within-record variance per
query and side.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from mia_audit.checks import boolean
from mia_audit.errors import InputError

from .lira import gaussian_fit, online_scores
from .reference_base import ReferenceAttack, check_reference
from .registry import ATTACKS


def check_never_seen(never_seen: Any, unlearned: np.ndarray) -> np.ndarray:
    """The (M, N) never-seen mask as bool, disjoint from the unlearned ``mask``."""
    if never_seen is None:
        return ~unlearned
    m = np.asarray(never_seen)
    if m.shape != unlearned.shape:
        raise InputError(f"never_seen must have shape (M, N) = {unlearned.shape} (one row per reference model); "
                         f"got {m.shape}")
    if m.dtype != bool:
        if m.size and not np.all((m == 0) | (m == 1)):
            raise InputError("never_seen must hold only 0/1 or False/True")
        m = m.astype(bool)
    both = m & unlearned
    if both.any():
        k, i = np.argwhere(both)[0]
        raise InputError(
            f"mask (trained-then-unlearned) and never_seen must not overlap: a model cannot have unlearned a "
            f"record it never saw; {int(both.sum())} entries are in both (first: model {int(k)}, record {int(i)})"
        )
    return m


@ATTACKS.register("u-lira", help="U-LiRA: per-record Gaussians of unlearned vs never-seen reference models (Hayes 2024)")
class ULiRA(ReferenceAttack):
    """U-LiRA: likelihood ratio of trained-then-unlearned vs never-seen reference models (Hayes et al. 2024)."""

    name = "u-lira"
    access = "unlearned-references"  # reference models unlearned by the target's method
    requires = ("logit_confidence",)
    reference = ("Hayes, Shumailov, Triantafillou, Khalifa, Papernot. Inexact unlearning needs more careful "
                 "evaluations to avoid a false sense of privacy. 2024.")

    def __init__(self, fixed_variance: bool = False):
        self.fixed_variance = boolean("fixed_variance", fixed_variance)

    def fit_references(self, reference: Any, mask: Any, never_seen: Optional[Any] = None) -> "ULiRA":
        """Fit per-record Gaussians: ``reference`` (M, N, A) signals of M unlearned reference
        models, ``mask`` (M, N) trained-then-unlearned, ``never_seen`` (M, N) (default ``~mask``)."""
        self._never_seen = never_seen
        try:
            return super().fit_references(reference, mask)
        finally:
            del self._never_seen

    def _fit(self, lc: np.ndarray, conf: np.ndarray, unlearned: np.ndarray) -> None:
        never = check_never_seen(self._never_seen, unlearned)
        self.mu_in_, self.sd_in_ = gaussian_fit(lc, unlearned, fixed_variance=self.fixed_variance,
                                                side="trained-then-unlearned")
        self.mu_out_, self.sd_out_ = gaussian_fit(lc, never, fixed_variance=self.fixed_variance, side="never-seen")

    def _gather(self, stat: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return stat if stat.shape[0] == 1 else stat[idx]

    def _score_target(self, lc, conf, idx, population):
        return online_scores(lc, self.mu_in_[idx], self._gather(self.sd_in_, idx),
                             self.mu_out_[idx], self._gather(self.sd_out_, idx))


__all__ = ["ULiRA", "check_never_seen"]
