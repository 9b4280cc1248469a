"""Every figure of one attack at once: :func:`evaluate` composes the ranking primitives
(:mod:`mia_audit.metrics.ranking`), the bootstrap (:mod:`mia_audit.metrics.bootstrap`) and the
epsilon lower bound (:mod:`mia_audit.metrics.bounds`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..seeding import check_seed
from .bootstrap import bootstrap_ci_from_ranking
from .bounds import epsilon_lower_bound_from_counts
from .ranking import (DEFAULT_FPRS, MAX_BOOTSTRAP, ScoreRanking, advantage_from_roc, as_scores, auc_from_counts,
                      check_confidence,
                      check_count, check_fprs, nonmembers_needed, fpr_key, roc_from_counts, tpr_at_fpr_from_roc)


def measurable_fpr_warnings(n_nonmembers: int, fprs: Iterable[float]) -> list[str]:
    """A warning for each FPR that needs more non-members: fewer than 10 / FPR."""
    n0 = check_count(n_nonmembers, "n_nonmembers", 0)
    out = []
    for f in check_fprs(fprs):
        needed = nonmembers_needed(f)
        if n0 < needed:
            out.append(f"TPR at FPR {fpr_key(f)} is unreliable: it needs at least {needed} non-members, have {n0}")
    return out


def downsample_roc(fpr: np.ndarray, tpr: np.ndarray, *, n_nonmembers: int, n_points: int = 100) -> dict[str, list[float]]:
    """A thinned copy of the ROC that still plots faithfully on log-log axes.

    Keeps exact ROC points only: both endpoints and, at ``n_points`` FPR values
    log-spaced between 1/n_nonmembers and 1, the last point at or below that FPR
    (top of its vertical step) and the first point at or above it. At most
    ``2 * n_points + 2`` points.
    """
    grid = np.logspace(-math.log10(n_nonmembers), 0.0, n_points)
    below = np.searchsorted(fpr, grid, side="right") - 1
    above = np.minimum(np.searchsorted(fpr, grid, side="left"), fpr.size - 1)
    keep = np.unique(np.concatenate(([0, fpr.size - 1], below, above)))
    return {"fpr": [float(x) for x in fpr[keep]], "tpr": [float(y) for y in tpr[keep]]}


# --------------------------------------------------------------------------- everything at once


@dataclass(frozen=True)
class MembershipMetrics:
    """All figures of one attack on one member / non-member split.

    ``auc_ci`` and ``tpr_at_fpr_ci`` are bootstrap percentile intervals at
    ``confidence`` (None when ``n_bootstrap`` is 0). ``epsilon_lower_bound`` is at
    delta = 0 with Clopper-Pearson bounds at ``confidence`` each (see
    :func:`mia_audit.metrics.bounds.epsilon_lower_bound`). ``roc`` holds lists ``fpr``
    and ``tpr`` of exact ROC points, thinned on a log FPR grid.
    """

    auc: float
    auc_ci: tuple[float, float] | None
    tpr_at_fpr: dict[float, float]
    tpr_at_fpr_ci: dict[float, tuple[float, float]] | None
    advantage: float
    epsilon_lower_bound: float
    n_members: int
    n_nonmembers: int
    warnings: list[str]
    roc: dict[str, list[float]]
    confidence: float = 0.95
    n_bootstrap: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready types; FPR keys as text ("0.001")."""
        return {
            "auc": float(self.auc),
            "auc_ci": None if self.auc_ci is None else [float(x) for x in self.auc_ci],
            "tpr_at_fpr": {fpr_key(f): float(v) for f, v in self.tpr_at_fpr.items()},
            "tpr_at_fpr_ci": None if self.tpr_at_fpr_ci is None else {
                fpr_key(f): [float(x) for x in ci] for f, ci in self.tpr_at_fpr_ci.items()},
            "advantage": float(self.advantage),
            "epsilon_lower_bound": float(self.epsilon_lower_bound),
            "n_members": int(self.n_members),
            "n_nonmembers": int(self.n_nonmembers),
            "warnings": [str(w) for w in self.warnings],
            "roc": {"fpr": [float(x) for x in self.roc["fpr"]], "tpr": [float(y) for y in self.roc["tpr"]]},
            "confidence": float(self.confidence),
            "n_bootstrap": int(self.n_bootstrap),
        }


def evaluate(member_scores: object, nonmember_scores: object, *, fprs: Iterable[float] = DEFAULT_FPRS,
             n_bootstrap: int = 200, confidence: float = 0.95, seed: int, roc_points: int = 100) -> MembershipMetrics:
    """Every metric of one attack from one sort of the scores.

    ``seed`` drives the bootstrap (same seed, same intervals); ``n_bootstrap=0``
    skips it. ``confidence`` is the level of the bootstrap intervals and of each
    Clopper-Pearson bound of the epsilon lower bound. ``roc_points`` is the number
    of log-spaced FPR values at which the stored ROC keeps its exact points.
    """

    targets = check_fprs(fprs)
    n_bootstrap = check_count(n_bootstrap, "n_bootstrap", 0, MAX_BOOTSTRAP)
    confidence = check_confidence(confidence)
    seed = check_seed(seed)
    roc_points = check_count(roc_points, "roc_points", 2)
    ranking = ScoreRanking(member_scores, nonmember_scores)

    pos, neg = ranking.member_counts, ranking.nonmember_counts
    fpr, tpr = roc_from_counts(pos, neg)
    ci = None
    if n_bootstrap:
        ci = bootstrap_ci_from_ranking(ranking, fprs=targets, n_resamples=n_bootstrap,
                                       confidence=confidence, seed=seed)
    return MembershipMetrics(
        auc=auc_from_counts(pos, neg),
        auc_ci=None if ci is None else ci.auc,
        tpr_at_fpr=dict(zip(targets, (float(v) for v in tpr_at_fpr_from_roc(fpr, tpr, targets)))),
        tpr_at_fpr_ci=None if ci is None else ci.tpr_at_fpr,
        advantage=advantage_from_roc(fpr, tpr),
        epsilon_lower_bound=epsilon_lower_bound_from_counts(pos, neg, confidence=confidence),
        n_members=ranking.n_members,
        n_nonmembers=ranking.n_nonmembers,
        warnings=measurable_fpr_warnings(ranking.n_nonmembers, targets),
        roc=downsample_roc(fpr, tpr, n_nonmembers=ranking.n_nonmembers, n_points=roc_points),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
    )


def score_histogram(member_scores: object, nonmember_scores: object, *, bins: int = 30,
                    clip_quantile: float = 0.005) -> dict[str, list[float]]:
    """Histograms of member and non-member scores on shared, equal-width bins.

    The bins span the pooled ``clip_quantile`` to ``1 - clip_quantile`` quantiles, so
    a few extreme scores (losses of hundreds) do not squeeze the rest into one bin;
    scores outside are counted in the end bins. Only counts leave this function (no
    per-record value), so a report built from it holds no training record.
    """
    members = as_scores(member_scores, "member_scores")
    nonmembers = as_scores(nonmember_scores, "nonmember_scores")
    bins = check_count(bins, "bins", 1)
    pooled = np.concatenate((members, nonmembers))
    lo, hi = np.quantile(pooled, [clip_quantile, 1.0 - clip_quantile])
    if not hi > lo:
        lo, hi = float(pooled.min()), float(pooled.max())
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    count = lambda s: np.histogram(np.clip(s, lo, hi), bins=edges)[0]  # noqa: E731
    return {"bins": edges.tolist(), "members": count(members).tolist(), "nonmembers": count(nonmembers).tolist()}
