"""One conformance suite over every registered attack that scores from signals (synthetic signals).

The controls on real data (an overfitted MLP on Adult) are in test_controls_real_data.py.
Attacks that need reference models or query access have their own suite:
test_reference_conformance.py.
"""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mia_audit.attacks import ATTACKS, Attack, create_attack
from mia_audit.attacks.reference_base import signal_attack_names
from mia_audit.errors import InputError, NotApplicableError, NotFittedError
from mia_audit.outputs import Outputs
from mia_audit.signals import compute_signals, Signals

ALL = signal_attack_names()


def auc_se(n1, n0):
    return np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def make(name):
    return create_attack(name, seed=0)


def synthetic(n, *, members, seed, n_classes=4):
    """Logits where members are fitted: the true class gets a larger margin."""
    g = np.random.default_rng(seed)
    y = g.integers(0, n_classes, n)
    logits = g.normal(size=(n, n_classes))
    logits[np.arange(n), y] += 3.0 if members else 1.0
    return compute_signals(Outputs("logits", logits, n_classes), y)


def scores_for(attack, signals, is_member):
    return attack.membership_scores(signals, is_member)


def test_registry_holds_the_single_model_attacks():
    assert {"loss", "confidence", "entropy", "modified-entropy", "loss-lr"} <= set(ALL)


def test_unknown_attack_lists_valid_names():
    with pytest.raises(InputError, match="attack must be one of .*loss-lr.*got 'lira2'"):
        create_attack("lira2")


@pytest.mark.parametrize("name", ALL)
def test_one_finite_float_per_sample_and_members_score_higher(name):
    m, nm = synthetic(600, members=True, seed=1), synthetic(600, members=False, seed=2)
    both = Signals.concat([m, nm])
    is_member = np.r_[np.ones(600, bool), np.zeros(600, bool)]
    s = scores_for(make(name), both, is_member)
    assert isinstance(s, np.ndarray) and s.shape == (1200,) and s.dtype == np.float64
    assert np.all(np.isfinite(s))
    auc = roc_auc_score(is_member, s)
    assert auc > 0.5 + 8 * auc_se(600, 600), f"{name}: AUC {auc:.3f}: members must score higher"


@pytest.mark.parametrize("name", ALL)
def test_null_control_sits_at_half(name):
    a, b = synthetic(1500, members=False, seed=3), synthetic(1500, members=False, seed=4)
    both = Signals.concat([a, b])
    is_member = np.r_[np.ones(1500, bool), np.zeros(1500, bool)]
    auc = roc_auc_score(is_member, scores_for(make(name), both, is_member))
    assert abs(auc - 0.5) < 4 * auc_se(1500, 1500), f"{name}: null AUC {auc:.4f}"


@pytest.mark.parametrize("name", ALL)
def test_inputs_unchanged_and_deterministic(name):
    both = Signals.concat([synthetic(200, members=True, seed=5), synthetic(200, members=False, seed=6)])
    is_member = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    copies = {k: getattr(both, k).copy() for k in both.available}
    first = scores_for(make(name), both, is_member)
    second = scores_for(make(name), both, is_member)
    np.testing.assert_array_equal(first, second)
    for k, v in copies.items():
        np.testing.assert_array_equal(getattr(both, k), v)


@pytest.mark.parametrize("name", ALL)
def test_label_only_outputs_are_not_applicable_to_posterior_attacks(name):
    sig = compute_signals(Outputs("labels", np.array([0, 1, 1, 0]), 2), [0, 1, 0, 0])
    attack = make(name)
    if "correct" in attack.requires:
        pytest.skip("label-only attack")
    with pytest.raises(NotApplicableError):
        attack.membership_scores(sig, np.array([1, 1, 0, 0]))


@pytest.mark.parametrize("name", [n for n in ALL if ATTACKS.get(n).requires_fit])
def test_trained_attacks_refuse_score_before_fit(name):
    sig = synthetic(50, members=True, seed=7)
    with pytest.raises(NotFittedError, match="fit"):
        make(name).score(sig)
    fitted = make(name).fit(Signals.concat([sig, synthetic(50, members=False, seed=8)]), np.r_[np.ones(50), np.zeros(50)])
    assert fitted.score(sig).shape == (50,)


@pytest.mark.parametrize("name", ALL)
def test_membership_labels_are_validated(name):
    sig = synthetic(10, members=True, seed=9)
    with pytest.raises(InputError, match="both members and non-members"):
        make(name).membership_scores(sig, np.ones(10))
    with pytest.raises(InputError, match="one entry per sample"):
        make(name).membership_scores(sig, np.ones(9))


def test_threshold_attacks_are_the_signal_with_the_member_direction():
    sig = synthetic(30, members=True, seed=10)
    np.testing.assert_array_equal(create_attack("loss").score(sig), -sig.loss)
    np.testing.assert_allclose(np.exp(create_attack("confidence").score(sig)), sig.confidence, rtol=1e-12)
    np.testing.assert_array_equal(create_attack("entropy").score(sig), -sig.entropy)
    np.testing.assert_array_equal(create_attack("modified-entropy").score(sig), -sig.modified_entropy)


def test_loss_lr_scores_are_out_of_fold_like_a_naive_loop():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    both = Signals.concat([synthetic(120, members=True, seed=11), synthetic(80, members=False, seed=12)])
    y = np.r_[np.ones(120, int), np.zeros(80, int)]
    got = create_attack("loss-lr", n_splits=4, seed=3).membership_scores(both, y)
    expected = np.empty(200)
    for tr, te in StratifiedKFold(4, shuffle=True, random_state=3).split(both.loss.reshape(-1, 1), y):
        lr = LogisticRegression().fit(both.loss[tr].reshape(-1, 1), y[tr])
        probs = [lr.predict_proba([[both.loss[i]]])[0, 1] for i in te]
        for i, p in zip(te, probs):  # percentile among the fold's held-out records, ties averaged
            expected[i] = (sum(q < p for q in probs) + 0.5 * sum(q == p for q in probs)) / len(te)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_loss_lr_options_are_validated():
    with pytest.raises(InputError, match="^attack 'loss-lr': unknown option 'folds'; valid options: C, n_splits, seed$"):
        create_attack("loss-lr", folds=3)
    with pytest.raises(InputError, match="n_splits must be an integer >= 2; got 1"):
        create_attack("loss-lr", n_splits=1)
    sig = Signals.concat([synthetic(3, members=True, seed=1), synthetic(50, members=False, seed=2)])
    with pytest.raises(InputError, match="at least n_splits=5"):
        create_attack("loss-lr").membership_scores(sig, np.r_[np.ones(3), np.zeros(50)])


def test_attack_is_an_attack():
    for name in ALL:
        assert isinstance(make(name), Attack)
