"""Parity with TensorFlow Privacy 0.8.12's membership-inference module on identical inputs.

Skipped when it is not installed (the README's test command installs it, so CI runs these).
"""

import numpy as np
import pytest

from mia_audit.attacks import create_attack
from mia_audit.metrics import auc
from mia_audit.outputs import Outputs
from mia_audit.signals import Signals, compute_signals
from mia_audit.tfp_interop import (
    _binary_clf_curve,
    run_tfp_attacks,
    signals_from_attack_input_data,
    tfp_available,
    to_attack_input_data,
)

pytestmark = [
    pytest.mark.skipif(not tfp_available(), reason="tensorflow-privacy 0.8.12 is not installed"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # inside its epsilon bound
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # its LogisticRegression(n_jobs=...)
]


def auc_se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


@pytest.fixture(scope="module")
def inputs():
    """Outputs of a fitted-looking model: members get larger true-class margins."""
    g = np.random.default_rng(7)
    n1, n0, c = 3000, 2500, 5
    y1, y0 = g.integers(0, c, n1), g.integers(0, c, n0)
    l1, l0 = g.normal(size=(n1, c)), g.normal(size=(n0, c))
    l1[np.arange(n1), y1] += 2.2
    l0[np.arange(n0), y0] += 1.6
    return Outputs("logits", l1, c), y1, Outputs("logits", l0, c), y0


def our_auc(attack, members, nonmembers):
    both = Signals.concat([members, nonmembers])
    is_member = np.r_[np.ones(len(members), bool), np.zeros(len(nonmembers), bool)]
    s = create_attack(attack, seed=0).membership_scores(both, is_member)
    return auc(s[is_member], s[~is_member])


def test_loss_and_modified_entropy_match_its_threshold_attacks(inputs):
    m, y1, n, y0 = inputs
    sm, sn = compute_signals(m, y1), compute_signals(n, y0)
    theirs = run_tfp_attacks(to_attack_input_data(m, y1, n, y0), ["THRESHOLD_ATTACK", "THRESHOLD_ENTROPY_ATTACK"])
    assert abs(our_auc("loss", sm, sn) - theirs["THRESHOLD_ATTACK"].get_auc()) < 1e-9
    # with labels, its entropy attack is Song & Mittal's modified entropy
    assert abs(our_auc("modified-entropy", sm, sn) - theirs["THRESHOLD_ENTROPY_ATTACK"].get_auc()) < 1e-9


def test_entropy_matches_its_label_free_entropy_attack(inputs):
    m, y1, n, y0 = inputs
    sm, sn = compute_signals(m, y1), compute_signals(n, y0)
    theirs = run_tfp_attacks(to_attack_input_data(m, y1, n, y0, with_labels=False), ["THRESHOLD_ENTROPY_ATTACK"])
    assert abs(our_auc("entropy", sm, sn) - theirs["THRESHOLD_ENTROPY_ATTACK"].get_auc()) < 1e-9


def test_loss_lr_matches_its_logistic_regression_within_sampling_error(inputs):
    m, y1, n, y0 = inputs
    sm, sn = compute_signals(m, y1), compute_signals(n, y0)
    # its LR sees only the loss when given only losses
    from mia_audit.tfp_interop import tfp_data_structures

    data = tfp_data_structures().AttackInputData(loss_train=sm.loss.copy(), loss_test=sn.loss.copy())
    theirs = run_tfp_attacks(data, ["LOGISTIC_REGRESSION"])["LOGISTIC_REGRESSION"].get_auc()
    ours = our_auc("loss-lr", sm, sn)
    # its AUC is measured on its own held-out split (about 30 %): the SE of that estimate dominates
    se = auc_se(0.3 * len(sm), 0.3 * len(sn))
    assert abs(ours - theirs) < 4 * se, (ours, theirs)


def test_round_trip_of_attack_input_data(inputs):
    m, y1, n, y0 = inputs
    sm, sn = signals_from_attack_input_data(to_attack_input_data(m, y1, n, y0))
    np.testing.assert_allclose(sm.loss, compute_signals(m, y1).loss, rtol=1e-12)
    np.testing.assert_allclose(sn.modified_entropy, compute_signals(n, y0).modified_entropy, rtol=1e-12)


def test_inputs_are_not_mutated(inputs):
    m, y1, n, y0 = inputs
    before = [m.values.copy(), y1.copy(), n.values.copy(), y0.copy()]
    run_tfp_attacks(to_attack_input_data(m, y1, n, y0), ["THRESHOLD_ATTACK"])
    for a, b in zip(before, [m.values, y1, n.values, y0]):
        np.testing.assert_array_equal(a, b)


def test_binary_clf_curve_replacement_matches_a_naive_loop():
    g = np.random.default_rng(1)
    s = np.round(g.normal(size=300), 1)
    y = g.integers(0, 2, 300)
    fps, tps, thr = _binary_clf_curve(y, s)
    for t, fp, tp in zip(thr, fps, tps):
        assert fp == np.sum((s >= t) & (y == 0)) and tp == np.sum((s >= t) & (y == 1))
    assert np.all(np.diff(thr) < 0)
