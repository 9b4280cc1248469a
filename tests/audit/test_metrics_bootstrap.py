"""Bootstrap intervals: the one-sort weighted computation against explicit resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia_audit.errors import InputError
from mia_audit.metrics import (ScoreRanking, advantage_from_roc, auc, auc_and_tpr_at_fpr_from_counts,
                           auc_from_counts, roc_from_counts, tpr_at_fpr, tpr_at_fpr_from_roc)
from mia_audit.metrics.bootstrap import bootstrap_ci, bootstrap_replicates, resample_weights

FPRS = (0.001, 0.01, 0.05, 0.1, 0.3)


def scores(seed: int, n1: int, n0: int, *, shift: float = 1.0, decimals: int | None = 1):
    g = np.random.default_rng(seed)
    m, n = g.normal(shift, 1.0, n1), g.normal(0.0, 1.0, n0)
    if decimals is not None:
        m, n = np.round(m, decimals), np.round(n, decimals)
    return m, n


def test_all_ones_weights_equal_unweighted_exactly():
    m, n = scores(0, 700, 900)
    r = ScoreRanking(m, n)
    pos, neg = r.counts(np.ones(700), np.ones(900))
    np.testing.assert_array_equal(pos, r.member_counts)
    np.testing.assert_array_equal(neg, r.nonmember_counts)
    fpr, tpr = roc_from_counts(r.member_counts, r.nonmember_counts)
    w_fpr, w_tpr = roc_from_counts(pos, neg)
    np.testing.assert_array_equal(w_fpr, fpr)
    np.testing.assert_array_equal(w_tpr, tpr)
    w_auc, w_tprs = auc_and_tpr_at_fpr_from_counts(pos, neg, FPRS)
    assert w_auc == auc_from_counts(pos, neg) == auc(m, n)
    assert dict(zip(FPRS, w_tprs.tolist())) == tpr_at_fpr(m, n, FPRS)
    assert advantage_from_roc(w_fpr, w_tpr) == advantage_from_roc(fpr, tpr)


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_fast_resample_equals_explicit_resample(decimals):
    m, n = scores(1, 400, 600, decimals=decimals)
    r = ScoreRanking(m, n)
    aucs, tprs = bootstrap_replicates(r, fprs=FPRS, n_resamples=4, seed=5)
    for i, (wm, wn) in enumerate(resample_weights(400, 600, n_resamples=4, seed=5)):
        assert wm.sum() == 400 and wn.sum() == 600 and wm.max() > 1
        rm = np.repeat(r.sorted_member_scores, wm)  # the explicit resample
        rn = np.repeat(r.sorted_nonmember_scores, wn)
        y = np.r_[np.ones(rm.size), np.zeros(rn.size)]
        assert abs(aucs[i] - roc_auc_score(y, np.r_[rm, rn])) < 1e-12
        # naive TPR@FPR on the resample: best TPR over thresholds with FPR <= target
        ts = np.r_[np.inf, np.unique(np.r_[rm, rn])]
        pts = [(np.sum(rn >= t) / rn.size, np.sum(rm >= t) / rm.size) for t in ts]
        expected = [max(y_ for x_, y_ in pts if x_ <= f) for f in FPRS]
        np.testing.assert_allclose(tprs[i], expected, rtol=0, atol=1e-15)
        # and the weighted counts give the same full curve as the re-sorted resample
        fpr_w, tpr_w = roc_from_counts(*r.counts(wm, wn))
        assert tpr_at_fpr_from_roc(fpr_w, tpr_w, FPRS).tolist() == tprs[i].tolist()


def test_ci_contains_point_estimate_and_is_reproducible():
    m, n = scores(2, 1500, 2500, decimals=2)
    ci = bootstrap_ci(m, n, fprs=FPRS, n_resamples=100, seed=11)
    point = auc(m, n)
    assert ci.auc[0] < point < ci.auc[1]
    for f, v in tpr_at_fpr(m, n, FPRS).items():
        lo, hi = ci.tpr_at_fpr[f]
        assert lo <= v <= hi
    assert (ci.confidence, ci.n_resamples) == (0.95, 100)
    assert bootstrap_ci(m, n, fprs=FPRS, n_resamples=100, seed=11) == ci
    other = bootstrap_ci(m, n, fprs=FPRS, n_resamples=100, seed=12)
    assert other.auc != ci.auc


def test_ci_does_not_depend_on_input_order():
    m, n = scores(3, 300, 400)
    g = np.random.default_rng(0)
    a = bootstrap_ci(m, n, n_resamples=30, seed=4)
    b = bootstrap_ci(g.permutation(m), g.permutation(n), n_resamples=30, seed=4)
    assert a == b


def test_bootstrap_standard_error_matches_theory_under_null():
    # Same distribution for both: the AUC's standard error is sqrt((n1+n0+1)/(12 n1 n0)).
    g = np.random.default_rng(99)
    n1 = n0 = 2000
    m, n = g.normal(size=n1), g.normal(size=n0)
    aucs, _ = bootstrap_replicates(ScoreRanking(m, n), n_resamples=200, seed=1)
    se = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    assert 0.8 * se < aucs.std(ddof=1) < 1.25 * se


def test_interval_narrows_with_lower_confidence():
    m, n = scores(4, 500, 500)
    wide = bootstrap_ci(m, n, n_resamples=60, seed=0, confidence=0.99).auc
    narrow = bootstrap_ci(m, n, n_resamples=60, seed=0, confidence=0.5).auc
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_inputs_unchanged():
    m, n = scores(5, 200, 300)
    m.flags.writeable = False
    n.flags.writeable = False
    bootstrap_ci(m, n, n_resamples=5, seed=0)


@pytest.mark.parametrize("kwargs,message", [
    ({"n_resamples": 0}, r"^n_resamples must be an integer >= 1; got 0"),
    ({"n_resamples": -3}, r"^n_resamples must be an integer >= 1; got -3"),
    ({"confidence": 1.0}, r"^confidence must be a number in the open interval \(0, 1\); got 1.0"),
    ({"fprs": (0.0,)}, r"^fprs must be"),
    ({"seed": "x"}, r"^seed must be an integer"),
])
def test_bad_parameters_raise(kwargs, message):
    args = {"n_resamples": 5, "seed": 0, **kwargs}
    with pytest.raises(InputError, match=message):
        bootstrap_ci([1.0, 2.0], [0.0], **args)


def test_resample_weights_checks_eagerly():
    with pytest.raises(InputError, match="^n_resamples must be an integer >= 0; got -1"):
        resample_weights(3, 3, n_resamples=-1, seed=0)
