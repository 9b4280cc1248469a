"""RMIA (Zarifzadeh et al. 2024): the maths against a naive loop, and the attack on a real model."""

import numpy as np
import pytest

from mia_audit.attacks import create_attack, run_reference_attack
from mia_audit.adapters import as_adapter
from mia_audit.errors import InputError
from mia_audit.metrics import auc, tpr_at_fpr
from mia_audit.reference import QuerySignals
from mia_audit.signals import compute_signals

from .reference_setup import adult_setting, auc_se


def references(K=6, N=8, A=2, seed=0):
    g = np.random.default_rng(seed)
    p = g.uniform(0.05, 0.99, size=(K, N, A)).astype(np.float32)
    mask = np.zeros((K, N), bool)
    for i in range(N):
        mask[g.permutation(K)[: K // 2], i] = True
    return QuerySignals(np.log(p / (1 - p)), p), mask


def signals(p):
    p = np.asarray(p, np.float64)
    return QuerySignals(np.log(p / (1 - p)), p)


def naive(ref, mask, p_x, idx, p_z, idx_z, *, offline, a, gamma):
    p = ref.confidence.astype(np.float64).mean(axis=2)  # (K, N): mean over queries

    def marginal(i):
        if offline:
            p_out = np.mean([p[k, i] for k in range(p.shape[0]) if not mask[k, i]])
            return ((1 + a) * p_out + (1 - a)) / 2
        return np.mean(p[:, i])

    out = []
    for j, i in enumerate(idx):
        ratio_x = p_x[j].mean() / marginal(i)
        count = 0
        for jz, iz in enumerate(idx_z):
            ratio_z = p_z[jz].mean() / marginal(iz)
            if ratio_x / ratio_z > gamma:
                count += 1
        out.append(count / len(idx_z))
    return np.array(out)


@pytest.mark.parametrize("offline", [False, True])
@pytest.mark.parametrize("gamma", [1.0, 2.0, 0.5])
def test_scores_equal_a_naive_loop(offline, gamma):
    ref, mask = references()
    g = np.random.default_rng(3)
    p_x, p_z = g.uniform(0.05, 0.99, (4, 2)), g.uniform(0.05, 0.99, (5, 2))
    idx, idx_z = np.array([0, 1, 2, 2]), np.array([3, 4, 5, 6, 7])
    if offline:
        attack = create_attack("rmia-offline", a=0.4, gamma=gamma, break_ties=False)
    else:
        attack = create_attack("rmia-online", gamma=gamma, break_ties=False)
    got = attack.fit_references(ref, mask).score_target(signals(p_x), idx, population=(signals(p_z), idx_z))
    expected = naive(ref, mask, p_x, idx, p_z, idx_z, offline=offline, a=0.4, gamma=gamma)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_ties_are_broken_by_the_ratio_without_changing_the_fraction():
    ref, mask = references()
    g = np.random.default_rng(4)
    p_x, p_z = g.uniform(0.05, 0.99, (40, 2)), g.uniform(0.05, 0.99, (5, 2))
    idx, idx_z = g.integers(0, 3, 40), np.array([3, 4, 5, 6, 7])
    bare = create_attack("rmia-online", break_ties=False).fit_references(ref, mask)
    tied = create_attack("rmia-online").fit_references(ref, mask)
    fraction = bare.score_target(signals(p_x), idx, population=(signals(p_z), idx_z))
    broken = tied.score_target(signals(p_x), idx, population=(signals(p_z), idx_z))
    np.testing.assert_array_equal(np.floor(broken * 5 + 1e-9) / 5, fraction)
    ratio = p_x.mean(axis=1) / tied.p_marginal_[idx]
    np.testing.assert_array_equal(np.argsort(broken, kind="stable"), np.argsort(ratio, kind="stable"))


def test_golden_by_hand():
    # Two models, one record each side: p(x | ref) = 0.5 (IN) and 0.3 (OUT).
    p = np.array([[0.5, 0.5], [0.3, 0.3]], np.float32).reshape(2, 2, 1)
    mask = np.array([[True, True], [False, False]])
    ref = QuerySignals(np.log(p / (1 - p)), p)
    # online: Pr(x) = Pr(z) = 0.4; ratio_x = 0.6 / 0.4 = 1.5, ratio_z = 0.2 / 0.4 = 0.5; LR = 3 > 1.
    s = create_attack("rmia-online", break_ties=False).fit_references(ref, mask).score_target(
        signals([[0.6]]), [0], population=(signals([[0.2]]), [1]))
    np.testing.assert_allclose(s, [1.0])
    s = create_attack("rmia-online", gamma=3.5, break_ties=False).fit_references(ref, mask).score_target(
        signals([[0.6]]), [0], population=(signals([[0.2]]), [1]))
    np.testing.assert_allclose(s, [0.0])
    # offline, a = 0.5: Pr(x) = (1.5 * 0.3 + 0.5) / 2 = 0.475 for both records.
    attack = create_attack("rmia-offline", a=0.5).fit_references(ref, mask)
    np.testing.assert_allclose(attack.p_marginal_, [0.475, 0.475], rtol=1e-6)


def test_bad_inputs_name_the_parameter():
    ref, mask = references()
    with pytest.raises(InputError, match="a must be a number in \\[0, 1\\]; got 1.5"):
        create_attack("rmia-offline", a=1.5)
    with pytest.raises(InputError, match="gamma must be a finite number > 0; got 0"):
        create_attack("rmia-online", gamma=0)
    attack = create_attack("rmia-online").fit_references(ref, mask)
    with pytest.raises(InputError, match="needs population"):
        attack.score_target(signals([[0.5, 0.5]]), [0])
    with pytest.raises(InputError, match="population indices must be integers"):
        attack.score_target(signals([[0.5, 0.5]]), [0], population=(signals([[0.5, 0.5]]), [99]))
    with pytest.raises(InputError, match="reference must be a mia_audit.reference.QuerySignals"):
        create_attack("rmia-online").fit_references(np.zeros((2, 2, 1)), mask)


@pytest.fixture(scope="module")
def adult(tmp_path_factory):
    return adult_setting(tmp_path_factory.getbasetemp() / "adult-references")


def test_rmia_finds_members_of_an_overfitted_model(adult):
    idx = np.r_[adult.members, adult.nonmembers]
    is_member = np.r_[np.ones(len(adult.members), bool), np.zeros(len(adult.nonmembers), bool)]
    sig = compute_signals(as_adapter(adult.target).predict(adult.X[idx]), adult.y[idx])
    loss_tpr = tpr_at_fpr(-sig.loss[is_member], -sig.loss[~is_member], [0.01])[0.01]
    se = auc_se(is_member.sum(), (~is_member).sum())
    for name in ("rmia-online", "rmia-offline"):
        s = run_reference_attack(create_attack(name), adult.store, adult.target, adult.X, adult.y, idx,
                                 population_indices=adult.population)
        assert s.min() >= 0 and s.max() < 1 + 1 / len(adult.population)
        assert auc(s[is_member], s[~is_member]) > 0.5 + 4 * se, name
        assert auc(s[is_member], s[~is_member]) > auc(-sig.loss[is_member], -sig.loss[~is_member]), name
    online = run_reference_attack(create_attack("rmia-online"), adult.store, adult.target, adult.X, adult.y, idx,
                                  population_indices=adult.population)
    assert tpr_at_fpr(online[is_member], online[~is_member], [0.01])[0.01] > loss_tpr


def test_null_control_nonmembers_against_nonmembers(adult):
    half = len(adult.nonmembers) // 2
    a, b = adult.nonmembers[:half], adult.nonmembers[half:]
    for name in ("rmia-online", "rmia-offline"):
        s = run_reference_attack(create_attack(name), adult.store, adult.target, adult.X, adult.y, np.r_[a, b],
                                 population_indices=adult.population)
        value = auc(s[: len(a)], s[len(a):])
        assert abs(value - 0.5) < 4 * auc_se(len(a), len(b)), f"{name}: null AUC {value:.3f}"


def _gamma_setting(seed=11):
    """Fixed-seed synthetic references (K=8 models, 80 pool records, 3 queries); 40 scored
    records (20 members with a raised target confidence) and 40 further pool records as z."""
    ref, mask = references(K=8, N=80, A=3, seed=seed)
    g = np.random.default_rng(seed + 1)
    idx = np.arange(40)
    is_member = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    p_x = np.clip(g.uniform(0.05, 0.95, (40, 3)) + 0.15 * is_member[:, None], 0.01, 0.99)
    p_z = g.uniform(0.05, 0.95, (40, 3))
    return ref, mask, idx, is_member, p_x, p_z, np.arange(40, 80)


@pytest.mark.parametrize("name", ["rmia-online", "rmia-offline"])
def test_with_break_ties_gamma_and_population_size_do_not_change_the_ranking(name):
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    ref, mask, idx, is_member, p_x, p_z, idx_z = _gamma_setting()
    runs = {}
    for gamma in (1.0, 2.5):
        for m in (10, 40):  # two population sizes: the first 10 z, all 40
            attack = create_attack(name, gamma=gamma).fit_references(ref, mask)
            runs[gamma, m] = attack.score_target(signals(p_x), idx, population=(signals(p_z[:m]), idx_z[:m]))
    ratio = p_x.mean(axis=1) / attack.p_marginal_[idx]
    first = runs[1.0, 10]
    for key, s in runs.items():
        # the scores themselves move with gamma and m ...
        if key != (1.0, 10):
            assert not np.array_equal(s, first), key
        # ... but the ranking (ties included) is that of ratio(x) = Pr(x | theta) / Pr(x), for every gamma and m
        np.testing.assert_array_equal(rankdata(s, method="min"), rankdata(ratio, method="min"), err_msg=str(key))
        np.testing.assert_array_equal(np.argsort(s, kind="stable"), np.argsort(first, kind="stable"))
        assert auc(s[is_member], s[~is_member]) == auc(first[is_member], first[~is_member])
        assert abs(roc_auc_score(is_member, s) - roc_auc_score(is_member, first)) <= 1e-12
        assert tpr_at_fpr(s[is_member], s[~is_member], [0.05, 0.1]) == \
            tpr_at_fpr(first[is_member], first[~is_member], [0.05, 0.1])


@pytest.mark.parametrize("name", ["rmia-online", "rmia-offline"])
def test_without_break_ties_gamma_changes_the_scores_and_their_ranking(name):
    from scipy.stats import rankdata

    ref, mask, idx, is_member, p_x, p_z, idx_z = _gamma_setting()
    scores = [create_attack(name, gamma=gamma, break_ties=False).fit_references(ref, mask)
              .score_target(signals(p_x), idx, population=(signals(p_z), idx_z)) for gamma in (1.0, 2.5)]
    assert not np.array_equal(scores[0], scores[1])
    assert not np.array_equal(rankdata(scores[0], method="min"), rankdata(scores[1], method="min"))
