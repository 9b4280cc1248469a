"""Empirical lower bound on the epsilon of differential privacy, from an attack's scores.

An (epsilon, delta)-DP training algorithm forces every membership test to satisfy
TPR <= e^eps FPR + delta and TNR <= e^eps FNR + delta (Kairouz et al. 2015). So an
attack that beats these lines with confidence shows epsilon >= log((TPR - delta) /
FPR) (Jagielski et al. 2020, "Auditing differentially private machine learning";
Nasr et al. 2021, "Adversary instantiation"). The rates are estimated on finitely
many samples, so we use Clopper-Pearson bounds: a lower bound for the numerator and
an upper bound for the denominator.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta

from ..checks import probability
from .ranking import ScoreRanking, check_confidence

_FANOUT = 4  # sub-blocks per refined block in the threshold search (4 was fastest on null data)


def clopper_pearson_lower(k: np.ndarray, n: int, confidence: float) -> np.ndarray:
    """One-sided lower bound at ``confidence`` of a proportion with ``k`` successes of ``n``."""
    k = np.asarray(k, dtype=np.float64)
    return np.where(k > 0, beta.ppf(1.0 - confidence, np.maximum(k, 1.0), n - k + 1.0), 0.0)


def clopper_pearson_upper(k: np.ndarray, n: int, confidence: float) -> np.ndarray:
    """One-sided upper bound at ``confidence`` of a proportion with ``k`` successes of ``n``."""
    k = np.asarray(k, dtype=np.float64)
    return np.where(k < n, beta.ppf(confidence, k + 1.0, np.maximum(n - k, 1.0)), 1.0)


def _log_ratio(numerator_lo: np.ndarray, denominator_hi: np.ndarray, delta: float) -> np.ndarray:
    top = numerator_lo - delta
    with np.errstate(divide="ignore"):
        return np.where(top > 0, np.log(np.where(top > 0, top, 1.0)) - np.log(denominator_hi), -np.inf)


def max_log_ratio(num_k: np.ndarray, num_n: int, den_k: np.ndarray, den_n: int, *, confidence: float,
                  delta: float) -> float:
    """max over i of log((CP_lower(num_k[i] / num_n) - delta) / CP_upper(den_k[i] / den_n)), floored at 0.

    ``num_k`` and ``den_k`` must be non-decreasing in i (as TP and FP are along the
    ROC). Then no point of a block [a, b] beats ``log(CP_lower(num_k[b]) - delta) -
    log(CP_upper(den_k[a]))``, so a branch and bound evaluates the beta quantiles
    only at block ends and near the maximum, and returns exactly the same value as
    evaluating every point.
    """
    best = 0.0
    starts, ends = np.array([0]), np.array([num_k.size - 1])
    while starts.size:
        lo_a = clopper_pearson_lower(num_k[starts], num_n, confidence)
        lo_b = clopper_pearson_lower(num_k[ends], num_n, confidence)
        hi_a = clopper_pearson_upper(den_k[starts], den_n, confidence)
        hi_b = clopper_pearson_upper(den_k[ends], den_n, confidence)
        best = max(best, float(_log_ratio(lo_a, hi_a, delta).max()), float(_log_ratio(lo_b, hi_b, delta).max()))
        ceiling = _log_ratio(lo_b, hi_a, delta)
        refine = (ceiling > best) & (ends - starts > 1)
        a, b = starts[refine], ends[refine]
        cuts = a[:, None] + ((b - a)[:, None] * np.arange(_FANOUT + 1)) // _FANOUT
        starts, ends = cuts[:, :-1].ravel(), cuts[:, 1:].ravel()
        starts, ends = starts[ends > starts], ends[ends > starts]
    return best


def epsilon_lower_bound_from_counts(pos: np.ndarray, neg: np.ndarray, *, confidence: float = 0.95,
                                    delta: float = 0.0) -> float:
    """:func:`epsilon_lower_bound` from per-group counts (highest score first)."""
    confidence = check_confidence(confidence)
    delta = probability("delta", delta, high_open=True)
    tp = np.concatenate(([0], np.cumsum(np.rint(pos).astype(np.int64))))
    fp = np.concatenate(([0], np.cumsum(np.rint(neg).astype(np.int64))))
    n1, n0 = int(tp[-1]), int(fp[-1])
    # TPR / FPR: both counts grow along the ROC.
    eps_pos = max_log_ratio(tp, n1, fp, n0, confidence=confidence, delta=float(delta))
    # TNR / FNR: TN = n0 - FP and FN = n1 - TP grow along the reversed ROC.
    eps_neg = max_log_ratio((n0 - fp)[::-1], n0, (n1 - tp)[::-1], n1, confidence=confidence, delta=float(delta))
    return max(0.0, eps_pos, eps_neg)


def epsilon_lower_bound(member_scores: object, nonmember_scores: object, *, confidence: float = 0.95,
                        delta: float = 0.0) -> float:
    """Empirical lower bound on epsilon shown by a threshold attack on the scores.

    At each threshold (a sample is called a member when its score is >= it), with
    TP of the n1 members and FP of the n0 non-members called members, it takes the
    Clopper-Pearson lower bound of TPR and upper bound of FPR, and likewise the
    lower bound of TNR and upper bound of FNR, and returns

        max over thresholds of max(log((TPR_lo - delta) / FPR_hi),
                                   log((TNR_lo - delta) / FNR_hi)),  floored at 0.

    ``confidence`` is per bound: each of the Clopper-Pearson bounds is one-sided at
    that level, so a pair (TPR_lo, FPR_hi) holds jointly with probability at least
    2 * confidence - 1. (TensorFlow Privacy's ``alpha`` uses two-sided intervals:
    its alpha matches confidence = 1 - alpha / 2 here.)

    Caveat, threshold selection: the threshold is chosen as the best of all on the
    same samples that bound the rates, which is optimistic; the stated confidence
    does not cover that maximum. For an audit-grade claim, choose the threshold on
    separate data and call this with the scores of fresh samples.
    """
    ranking = ScoreRanking(member_scores, nonmember_scores)
    return epsilon_lower_bound_from_counts(ranking.member_counts, ranking.nonmember_counts,
                                           confidence=confidence, delta=delta)
