import math

import numpy as np
import pytest

from mia_audit.errors import InputError, NotApplicableError
from mia_audit.outputs import Outputs
from mia_audit.signals import SIGNAL_NAMES, compute_signals


def naive_signals(probs, labels):
    """Textbook formulas, one sample at a time, in plain Python floats."""
    out = {k: [] for k in SIGNAL_NAMES}
    for p, y in zip(probs, labels):
        p = [float(v) for v in p]
        py = p[y]
        out["loss"].append(-math.log(py))
        out["confidence"].append(py)
        out["logit_confidence"].append(math.log(py / (1 - py)))
        out["entropy"].append(-sum(v * math.log(v) for v in p if v > 0))
        out["modified_entropy"].append(
            -(1 - py) * math.log(py) - sum(v * math.log(1 - v) for i, v in enumerate(p) if i != y)
        )
        out["correct"].append(float(max(range(len(p)), key=lambda i: p[i]) == y))
    return {k: np.array(v) for k, v in out.items()}


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_signals_match_naive_loop_from_logits_and_probs(n_classes):
    g = np.random.default_rng(0)
    logits = g.normal(scale=3.0, size=(200, n_classes))
    labels = g.integers(0, n_classes, 200)
    expected = naive_signals(softmax(logits), labels)
    for outputs in (Outputs("logits", logits, n_classes), Outputs("probs", softmax(logits), n_classes)):
        sig = compute_signals(outputs, labels)
        for name in SIGNAL_NAMES:
            np.testing.assert_allclose(getattr(sig, name), expected[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_golden_tiny_case_by_hand():
    # p = (0.5, 0.25, 0.25), label 0
    sig = compute_signals(Outputs("probs", np.array([[0.5, 0.25, 0.25]]), 3), [0])
    assert sig.loss[0] == pytest.approx(math.log(2))
    assert sig.confidence[0] == pytest.approx(0.5)
    assert sig.logit_confidence[0] == pytest.approx(0.0, abs=1e-15)
    assert sig.entropy[0] == pytest.approx(1.5 * math.log(2))
    # -(0.5) log 0.5 - 2 * 0.25 log 0.75
    assert sig.modified_entropy[0] == pytest.approx(0.5 * math.log(2) - 0.5 * math.log(0.75))
    assert sig.correct[0] == 1.0


def test_stable_for_very_confident_logits():
    # p_y = 1 - 2e-40 rounds to 1.0 in float64; the naive formula gives inf / nan.
    logits = np.array([[100.0, 10.0, 10.0], [10.0, 100.0, 10.0]])
    sig = compute_signals(Outputs("logits", logits, 3), [0, 0])
    for name in SIGNAL_NAMES:
        assert np.all(np.isfinite(getattr(sig, name))), name
    # log(p_y/(1-p_y)) = 90 - log 2 exactly for the first row
    assert sig.logit_confidence[0] == pytest.approx(90 - math.log(2), rel=1e-12)
    # second row: the true class is far from the top one
    assert sig.logit_confidence[1] == pytest.approx(10 - 100 - math.log1p(math.exp(-90)), rel=1e-12)
    assert sig.loss[1] == pytest.approx(90.0, rel=1e-12)
    # modified entropy of the wrong, confident row: the -p_1 log(1-p_1) term is ~ 90
    assert sig.modified_entropy[1] > 170


def test_hard_zero_probability_stays_finite():
    sig = compute_signals(Outputs("probs", np.array([[1.0, 0.0]]), 2), [1])
    assert np.isfinite(sig.loss[0]) and sig.loss[0] > 700


def test_label_only_outputs_give_only_correctness():
    sig = compute_signals(Outputs("labels", np.array([0, 1, 1]), 2), [0, 0, 1])
    np.testing.assert_array_equal(sig.correct, [1.0, 0.0, 1.0])
    assert sig.available == ("correct",)
    with pytest.raises(NotApplicableError, match="label-only"):
        sig.get("loss")


def test_inputs_are_not_mutated():
    g = np.random.default_rng(1)
    logits = g.normal(size=(50, 4))
    labels = g.integers(0, 4, 50)
    before = (logits.copy(), labels.copy())
    compute_signals(Outputs("logits", logits, 4), labels)
    np.testing.assert_array_equal(logits, before[0])
    np.testing.assert_array_equal(labels, before[1])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Outputs("logits", np.array([[0.0, np.nan]]), 2), "finite"),
        (lambda: Outputs("probs", np.array([[0.2, np.inf]]), 2), "finite"),
        (lambda: Outputs("probs", np.array([[0.2, 0.3]]), 2), "sum to 1"),
        (lambda: Outputs("probs", np.array([[1.2, -0.2]]), 2), ">= 0"),
        (lambda: Outputs("logits", np.zeros((3, 4)), 3), "shape"),
        (lambda: Outputs("labels", np.array([0, 5]), 3), r"\[0, 2\]"),
        (lambda: Outputs("scores", np.zeros((3, 2)), 2), "kind"),
        (lambda: Outputs("logits", np.zeros((3, 1)), 1), "n_classes"),
    ],
)
def test_bad_outputs_raise_clear_errors(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_label_errors():
    out = Outputs("logits", np.zeros((3, 2)), 2)
    with pytest.raises(InputError, match="same length; got 2 labels and 3 outputs"):
        compute_signals(out, [0, 1])
    with pytest.raises(InputError, match=r"\[0, 1\].*e.g. 2"):
        compute_signals(out, [0, 1, 2])
    with pytest.raises(InputError, match="integer"):
        compute_signals(out, [0, 0.5, 1])


def test_confident_losses_stay_distinct_not_rounded_to_zero():
    # margins of 40 and 45: losses exp(-40) ~ 4e-18 and exp(-45) ~ 3e-20, below float64's
    # epsilon relative to 1, so a naive log-softmax returns 0 for both and they would tie.
    logits = np.array([[40.0, 0.0], [45.0, 0.0]])
    sig = compute_signals(Outputs("logits", logits, 2), [0, 0])
    np.testing.assert_allclose(sig.loss, [math.exp(-40), math.exp(-45)], rtol=1e-12)
    assert sig.loss[0] > sig.loss[1] > 0
    np.testing.assert_allclose(sig.logit_confidence, [40.0, 45.0], rtol=1e-12)
    # modified entropy ~ (1 - p_y)(-log p_y) + p_1^2 = 2 exp(-2 margin), also kept distinct
    np.testing.assert_allclose(sig.modified_entropy, [2 * math.exp(-80), 2 * math.exp(-90)], rtol=1e-9)


def test_log_softmax_matches_scipy_on_ordinary_logits():
    from scipy.special import log_softmax as scipy_log_softmax

    from mia_audit.outputs import log_softmax

    z = np.random.default_rng(3).normal(scale=5, size=(100, 7))
    np.testing.assert_allclose(log_softmax(z), scipy_log_softmax(z, axis=1), rtol=1e-12, atol=1e-12)
