"""Expected calibration error (against a naive loop and a hand-computed case) and temperature fitting."""

import numpy as np
import pytest
from scipy.special import softmax

from mia_audit.calibration import expected_calibration_error, fit_temperature
from mia_audit.errors import InputError, NotApplicableError
from mia_audit.outputs import Outputs


def naive_ece(probs, labels, n_bins):
    """Guo et al. 2017, written as the usual loop over bins (lower < conf <= upper)."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for m in range(n_bins):
        lo, hi = edges[m], edges[m + 1]
        members = [i for i in range(len(conf)) if (conf[i] > lo or (m == 0 and conf[i] == 0.0)) and conf[i] <= hi]
        if not members:
            continue
        acc = sum(correct[i] for i in members) / len(members)
        avg_conf = sum(conf[i] for i in members) / len(members)
        total += len(members) / len(conf) * abs(acc - avg_conf)
    return total


@pytest.mark.parametrize("n_bins", [1, 2, 10, 15, 40])
@pytest.mark.parametrize("seed", [0, 1])
def test_ece_matches_a_naive_loop(n_bins, seed):
    g = np.random.default_rng(seed)
    logits = g.normal(scale=2.0, size=(700, 4))
    probs = softmax(logits, axis=1)
    labels = g.integers(0, 4, 700)
    expected = naive_ece(probs, labels, n_bins)
    assert expected > 0
    assert expected_calibration_error(probs, labels, n_bins=n_bins) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # logits outputs give the ECE of their softmax
    got = expected_calibration_error(Outputs("logits", logits, 4), labels, n_bins=n_bins)
    assert got == pytest.approx(expected, rel=1e-9)


def test_ece_on_bin_edges_matches_the_loop():
    """Confidences exactly on the edges k / 10 go to the bin below (upper edge inclusive)."""
    conf = np.repeat(np.linspace(0.5, 1.0, 6), 3)
    probs = np.c_[conf, 1.0 - conf]
    labels = np.tile([0, 1, 0], 6)
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(naive_ece(probs, labels, 10), abs=1e-15)


def test_ece_golden_case_by_hand():
    # confidences 0.9 (right), 0.8 (wrong), 0.6 (right), 0.7 (right); 5 bins of width 0.2:
    # (0.8, 1]: {0.9}: |1 - 0.9| * 1/4 = 0.025
    # (0.6, 0.8]: {0.8, 0.7}: |0.5 - 0.75| * 2/4 = 0.125
    # (0.4, 0.6]: {0.6}: |1 - 0.6| * 1/4 = 0.1            -> ECE = 0.25
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(0.25, abs=1e-12)
    # one bin: |accuracy - mean confidence| = |0.75 - 0.75| = 0
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(0.0, abs=1e-12)
    certain = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(certain, [0, 1]) == 0.0
    assert expected_calibration_error(certain, [1, 0]) == 1.0


def test_ece_of_a_calibrated_model_is_small():
    g = np.random.default_rng(5)
    probs = softmax(g.normal(scale=2.0, size=(20000, 3)), axis=1)
    labels = np.array([g.choice(3, p=p) for p in probs])
    assert expected_calibration_error(probs, labels) < 0.02
    overconfident = softmax(np.log(probs) * 3.0, axis=1)
    assert expected_calibration_error(overconfident, labels) > 0.1


def test_ece_inputs_unchanged_and_errors():
    probs = np.array([[0.7, 0.3], [0.2, 0.8]])
    labels = np.array([0, 0])
    before = probs.copy(), labels.copy()
    expected_calibration_error(probs, labels)
    np.testing.assert_array_equal(probs, before[0])
    np.testing.assert_array_equal(labels, before[1])
    with pytest.raises(NotApplicableError, match="label-only"):
        expected_calibration_error(Outputs("labels", np.array([0, 1]), 2), labels)
    with pytest.raises(InputError, match="n_bins must be an integer >= 1"):
        expected_calibration_error(probs, labels, n_bins=0)
    with pytest.raises(InputError, match="sum to 1"):
        expected_calibration_error(np.array([[0.5, 0.6]]), [0])
    with pytest.raises(InputError, match="shape"):
        expected_calibration_error(np.array([0.5, 0.5]), [0])
    with pytest.raises(InputError, match="same length"):
        expected_calibration_error(probs, [0])
    with pytest.raises(InputError, match="at least one"):
        expected_calibration_error(np.zeros((0, 2)), [])


@pytest.mark.parametrize("T_true", [0.5, 1.0, 3.0])
def test_fit_temperature_recovers_the_generating_temperature(T_true):
    g = np.random.default_rng(0)
    logits = g.normal(scale=3.0, size=(20000, 5))
    u = g.random((20000, 1))
    labels = (u > np.cumsum(softmax(logits / T_true, axis=1), axis=1)).sum(axis=1)
    before = logits.copy()
    T = fit_temperature(logits, labels)
    assert T == pytest.approx(T_true, rel=0.05)
    np.testing.assert_array_equal(logits, before)
    # probabilities are used as logits log p: the same temperature
    T_probs = fit_temperature(Outputs("probs", softmax(logits, axis=1), 5), labels)
    assert T_probs == pytest.approx(T, rel=1e-4)


def test_fit_temperature_reaches_the_bound_on_perfect_data_and_validates():
    logits = np.array([[2.0, 0.0], [0.0, 2.0]])
    assert fit_temperature(logits, [0, 1], bounds=(0.1, 10.0)) == pytest.approx(0.1, rel=1e-3)
    with pytest.raises(InputError, match="bounds must be"):
        fit_temperature(logits, [0, 1], bounds=(2.0, 1.0))
    with pytest.raises(InputError, match="bounds must be"):
        fit_temperature(logits, [0, 1], bounds=(0.0, 1.0))
    with pytest.raises(InputError, match="finite"):
        fit_temperature(np.array([[np.nan, 0.0]]), [0])
    with pytest.raises(InputError, match="labels must lie in"):
        fit_temperature(logits, [0, 2])
    with pytest.raises(NotApplicableError):
        fit_temperature(Outputs("labels", np.array([0, 1]), 2), [0, 1])
    with pytest.raises(InputError, match="at least one"):
        fit_temperature(np.zeros((0, 2)), [])
