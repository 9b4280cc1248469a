"""RMIA, the relative membership inference attack (Zarifzadeh, Liu, Mastropietro, Shokri 2024,
"Low-cost high-power membership inference attacks", ICML 2024).

RMIA compares a record x with population records z through the pairwise likelihood ratio

    LR(x, z) = (Pr(x | theta) / Pr(x)) / (Pr(z | theta) / Pr(z))

where Pr(. | theta) is the target's probability of the true class and Pr(.) its
average over reference models; the score of x is the fraction of population records it
dominates:  Score(x) = Pr_z[ LR(x, z) > gamma ].

online (``rmia-online``)
    Pr(x) = mean of Pr(x | theta_k) over all K reference models (half IN, half OUT).
offline (``rmia-offline``, section 4 of the paper: OUT models only)
    Pr(x) ~= ((1 + a) Pr_OUT(x) + (1 - a)) / 2, from the linear approximation
    Pr_IN(x) ~= a Pr_OUT(x) + (1 - a), with Pr_OUT(x) the mean over the OUT models
    (the formula of ``ml_privacy_meter``'s ``run_rmia``). Our default is a = 0.3, fixed:
    the value of the paper's CIFAR-10 and CINIC-10 configs (its CIFAR-100 configs use
    0.6, Purchase-100 0.2). ml_privacy_meter has no default a: unless one is given, its
    ``tune_offline_a`` runs the attack with a = 0.0, 0.1, ..., 1.0 on the target's paired
    model (index target +- 1, whose membership is known) and keeps the a of highest AUC.
    We do not tune, so the offline attack depends on the reference models alone; pass
    ``a`` to set it for your data (a = 1 is Pr(x) = Pr_OUT(x)).

Pr(z) is estimated the same way as Pr(x). In the paper and in ml_privacy_meter the z
are population records that no reference model trained on; here the population is a
set of pool records that are not members of the target (``population`` in
``score_target``), and each reference model is IN or OUT for them exactly as for x, so
the same estimate applies. With several queries per record (augmentations),
Pr(x | theta) is the mean of p_y over the queries and Pr(x) the mean over models of
that query mean, so each record has one ratio (see the departures below). The
population should not contain the records being scored (LR(x, x) = 1). Higher score =
more likely a member.

Ties: with m population records the fraction takes only m + 1 values, so at low FPR
many members and non-members tie (e.g. all records that dominate every z). For a
fixed population the fraction is a non-decreasing function of
ratio(x) = Pr(x | theta) / Pr(x), and as m grows it tends to the population CDF of
that ratio, which orders records exactly as ratio(x) does. With ``break_ties=True``
(default) the score is ``fraction + ratio / (1 + ratio) / m`` (less than the next
fraction value), i.e. the paper's fraction with ties ordered by ratio(x);
``break_ties=False`` gives the bare fraction.

gamma and the population with ``break_ties=True`` (the default): the score is then a
strictly increasing function of ratio(x) whatever gamma and the population are, so
the scored records rank exactly as by ratio(x) (up to float64 rounding, which can tie
two ratios but never swap them). gamma and the population's size and records move the
score values but change no reported figure (AUC, TPR at FPR and every other figure
computed from the ranking); only the reference models (and ``a`` offline) do.
gamma matters only with ``break_ties=False``, where it moves the fraction's steps; with
the default it is kept for fidelity with the paper's score definition.

Departures from the reference code, on purpose (the paper's code,
``research/2024_rmia/main.py`` at ml_privacy_meter commit d327341, and the current
``modules/mia/attacks/rmia.py``):

* several queries per record: the paper's code thresholds LR(x, z) > gamma once per
  query, with that query's own Pr(x | theta) and Pr(x), and takes the majority vote of
  these per-query pairwise tests for each (x, z) before the fraction over z; we average
  p_y over the queries first and test one LR(x, z) per pair;
* ties are broken by ratio(x) (``break_ties=True``); the reference code returns the bare
  fraction;
* gamma defaults to 1 (as in ``modules/mia/attacks/rmia.py``, which fixes LR > 1); the
  paper's configs use gamma = 2, which with the default ``break_ties`` changes nothing;
* Pr(x) is the plain mean over models, as in ``modules/mia/attacks/rmia.py``; the
  paper's code uses a 20 % trimmed mean (``proportiontocut: 0.2``);
* ``a`` is fixed (default 0.3), not tuned on a paired model (see offline above);
* Pr(x | theta) is the softmax probability of the true class; the paper's configs use
  softmax at temperature 2 or a soft-margin Taylor softmax (``sm_taylor_softmax_relative``).
"""

from __future__ import annotations

import abc

import numpy as np

from mia_audit.checks import boolean, positive_number, probability
from mia_audit.errors import InputError, bad_value

from .reference_base import ReferenceAttack, check_target_signals
from .registry import ATTACKS

PROB_FLOOR = 1e-300  # Pr(x) below this is treated as this (only when every reference model gives 0)


# ---------------------------------------------------------------------------- pure math


