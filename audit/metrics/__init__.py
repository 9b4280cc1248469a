"""Membership-inference metrics, all computed from one sort of the scores.

* :mod:`.ranking`: the primitives (one :class:`ScoreRanking`; ROC, AUC, TPR at FPR, advantage);
* :mod:`.bootstrap`: percentile bootstrap intervals from the same ranking;
* :mod:`.bounds`: the empirical epsilon lower bound (Clopper-Pearson);
* :mod:`.evaluate`: :func:`evaluate`, every figure of one attack at once.

Members are the positive class and a HIGHER score means MORE likely a member.
"""

from .bootstrap import BootstrapCI, bootstrap_ci, bootstrap_ci_from_ranking, bootstrap_replicates, resample_weights
from .bounds import clopper_pearson_lower, clopper_pearson_upper, epsilon_lower_bound, epsilon_lower_bound_from_counts
from .evaluate import MembershipMetrics, downsample_roc, evaluate, measurable_fpr_warnings, score_histogram
from .ranking import (DEFAULT_FPRS, MAX_BOOTSTRAP, ScoreRanking, advantage, advantage_from_roc, as_scores, auc,
                      auc_and_tpr_at_fpr_from_counts, auc_from_counts, check_confidence, check_count, check_fprs,
                      fpr_key, nonmembers_needed, roc_curve, roc_from_counts, tpr_at_fpr, tpr_at_fpr_from_roc)

__all__ = [
    "BootstrapCI", "bootstrap_ci", "bootstrap_ci_from_ranking", "bootstrap_replicates", "resample_weights",
    "clopper_pearson_lower", "clopper_pearson_upper", "epsilon_lower_bound", "epsilon_lower_bound_from_counts",
    "MembershipMetrics", "downsample_roc", "evaluate", "measurable_fpr_warnings", "score_histogram",
    "DEFAULT_FPRS", "MAX_BOOTSTRAP", "ScoreRanking", "advantage", "advantage_from_roc", "as_scores", "auc",
    "auc_and_tpr_at_fpr_from_counts", "auc_from_counts", "check_confidence", "check_count", "check_fprs",
    "fpr_key", "nonmembers_needed", "roc_curve", "roc_from_counts", "tpr_at_fpr", "tpr_at_fpr_from_roc",
]
