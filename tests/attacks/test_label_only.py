"""The gap attack (label-only, Yeom et al. 2018): registration, scores and its exact AUC identity."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia_audit.attacks import ATTACKS, create_attack
from mia_audit.metrics import advantage, auc
from mia_audit.outputs import Outputs
from mia_audit.signals import Signals, compute_signals


def _signals(correct):
    return Signals(correct=np.asarray(correct, dtype=np.float64))


def test_registered_as_gap_and_reads_only_correctness():
    assert "gap" in ATTACKS.names()
    attack = create_attack("gap", seed=0)
    assert attack.requires == ("correct",) and not attack.requires_fit
    assert "Yeom" in attack.reference and ATTACKS.describe("gap")


def test_score_is_one_when_correct_else_zero():
    sig = compute_signals(Outputs("logits", np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]]), 2), [0, 0, 0])
    scores = create_attack("gap").score(sig)
    np.testing.assert_array_equal(scores, [1.0, 0.0, 1.0])
    assert scores.dtype == np.float64
    scores[:] = 7.0  # the scores are a copy, not a view of the signals
    np.testing.assert_array_equal(sig.correct, [1.0, 0.0, 1.0])


def test_runs_on_label_only_outputs():
    sig = compute_signals(Outputs("labels", np.array([0, 1, 1, 0]), 2), [0, 1, 0, 0])
    assert sig.loss is None
    np.testing.assert_array_equal(create_attack("gap").membership_scores(sig, np.array([1, 1, 0, 0])),
                                  [1.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize("acc_m, acc_n, n_m, n_n", [
    (0.94, 0.79, 300, 300), (0.6, 0.8, 123, 457), (1.0, 0.5, 50, 80), (0.0, 1.0, 40, 40), (0.5, 0.5, 99, 101),
])
def test_auc_is_half_plus_half_the_accuracy_gap(acc_m, acc_n, n_m, n_n):
    g = np.random.default_rng(int(acc_m * 100 + acc_n * 10))
    cm = np.zeros(n_m)
    cm[g.choice(n_m, round(acc_m * n_m), replace=False)] = 1.0
    cn = np.zeros(n_n)
    cn[g.choice(n_n, round(acc_n * n_n), replace=False)] = 1.0
    both = _signals(np.r_[cm, cn])
    is_member = np.r_[np.ones(n_m, bool), np.zeros(n_n, bool)]
    scores = create_attack("gap").membership_scores(both, is_member)
    expected = 0.5 + (cm.mean() - cn.mean()) / 2
    assert auc(scores[is_member], scores[~is_member]) == pytest.approx(expected, abs=1e-12)
    assert roc_auc_score(is_member, scores) == pytest.approx(expected, abs=1e-12)
    assert advantage(scores[is_member], scores[~is_member]) == pytest.approx(max(cm.mean() - cn.mean(), 0.0), abs=1e-12)