def mean_probability(p: np.ndarray, member: np.ndarray | None = None) -> np.ndarray:
    """Mean over models of ``p`` (K, N), over all of them or only where ``member`` (K, N) is True."""
    if member is None:
        return p.mean(axis=0)
    w = member.astype(np.float64)
    return (p * w).sum(axis=0) / w.sum(axis=0)


def offline_marginal(p_out: np.ndarray, a: float) -> np.ndarray:
    """Pr(x) from the OUT models' mean: ((1 + a) p_out + (1 - a)) / 2."""
    return ((1.0 + a) * p_out + (1.0 - a)) / 2.0


def rmia_scores(ratio_x: np.ndarray, ratio_z: np.ndarray, gamma: float, *, break_ties: bool = False) -> np.ndarray:
    """Fraction of ``ratio_z`` with ratio_x / ratio_z > gamma, for every ratio_x (ratios >= 0);
    with ``break_ties`` plus ``ratio_x / (1 + ratio_x) / m``, which orders equal fractions by ratio_x."""
    z = np.sort(ratio_z)
    # ratio_x / z > gamma  <=>  z < ratio_x / gamma  (z >= 0; z = 0 counts when ratio_x > 0)
    fraction = np.searchsorted(z, ratio_x / gamma, side="left") / z.size
    if break_ties:
        fraction = fraction + (ratio_x / (1.0 + ratio_x)) / z.size
    return fraction


# ---------------------------------------------------------------------------- attacks


class _Rmia(ReferenceAttack):
    """RMIA's shared part. ``gamma`` (> 0): the threshold of LR(x, z) > gamma.
    ``break_ties`` (default True): order equal fractions by ratio(x).

    With ``break_ties=True`` the ranking of the scores, hence AUC and TPR at FPR, is
    exactly that of ratio(x) = Pr(x | theta) / Pr(x): neither gamma nor the population
    (its size or its records) changes a reported figure. gamma matters only with
    ``break_ties=False``; with the default it is kept for fidelity with the paper's
    score definition (see the module docstring)."""

    #: scores a record against population records z (the pipeline gives them, or says why not)
    needs_population = True

    requires = ("confidence",)
    reference = ("Zarifzadeh, Liu, Mastropietro, Shokri. Low-cost high-power membership inference attacks. "
                 "ICML 2024.")

    def __init__(self, gamma: float = 1.0, break_ties: bool = True):
        self.break_ties = boolean("break_ties", break_ties)
        self.gamma = positive_number("gamma", gamma)

    @abc.abstractmethod
    def _marginal(self, p: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pr(x): the marginal probability of each record from the references (online/offline)."""

    def _fit(self, lc, conf, mask):
        n_out = (~mask).sum(axis=0)
        if np.any(n_out < 1):
            raise InputError(f"mask must give every pool record at least one OUT reference model; "
                             f"record {int(np.argmin(n_out))} has none")
        self.p_marginal_ = np.maximum(self._marginal(conf.mean(axis=2), mask), PROB_FLOOR)  # (N,)

    def _score_target(self, lc, conf, idx, population):
        if population is None:
            raise InputError(
                f"attack {self.name!r} needs population: the target's signals on pool records that are not its "
                "members, and their pool indices (run_reference_attack(..., population_indices=...))"
            )
        if not isinstance(population, (tuple, list)) or len(population) != 2:
            raise bad_value("population", "a pair (QuerySignals, pool indices)", type(population).__name__)
        _, conf_z, idx_z = check_target_signals(population[0], self.n_queries_, self.n_pool_, population[1], "population")
        if idx_z.size == 0:
            raise InputError("population must hold at least one record; got 0")
        ratio_x = conf.mean(axis=1) / self.p_marginal_[idx]
        ratio_z = conf_z.mean(axis=1) / self.p_marginal_[idx_z]
        return rmia_scores(ratio_x, ratio_z, self.gamma, break_ties=self.break_ties)


@ATTACKS.register("rmia-online", help="RMIA online: likelihood ratio against population records (Zarifzadeh 2024)")
class RmiaOnline(_Rmia):
    """RMIA, online: Pr(x) is the mean over all reference models."""

    name = "rmia-online"

    def _marginal(self, p, mask):
        return mean_probability(p)


@ATTACKS.register("rmia-offline", help="RMIA offline: OUT models and the linear approximation a (Zarifzadeh 2024)")
class RmiaOffline(_Rmia):
    """RMIA, offline: Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2.

    ``a`` in [0, 1], default 0.3 (the paper's CIFAR-10 / CINIC-10 configs); fixed, not
    tuned: ml_privacy_meter has no default and tunes a on a paired model."""

    name = "rmia-offline"

    def __init__(self, a: float = 0.3, gamma: float = 1.0, break_ties: bool = True):
        super().__init__(gamma=gamma, break_ties=break_ties)
        self.a = probability("a", a)

    def _marginal(self, p, mask):
        return offline_marginal(mean_probability(p, ~mask), self.a)


__all__ = ["RmiaOnline", "RmiaOffline", "rmia_scores", "offline_marginal", "mean_probability"]
