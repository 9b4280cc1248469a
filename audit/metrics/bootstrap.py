"""Bootstrap confidence intervals for the AUC and TPR at fixed FPRs, without re-sorting.

Members and non-members are resampled separately, with replacement, at their own
sizes. A resample is a vector of multiplicities (how many times each sample is
drawn); its per-group counts are a weighted ``bincount`` over the groups that the
one :class:`~mia_audit.metrics.ranking.ScoreRanking` already found, so each resample costs
linear time and no sort. Intervals are percentile intervals.

Multiplicities index the *sorted* arrays (``ScoreRanking.sorted_member_scores``);
resampling is uniform, so this is the same bootstrap as indexing the inputs, and
the intervals do not depend on the order in which the scores were given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from .ranking import (DEFAULT_FPRS, ScoreRanking, auc_and_tpr_at_fpr_from_counts, check_confidence, check_count,
                      check_fprs)
from ..seeding import check_seed, rng


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile intervals ``(lo, hi)`` at ``confidence`` from ``n_resamples`` resamples."""

    auc: tuple[float, float]
    tpr_at_fpr: dict[float, tuple[float, float]]
    confidence: float
    n_resamples: int


def resample_weights(n_members: int, n_nonmembers: int, *, n_resamples: int,
                     seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``n_resamples`` pairs of multiplicity vectors, shapes ``(n1,)`` and ``(n0,)``.

    Each vector sums to its size: a draw of that many indices with replacement.
    """
    n1 = check_count(n_members, "n_members", 1)
    n0 = check_count(n_nonmembers, "n_nonmembers", 1)
    n_resamples = check_count(n_resamples, "n_resamples", 0)
    gen = rng(check_seed(seed), "bootstrap")

    def draws() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _ in range(n_resamples):
            wm = np.bincount(gen.integers(0, n1, n1), minlength=n1)
            wn = np.bincount(gen.integers(0, n0, n0), minlength=n0)
            yield wm, wn

    return draws()


def bootstrap_replicates(ranking: ScoreRanking, *, fprs: Iterable[float] = DEFAULT_FPRS, n_resamples: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AUC ``(R,)`` and TPR at each FPR ``(R, len(fprs))`` on each of R resamples."""
    targets = check_fprs(fprs)
    n_resamples = check_count(n_resamples, "n_resamples", 0)
    aucs = np.empty(n_resamples)
    tprs = np.empty((n_resamples, len(targets)))
    weights = resample_weights(ranking.n_members, ranking.n_nonmembers, n_resamples=n_resamples, seed=seed)
    for i, (wm, wn) in enumerate(weights):
        aucs[i], tprs[i] = auc_and_tpr_at_fpr_from_counts(*ranking.weighted_counts(wm, wn), targets)
    return aucs, tprs


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` share of ``values``: its (1-c)/2 and (1+c)/2 quantiles."""
    lo, hi = np.quantile(values, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(lo), float(hi)


def bootstrap_ci_from_ranking(ranking: ScoreRanking, *, fprs: Iterable[float] = DEFAULT_FPRS,
                              n_resamples: int = 200, confidence: float = 0.95, seed: int) -> BootstrapCI:
    targets = check_fprs(fprs)
    confidence = check_confidence(confidence)
    n_resamples = check_count(n_resamples, "n_resamples", 1)
    seed = check_seed(seed)
    aucs, tprs = bootstrap_replicates(ranking, fprs=targets, n_resamples=n_resamples, seed=seed)
    return BootstrapCI(
        auc=percentile_interval(aucs, confidence),
        tpr_at_fpr={f: percentile_interval(tprs[:, j], confidence) for j, f in enumerate(targets)},
        confidence=confidence,
        n_resamples=n_resamples,
    )


def bootstrap_ci(member_scores: object, nonmember_scores: object, *, fprs: Iterable[float] = DEFAULT_FPRS,
                 n_resamples: int = 200, confidence: float = 0.95, seed: int) -> BootstrapCI:
    """Percentile bootstrap intervals for the AUC and for TPR at each FPR in ``fprs``.

    Same seed, same intervals. Needs ``n_resamples >= 1``; a few hundred resamples
    give stable 95 % limits.
    """
    return bootstrap_ci_from_ranking(ScoreRanking(member_scores, nonmember_scores), fprs=fprs,
                                     n_resamples=n_resamples, confidence=confidence, seed=seed)
