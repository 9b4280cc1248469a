"""Metrics core: against scikit-learn, hand-computed cases and naive loops."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import beta
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from mia_audit.errors import InputError
from mia_audit.metrics import (ScoreRanking, advantage, auc, evaluate, measurable_fpr_warnings, roc_curve,
                           tpr_at_fpr)
from mia_audit.metrics.bounds import (clopper_pearson_lower, clopper_pearson_upper, epsilon_lower_bound,
                                  epsilon_lower_bound_from_counts)


def scores(seed: int, n1: int, n0: int, *, shift: float = 0.5, decimals: int | None = None):
    g = np.random.default_rng(seed)
    m, n = g.normal(shift, 1.0, n1), g.normal(0.0, 1.0, n0)
    if decimals is not None:  # many ties, also across members and non-members
        m, n = np.round(m, decimals), np.round(n, decimals)
    return m, n


def labelled(m, n):
    return np.r_[np.ones(m.size), np.zeros(n.size)], np.r_[m, n]


CASES = [(0, 300, 500, None), (1, 1000, 700, 1), (2, 50, 2000, 0), (3, 400, 400, 2), (4, 1, 30, 1)]


def naive_points(m, n):
    """Every threshold, the slow way: (fpr, tpr) for 'score >= t', t in +inf and all scores."""
    ts = np.r_[np.inf, np.unique(np.r_[m, n])[::-1]]
    return [(np.sum(n >= t) / n.size, np.sum(m >= t) / m.size) for t in ts]


# ---------------------------------------------------------------- scikit-learn parity


@pytest.mark.parametrize("seed,n1,n0,decimals", CASES)
def test_roc_curve_equals_sklearn(seed, n1, n0, decimals):
    m, n = scores(seed, n1, n0, decimals=decimals)
    fpr, tpr, thr = roc_curve(m, n)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(*labelled(m, n), drop_intermediate=False)
    assert fpr.shape == sk_fpr.shape
    np.testing.assert_allclose(fpr, sk_fpr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, rtol=0, atol=1e-12)
    assert thr[0] == np.inf and sk_thr[0] == np.inf
    np.testing.assert_allclose(thr[1:], sk_thr[1:], rtol=0, atol=1e-12)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)


@pytest.mark.parametrize("seed,n1,n0,decimals", CASES)
def test_auc_equals_sklearn(seed, n1, n0, decimals):
    m, n = scores(seed, n1, n0, decimals=decimals)
    assert abs(auc(m, n) - roc_auc_score(*labelled(m, n))) < 1e-12


# ---------------------------------------------------------------- golden tiny cases


def test_golden_no_ties():
    # Descending: 3 (m), 2.5 (n), 2 (m), 1 (n). ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1).
    m, n = [3.0, 2.0], [1.0, 2.5]
    fpr, tpr, thr = roc_curve(m, n)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert thr.tolist() == [np.inf, 3, 2.5, 2, 1]
    assert auc(m, n) == 0.75  # pairs won: (3,1) (3,2.5) (2,1); lost: (2,2.5)
    assert tpr_at_fpr(m, n, (0.1, 0.4999, 0.5, 0.99)) == {0.1: 0.5, 0.4999: 0.5, 0.5: 1.0, 0.99: 1.0}
    assert advantage(m, n) == 0.5


def test_golden_ties_across_classes():
    # Score 1: two members and one non-member, tied; score 0: one non-member.
    m, n = [1.0, 1.0], [1.0, 0.0]
    fpr, tpr, thr = roc_curve(m, n)
    assert fpr.tolist() == [0, 0.5, 1] and tpr.tolist() == [0, 1, 1]
    assert auc(m, n) == 0.75  # P(>) = 2/4, P(tie) = 2/4
    # The tie hides every member behind a false positive: no TPR below FPR 0.5.
    assert tpr_at_fpr(m, n, (0.25, 0.5)) == {0.25: 0.0, 0.5: 1.0}
    assert advantage(m, n) == 0.5


def test_golden_perfect_separation_and_all_tied():
    assert auc([2, 3], [0, 1]) == 1.0 and advantage([2, 3], [0, 1]) == 1.0
    assert tpr_at_fpr([2, 3], [0, 1], (0.01,)) == {0.01: 1.0}
    assert auc([0, 1], [2, 3]) == 0.0 and advantage([0, 1], [2, 3]) == 0.0
    assert auc([5, 5, 5], [5, 5]) == 0.5 and advantage([5, 5, 5], [5, 5]) == 0.0
    assert tpr_at_fpr([5, 5, 5], [5, 5], (0.9,)) == {0.9: 0.0}


def test_tpr_at_fpr_is_not_interpolated():
    # 10 non-members; FPR steps of 0.1. At FPR 0.15 the exact value is the TPR at
    # FPR 0.1 (0.5), not a value interpolated towards the next point (0.2, 1.0).
    n = np.arange(10, dtype=float)  # 0..9
    m = np.array([9.5, 9.5, 8.5, 8.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5])
    # thresholds: 9.5 -> (0, .2); 9 -> (.1, .2); 8.5 -> (.1, .4); 8 -> (.2, .4); 7.5 -> (.2, 1)
    assert tpr_at_fpr(m, n, (0.05, 0.1, 0.15, 0.2)) == {0.05: 0.2, 0.1: 0.4, 0.15: 0.4, 0.2: 1.0}


def test_ranking_groups_ties():
    r = ScoreRanking([3.0, 1.0, 1.0, -0.0], [1.0, 0.0, 2.0])
    assert r.values.tolist() == [3.0, 2.0, 1.0, 0.0]
    assert r.member_counts.tolist() == [1, 0, 2, 1] and r.nonmember_counts.tolist() == [0, 1, 1, 1]
    assert r.sorted_member_scores.tolist() == [3.0, 1.0, 1.0, 0.0]
    assert r.member_group.tolist() == [0, 2, 2, 3] and r.nonmember_group.tolist() == [1, 2, 3]
    with pytest.raises(ValueError):  # shared arrays are read-only
        r.member_counts[0] = 5.0


# ---------------------------------------------------------------- naive loops


@pytest.mark.parametrize("seed,n1,n0,decimals", CASES)
def test_tpr_at_fpr_and_advantage_equal_naive_loop(seed, n1, n0, decimals):
    m, n = scores(seed, n1, n0, shift=1.0, decimals=decimals)
    targets = (0.001, 0.003, 0.01, 0.05, 0.1, 0.5, 0.9)
    points = naive_points(m, n)
    expected = {f: max(t for (x, t) in points if x <= f) for f in targets}
    assert tpr_at_fpr(m, n, targets) == expected
    assert advantage(m, n) == pytest.approx(max(t - x for (x, t) in points), abs=1e-15)


def test_one_sort_of_the_samples(monkeypatch):
    m, n = scores(5, 600, 700)
    big = []
    for name in ("argsort", "sort"):
        original = getattr(np, name)

        def counting(a, *args, _original=original, _name=name, **kwargs):
            if np.size(a) >= 600:
                big.append((_name, np.size(a)))
            return _original(a, *args, **kwargs)

        monkeypatch.setattr(np, name, counting)
    evaluate(m, n, n_bootstrap=20, seed=0)
    # Each array sorted by value once, then one stable argsort merges the two runs.
    assert sorted(big) == [("argsort", 1300), ("sort", 600), ("sort", 700)]


# ---------------------------------------------------------------- statistics


def test_null_control_auc_within_4_standard_errors():
    g = np.random.default_rng(20240611)
    n1 = n0 = 2000
    m, n = g.normal(size=n1), g.normal(size=n0)
    se = math.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    assert abs(auc(m, n) - 0.5) < 4 * se


def test_strong_attack_scores_well_above_half():
    m, n = scores(11, 2000, 2000, shift=2.0)
    assert auc(m, n) > 0.9 and advantage(m, n) > 0.6


# ---------------------------------------------------------------- epsilon lower bound


def naive_epsilon(m, n, confidence, delta):
    n1, n0 = len(m), len(n)
    best = 0.0
    ts = np.r_[np.inf, np.unique(np.r_[m, n])]
    tp = np.array([np.sum(m >= t) for t in ts])
    fp = np.array([np.sum(n >= t) for t in ts])
    for a, a_n, b, b_n in ((tp, n1, fp, n0), (n0 - fp, n0, n1 - tp, n1)):
        lo = clopper_pearson_lower(a, a_n, confidence) - delta
        hi = clopper_pearson_upper(b, b_n, confidence)
        ok = lo > 0
        if ok.any():
            best = max(best, float(np.max(np.log(lo[ok] / hi[ok]))))
    return best


def test_epsilon_golden_perfect_separation():
    n1 = n0 = 1000
    m, n = np.arange(n1) + 1000.0, np.arange(n0, dtype=float)
    # Best threshold: TP = 1000 of 1000, FP = 0 of 1000. Clopper-Pearson at 95 %:
    # TPR_lo = 0.05 ** (1/1000) (Beta(1000, 1) quantile), FPR_hi = 1 - 0.05 ** (1/1000).
    q = 0.05 ** (1 / 1000)
    expected = math.log(q / (1 - q))
    assert expected == pytest.approx(5.809068, abs=1e-6)
    assert epsilon_lower_bound(m, n) == pytest.approx(expected, rel=1e-10)
    assert epsilon_lower_bound(m, n, delta=0.1) == pytest.approx(math.log((q - 0.1) / (1 - q)), rel=1e-10)
    q99 = 0.01 ** (1 / 1000)
    assert epsilon_lower_bound(m, n, confidence=0.99) == pytest.approx(math.log(q99 / (1 - q99)), rel=1e-10)


def test_clopper_pearson_bounds_match_beta_quantiles():
    k, n = np.array([0, 3, 10]), 10
    lo, hi = clopper_pearson_lower(k, n, 0.9), clopper_pearson_upper(k, n, 0.9)
    assert lo[0] == 0.0 and hi[-1] == 1.0
    assert lo[1] == pytest.approx(beta.ppf(0.1, 3, 8)) and hi[1] == pytest.approx(beta.ppf(0.9, 4, 7))
    assert hi[0] == pytest.approx(1 - 0.1 ** (1 / 10)) and lo[2] == pytest.approx(0.1 ** (1 / 10))


@pytest.mark.parametrize("seed,n1,n0,decimals,shift,confidence,delta", [
    (0, 800, 600, None, 1.5, 0.95, 0.0), (1, 500, 900, 1, 3.0, 0.9, 0.0), (2, 1000, 1000, None, 0.3, 0.95, 0.0),
    (3, 700, 400, 0, 2.0, 0.99, 1e-3), (4, 300, 300, None, -2.0, 0.95, 0.0), (5, 1500, 200, 2, 4.0, 0.8, 0.05)])
def test_epsilon_search_equals_every_threshold(seed, n1, n0, decimals, shift, confidence, delta):
    m, n = scores(seed, n1, n0, shift=shift, decimals=decimals)
    got = epsilon_lower_bound(m, n, confidence=confidence, delta=delta)
    assert got == pytest.approx(naive_epsilon(m, n, confidence, delta), rel=1e-12, abs=1e-12)


def test_epsilon_null_control_near_zero():
    g = np.random.default_rng(77)
    m, n = g.normal(size=2000), g.normal(size=2000)
    assert epsilon_lower_bound(m, n) < 0.15


def test_epsilon_symmetric_in_direction_and_monotone_in_confidence():
    m, n = scores(8, 600, 600, shift=1.5, decimals=1)
    e = epsilon_lower_bound(m, n)
    assert e > 0.5
    assert epsilon_lower_bound(-n, -m) == pytest.approx(e, rel=1e-12)  # TNR/FNR side mirrors TPR/FPR
    assert epsilon_lower_bound(m, n, confidence=0.99) < e < epsilon_lower_bound(m, n, confidence=0.6)


# ---------------------------------------------------------------- warnings and evaluate


def test_measurable_fpr_warnings():
    assert measurable_fpr_warnings(3000, (0.001, 0.01, 0.1)) == [
        "TPR at FPR 0.001 is unreliable: it needs at least 10000 non-members, have 3000"]
    assert measurable_fpr_warnings(10000, (0.001,)) == []
    assert len(measurable_fpr_warnings(9999, (0.001,))) == 1
    assert measurable_fpr_warnings(50, (0.3,)) == []  # 10 / 0.3 -> 34 needed
    assert "needs at least 34" in measurable_fpr_warnings(33, (0.3,))[0]


def test_evaluate_fields_and_json():
    m, n = scores(9, 1500, 3000, shift=1.0, decimals=2)
    r = evaluate(m, n, n_bootstrap=50, seed=3)
    assert r.auc == auc(m, n) and r.advantage == advantage(m, n)
    assert r.tpr_at_fpr == tpr_at_fpr(m, n)
    assert r.epsilon_lower_bound == epsilon_lower_bound(m, n)
    assert (r.n_members, r.n_nonmembers) == (1500, 3000)
    assert r.warnings == measurable_fpr_warnings(3000, (0.001, 0.01, 0.1)) and len(r.warnings) == 1
    lo, hi = r.auc_ci
    assert lo <= r.auc <= hi
    assert set(r.tpr_at_fpr_ci) == {0.001, 0.01, 0.1}
    d = json.loads(json.dumps(r.to_dict()))
    assert list(d["tpr_at_fpr"]) == ["0.001", "0.01", "0.1"] and list(d["tpr_at_fpr_ci"]) == ["0.001", "0.01", "0.1"]
    assert d["auc"] == r.auc and d["auc_ci"] == [lo, hi]
    with pytest.raises(AttributeError):
        r.auc = 0.0  # frozen


def test_evaluate_without_bootstrap():
    r = evaluate([3.0, 2.0], [1.0, 2.5], n_bootstrap=0, seed=0)
    assert r.auc_ci is None and r.tpr_at_fpr_ci is None
    d = r.to_dict()
    assert d["auc_ci"] is None and d["tpr_at_fpr_ci"] is None and d["auc"] == 0.75


def test_downsampled_roc_keeps_exact_points():
    m, n = scores(10, 20000, 20000, shift=1.0)
    fpr, tpr, _ = roc_curve(m, n)
    roc = evaluate(m, n, n_bootstrap=0, seed=0).roc
    assert 100 <= len(roc["fpr"]) <= 202
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    exact = set(zip(fpr.tolist(), tpr.tolist()))
    assert all(p in exact for p in zip(roc["fpr"], roc["tpr"]))
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    # At every grid FPR the top of the vertical step (the TPR@FPR point) is kept.
    grid = np.logspace(-math.log10(20000), 0, 100)[:-1]
    kept = list(zip(roc["fpr"], roc["tpr"]))
    for f, best in tpr_at_fpr(m, n, grid).items():
        assert any(x <= f and y == best for x, y in kept)


def test_inputs_are_not_modified():
    m, n = scores(12, 300, 400, decimals=1)
    m.flags.writeable = False  # any write would raise
    n.flags.writeable = False
    m_copy, n_copy = m.copy(), n.copy()
    evaluate(m, n, n_bootstrap=10, seed=1)
    roc_curve(m, n), auc(m, n), tpr_at_fpr(m, n), advantage(m, n), epsilon_lower_bound(m, n)
    np.testing.assert_array_equal(m, m_copy)
    np.testing.assert_array_equal(n, n_copy)
    lists = ([1.0, 2.0], [0.5])
    evaluate(*lists, n_bootstrap=5, seed=0)
    assert lists == ([1.0, 2.0], [0.5])


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize("member,nonmember,param,given", [
    ([1.0, np.nan], [0.0], "member_scores", "nan"),
    ([1.0], [0.0, np.inf], "nonmember_scores", "inf"),
    ([1.0], [-np.inf], "nonmember_scores", "-inf"),
    ([], [0.0], "member_scores", "empty"),
    ([1.0], [], "nonmember_scores", "empty"),
    ([[1.0, 2.0]], [0.0], "member_scores", "(1, 2)"),
    ([1.0], 0.5, "nonmember_scores", "shape ()"),
    (["a"], [0.0], "member_scores", "not numbers"),
])
def test_bad_scores_raise(member, nonmember, param, given):
    for call in (lambda: auc(member, nonmember), lambda: evaluate(member, nonmember, seed=0),
                 lambda: epsilon_lower_bound(member, nonmember)):
        with pytest.raises(InputError) as info:
            call()
        text = str(info.value)
        assert text.startswith(param) and "finite" in text and given in text


@pytest.mark.parametrize("fprs", [(0.0,), (1.0,), (0.01, -0.1), (1.5,), (float("nan"),), ("0.1",), None])
def test_bad_fprs_raise(fprs):
    for call in (lambda: tpr_at_fpr([1.0], [0.0], fprs), lambda: evaluate([1.0], [0.0], fprs=fprs, seed=0),
                 lambda: measurable_fpr_warnings(10, fprs)):
        with pytest.raises(InputError, match=r"^fprs must be a sequence of numbers in the open interval \(0, 1\); got"):
            call()


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.2, float("nan"), True, "0.9"])
def test_bad_confidence_raises(confidence):
    with pytest.raises(InputError, match=r"^confidence must be a number in the open interval \(0, 1\); got"):
        evaluate([1.0], [0.0], confidence=confidence, seed=0)
    with pytest.raises(InputError, match=r"^confidence must be"):
        epsilon_lower_bound([1.0], [0.0], confidence=confidence)


@pytest.mark.parametrize("n_bootstrap", [-1, 2.5, True, 10**12])
def test_bad_n_bootstrap_raises(n_bootstrap):
    """Issue 11 §7: 10**12 resamples used to be accepted (and ended in a MemoryError)."""
    with pytest.raises(InputError, match=r"^n_bootstrap must be an integer from 0 to 100,000; got " + repr(n_bootstrap)):
        evaluate([1.0], [0.0], n_bootstrap=n_bootstrap, seed=0)


def test_other_bad_parameters_raise():
    with pytest.raises(InputError, match="^seed must be"):
        evaluate([1.0], [0.0], seed=-1)
    with pytest.raises(TypeError):
        evaluate([1.0], [0.0])  # seed is required
    with pytest.raises(InputError, match=r"^delta must be a number in \[0, 1\); got 1.0"):
        epsilon_lower_bound([1.0], [0.0], delta=1.0)
    with pytest.raises(InputError, match="^roc_points must be an integer >= 2; got 1"):
        evaluate([1.0], [0.0], seed=0, roc_points=1)
    with pytest.raises(InputError, match="^member_weights must be 2 finite non-negative"):
        ScoreRanking([1.0, 2.0], [0.0]).counts(np.array([1.0, -1.0]), None)


def test_epsilon_from_counts_matches_public_function():
    m, n = scores(13, 400, 500, shift=1.0, decimals=1)
    r = ScoreRanking(m, n)
    assert epsilon_lower_bound_from_counts(r.member_counts, r.nonmember_counts) == epsilon_lower_bound(m, n)


def test_score_histogram_counts_every_score_on_shared_bins():
    from mia_audit.metrics import score_histogram

    g = np.random.default_rng(0)
    m, n = g.normal(1, 1, 500), np.r_[g.normal(0, 1, 400), [-1e6]]  # one extreme score
    h = score_histogram(m, n, bins=20)
    assert len(h["bins"]) == 21 and len(h["members"]) == len(h["nonmembers"]) == 20
    assert sum(h["members"]) == 500 and sum(h["nonmembers"]) == 401
    assert h["bins"][0] > -10  # the extreme score is clipped into the first bin, not stretching it
    assert h["nonmembers"][0] >= 1
    # members sit to the right of non-members
    centres = (np.array(h["bins"][1:]) + np.array(h["bins"][:-1])) / 2
    assert np.average(centres, weights=h["members"]) > np.average(centres, weights=h["nonmembers"])
    tie = score_histogram(np.ones(3), np.ones(2), bins=4)
    assert sum(tie["members"]) == 3 and sum(tie["nonmembers"]) == 2
