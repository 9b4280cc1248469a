"""Membership-inference metrics, all computed from one sort of the scores.

Convention: members are the positive class and a HIGHER score means MORE likely a
member. Every function takes ``member_scores`` (shape ``(n1,)``) and
``nonmember_scores`` (shape ``(n0,)``), 1-D arrays of finite floats, and never
modifies them.

:class:`ScoreRanking` sorts both arrays once and groups equal scores; the ROC, the
AUC, TPR at fixed FPRs, the attacker advantage, the bootstrap intervals
(:mod:`mia_audit.metrics.bootstrap`) and the epsilon lower bound
(:mod:`mia_audit.metrics.bounds`) are vectorised arithmetic on its per-group counts.
:func:`mia_audit.metrics.evaluate.evaluate` computes all of them and returns a
:class:`~mia_audit.metrics.evaluate.MembershipMetrics`. This module holds the primitives.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Iterable

import numpy as np

from ..checks import nonnegative_int, positive_int
from ..errors import InputError, bad_value

DEFAULT_FPRS = (0.001, 0.01, 0.1)


# --------------------------------------------------------------------------- checks


def as_scores(scores: object, param: str) -> np.ndarray:
    """``scores`` as a 1-D float64 array (a copy only where conversion needs one)."""
    allowed = "a non-empty 1-D array of finite numbers"
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{param} must be {allowed}; got values that are not numbers "
                         f"(a {type(scores).__name__})") from None
    if arr.ndim != 1:
        raise InputError(f"{param} must be {allowed}; got an array of shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{param} must be {allowed}; got an empty array")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"{param} must be {allowed} (no NaN or inf); got {bad.size} non-finite value(s), "
                         f"the first {arr[bad[0]]} at index {bad[0]}")
    return arr


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_fprs(fprs: object, param: str = "fprs") -> tuple[float, ...]:
    """The target false-positive rates as a tuple of floats, each in the open interval (0, 1)."""
    values = [fprs] if _is_real(fprs) else fprs
    try:
        values = list(values)  # type: ignore[arg-type]
    except TypeError:
        raise bad_value(param, "a sequence of numbers in the open interval (0, 1)", fprs) from None
    if not values:
        raise bad_value(param, "a non-empty sequence of numbers in the open interval (0, 1)", fprs)
    for f in values:
        if not _is_real(f) or not 0.0 < float(f) < 1.0:
            raise bad_value(param, "a sequence of numbers in the open interval (0, 1)", fprs)
    return tuple(float(f) for f in values)


def check_confidence(confidence: object, param: str = "confidence") -> float:
    if not _is_real(confidence) or not 0.0 < float(confidence) < 1.0:  # type: ignore[arg-type]
        raise bad_value(param, "a number in the open interval (0, 1)", confidence)
    return float(confidence)  # type: ignore[arg-type]


#: the most bootstrap resamples an audit takes (each resample re-ranks every score: 10**5 on a
#: million scores is already hours; more would only exhaust memory or time)
MAX_BOOTSTRAP = 100_000


def check_count(value: object, param: str, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int count >= ``minimum`` (0 or more) and <= ``maximum``."""
    if minimum == 0:
        return nonnegative_int(param, value, maximum=maximum)
    return positive_int(param, value, minimum=minimum, maximum=maximum)


def nonmembers_needed(fpr: float) -> int:
    """How many non-members a TPR at ``fpr`` needs to mean anything: 10 / FPR (10,000 at 0.1 %)."""
    return math.ceil(round(10.0 / fpr, 6))


def fpr_key(fpr: float) -> str:
    """The JSON key of an FPR: the shortest text that reads back as the same float ("0.001")."""
    return repr(float(fpr))


# --------------------------------------------------------------------------- the one sort


class ScoreRanking:
    """Both score arrays sorted once, equal scores grouped.

    Each array is sorted by value (numpy's SIMD sort), then one stable ``argsort``
    merges the two sorted runs (linear time for two runs) and tells which merged
    entries are members. Nothing is sorted again afterwards.

    Attributes (G = number of distinct scores; "descending" = highest score first):
        values: ``(G,)`` the distinct scores, descending.
        member_counts, nonmember_counts: ``(G,)`` float64, how many members and
            non-members have each distinct score.
        sorted_member_scores, sorted_nonmember_scores: ``(n1,)``, ``(n0,)`` each
            input sorted descending.
        All of these arrays are read-only.
        member_group, nonmember_group: ``(n1,)``, ``(n0,)`` int, the group (index into
            ``values``) of each entry of the sorted arrays; non-decreasing. Built on
            first use (only weighted counts need them).
    """

    def __init__(self, member_scores: object, nonmember_scores: object) -> None:
        members = as_scores(member_scores, "member_scores")
        nonmembers = as_scores(nonmember_scores, "nonmember_scores")
        n1, n0 = members.size, nonmembers.size
        ascending = np.concatenate((np.sort(members), np.sort(nonmembers)))
        order = np.argsort(ascending, kind="stable")  # merges the two sorted runs
        merged = ascending[order]
        is_new = np.empty(merged.size, dtype=bool)
        is_new[0] = True
        np.not_equal(merged[1:], merged[:-1], out=is_new[1:])
        starts = np.flatnonzero(is_new)
        is_member = order < n1
        member_counts = np.add.reduceat(is_member.astype(np.int64), starts)
        sizes = np.diff(starts, append=merged.size)

        self.n_members = int(n1)
        self.n_nonmembers = int(n0)
        self.values = merged[starts][::-1].copy()
        self.member_counts = member_counts[::-1].astype(np.float64)
        self.nonmember_counts = (sizes - member_counts)[::-1].astype(np.float64)
        self.sorted_member_scores = ascending[:n1][::-1]
        self.sorted_nonmember_scores = ascending[n1:][::-1]
        self._is_member = is_member  # for the groups, built on first use
        self._sizes = sizes
        for shared in (self.values, self.member_counts, self.nonmember_counts, self.sorted_member_scores,
                       self.sorted_nonmember_scores):
            shared.flags.writeable = False  # handed out by reference; nobody may change them

    @functools.cached_property
    def member_group(self) -> np.ndarray:
        return self._groups()[0]

    @functools.cached_property
    def nonmember_group(self) -> np.ndarray:
        return self._groups()[1]

    def _groups(self) -> tuple[np.ndarray, np.ndarray]:
        # Descending group index of each merged entry. The stable merge keeps each
        # array's own order, so masking gives the groups of the sorted members and
        # non-members in that order (ascending; reversed to descending here).
        last = self._sizes.size - 1
        group = np.repeat(np.arange(last, -1, -1), self._sizes)
        out = group[self._is_member][::-1].copy(), group[~self._is_member][::-1].copy()
        for a in out:
            a.flags.writeable = False
        return out

    def counts(self, member_weights: np.ndarray | None = None,
               nonmember_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-group (member, non-member) counts, each sample counted ``weight`` times.

        Weights are aligned with ``sorted_member_scores`` / ``sorted_nonmember_scores``
        (a bootstrap resample is a vector of multiplicities); ``None`` means all ones.
        """
        if member_weights is not None:
            member_weights = self._weights(member_weights, self.n_members, "member_weights")
        if nonmember_weights is not None:
            nonmember_weights = self._weights(nonmember_weights, self.n_nonmembers, "nonmember_weights")
        return self.weighted_counts(member_weights, nonmember_weights)

    def weighted_counts(self, member_weights: np.ndarray | None,
                        nonmember_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`counts` without checking the weights (the bootstrap's inner loop)."""
        g = self.values.size
        pos = (self.member_counts if member_weights is None
               else np.bincount(self.member_group, weights=member_weights, minlength=g))
        neg = (self.nonmember_counts if nonmember_weights is None
               else np.bincount(self.nonmember_group, weights=nonmember_weights, minlength=g))
        return pos, neg

    @staticmethod
    def _weights(weights: object, n: int, param: str) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise InputError(f"{param} must be {n} finite non-negative numbers with a positive sum; "
                             f"got an array of shape {w.shape}")
        return w


# --------------------------------------------------------------------------- math on grouped counts
# ``pos`` / ``neg``: per-group member / non-member counts (or weights), highest score first.


def roc_from_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` at every threshold, starting with the point (0, 0)."""
    tps = np.concatenate(([0.0], np.cumsum(pos, dtype=np.float64)))
    fps = np.concatenate(([0.0], np.cumsum(neg, dtype=np.float64)))
    return fps / fps[-1], tps / tps[-1]


def auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(member score > non-member score) + 0.5 P(tie): the area under the ROC."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    return _auc(pos, neg, np.cumsum(neg))


def _auc(pos: np.ndarray, neg: np.ndarray, fps: np.ndarray) -> float:
    # fps[g]: non-members scoring >= group g, so n_neg - fps[g] score strictly lower.
    # einsum, not `@`: a threaded BLAS dot stalls when the cores are busy.
    n_pos, n_neg = pos.sum(), fps[-1]
    # pairs a member loses, plus half the tied pairs:
    lost = np.einsum("i,i->", pos, fps) - 0.5 * np.einsum("i,i->", pos, neg)
    return float((n_pos * n_neg - lost) / (n_pos * n_neg))


def tpr_at_fpr_from_roc(fpr: np.ndarray, tpr: np.ndarray, fprs: Iterable[float]) -> np.ndarray:
    """The highest TPR among ROC points with FPR <= each target (no interpolation).

    Both rates never decrease along the curve, so this is the TPR of the last point
    whose FPR is at most the target; the point (0, 0) makes one always exist.
    """
    idx = np.searchsorted(fpr, np.asarray(list(fprs), dtype=np.float64), side="right") - 1
    return tpr[idx]


def auc_and_tpr_at_fpr_from_counts(pos: np.ndarray, neg: np.ndarray,
                                   fprs: Iterable[float]) -> tuple[float, np.ndarray]:
    """``(auc, tpr at each of fprs)`` in few passes over the groups (the bootstrap's inner loop).

    Gives the same numbers as :func:`auc_from_counts` and :func:`tpr_at_fpr_from_roc`
    on :func:`roc_from_counts` for integer counts or weights.
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    fps = np.cumsum(neg)
    # Index k into roc_from_counts' arrays = number of groups above the threshold.
    ks = np.searchsorted(fps / fps[-1], np.asarray(list(fprs), dtype=np.float64), side="right")
    n_pos = pos.sum()
    return _auc(pos, neg, fps), np.array([pos[:k].sum() / n_pos for k in ks])


def advantage_from_roc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.max(tpr - fpr))


# --------------------------------------------------------------------------- public metrics


def roc_curve(member_scores: object, nonmember_scores: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The empirical ROC: ``(fpr, tpr, thresholds)``, each of shape ``(G + 1,)``.

    A sample is called a member when its score is >= the threshold. Thresholds are
    ``+inf`` (the point (0, 0)) then every distinct score, descending: the same as
    ``sklearn.metrics.roc_curve(y, s, drop_intermediate=False)`` with y = 1 for members.
    """
    ranking = ScoreRanking(member_scores, nonmember_scores)
    fpr, tpr = roc_from_counts(ranking.member_counts, ranking.nonmember_counts)
    return fpr, tpr, np.concatenate(([np.inf], ranking.values))


def auc(member_scores: object, nonmember_scores: object) -> float:
    """Area under the ROC = P(s_member > s_nonmember) + 0.5 P(tie) (Mann-Whitney)."""
    ranking = ScoreRanking(member_scores, nonmember_scores)
    return auc_from_counts(ranking.member_counts, ranking.nonmember_counts)


def tpr_at_fpr(member_scores: object, nonmember_scores: object,
               fprs: Iterable[float] = DEFAULT_FPRS) -> dict[float, float]:
    """TPR at each target FPR: the exact empirical value, without interpolation.

    For a target f it is the highest TPR among the ROC points (thresholds) whose FPR
    is <= f. With n0 non-members, FPRs below 1/n0 can only give the threshold
    +inf, hence TPR 0; see :func:`measurable_fpr_warnings`.
    """
    targets = check_fprs(fprs)
    ranking = ScoreRanking(member_scores, nonmember_scores)
    fpr, tpr = roc_from_counts(ranking.member_counts, ranking.nonmember_counts)
    return dict(zip(targets, (float(v) for v in tpr_at_fpr_from_roc(fpr, tpr, targets))))


def advantage(member_scores: object, nonmember_scores: object) -> float:
    """Membership advantage (Yeom et al., 2018): max over thresholds of TPR - FPR.

    Yeom et al. define the advantage of an attack as Pr[says member | member] -
    Pr[says member | non-member]; for a threshold attack on the scores we report the
    best threshold, which is the one-sided Kolmogorov-Smirnov statistic of the two
    empirical score distributions. It lies in [0, 1] (the threshold +inf gives 0).
    The threshold is chosen on the same samples, so the value is optimistic.
    """
    ranking = ScoreRanking(member_scores, nonmember_scores)
    return advantage_from_roc(*roc_from_counts(ranking.member_counts, ranking.nonmember_counts))
