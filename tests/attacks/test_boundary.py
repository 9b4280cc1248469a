"""The label-only boundary attack (Choquette-Choo et al. 2021; Li & Zhang 2021)."""

import numpy as np
import pytest

from mia_audit.attacks import create_attack, run_query_attack
from mia_audit.attacks.boundary import image_levels
from mia_audit.adapters import CallableAdapter, LabelOnly, as_adapter
from mia_audit.data import load_dataset
from mia_audit.errors import InputError, NotApplicableError
from mia_audit.metrics import auc
from mia_audit.models import build_model
from mia_audit.signals import compute_signals
from mia_audit.training import TrainRecipe, train_model

from .reference_setup import auc_se


@pytest.fixture(scope="module")
def adult():
    data = load_dataset("adult")
    pick = np.random.default_rng(0).choice(len(data.X), 1800, replace=False)
    X, y = data.X[pick], data.y[pick]  # members: the first 600; non-members: the other 1200
    net = build_model("mlp", input_shape=X.shape[1:], n_classes=2, seed=1, hidden=[256, 256])
    model = train_model(net, X[:600], y[:600], TrainRecipe(epochs=30, batch_size=64, lr=3e-3), seed=2, device="cpu").model
    return X, y, model


def test_members_score_higher_on_a_label_only_model(adult):
    X, y, model = adult
    attack = create_attack("boundary", seed=0)
    s = run_query_attack(attack, LabelOnly(model), X[:1200], y[:1200])
    assert s.shape == (1200,) and s.dtype == np.float64 and np.all((s >= 0) & (s <= 2))
    members, nonmembers = s[:600], s[600:]
    value = auc(members, nonmembers)
    assert value > 0.5 + 4 * auc_se(600, 600), f"boundary AUC {value:.3f}"
    # it refines the gap attack (correctness) with robustness: at least as good on this model
    correct = compute_signals(as_adapter(LabelOnly(model)).predict(X[:1200]), y[:1200]).correct
    assert value >= auc(correct[:600], correct[600:])
    # misclassified records score 0, the others at least 1
    np.testing.assert_array_equal(s == 0, correct == 0)


def test_null_control_nonmembers_against_nonmembers(adult):
    X, y, model = adult
    s = create_attack("boundary", seed=0).score_queries(LabelOnly(model), X[600:], y[600:])
    value = auc(s[:600], s[600:])
    assert abs(value - 0.5) < 4 * auc_se(600, 600), f"null AUC {value:.3f}"


def test_seeded_deterministic_and_inputs_unchanged(adult):
    X, y, model = adult
    Xc, yc = X[:50].copy(), y[:50].copy()
    a = create_attack("boundary", seed=3, n_queries=16, levels=4, max_noise=3.0).score_queries(model, Xc, yc)
    b = create_attack("boundary", seed=3, n_queries=16, levels=4, max_noise=3.0).score_queries(model, Xc, yc)
    c = create_attack("boundary", seed=4, n_queries=16, levels=4, max_noise=3.0).score_queries(model, Xc, yc)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(Xc, X[:50])
    np.testing.assert_array_equal(yc, y[:50])


def test_query_budget_is_respected():
    calls = []

    def fn(batch):
        calls.append(len(batch))
        return (batch[:, 0] > 0).astype(np.int64)

    model = CallableAdapter(fn, n_classes=2, returns="labels", batch_size=None)
    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    create_attack("boundary", n_queries=12, levels=3).score_queries(model, X, y)
    assert sum(calls) == 10 * (1 + 12)  # the clean query and n_queries noisy ones per record
    levels = image_levels((5, 1, 8, 8), 20, np.random.default_rng(0))
    assert sum(len(level) for level in levels) == 20
    assert levels[0] == [(True, 0, 0)] and len(levels[1]) == 16 and len(levels[2]) == 3


def test_images_use_flips_and_shifts():
    data = load_dataset("digits")
    X, y = data.X[:400], data.y[:400]
    net = build_model("cnn", input_shape=X.shape[1:], n_classes=10, seed=0, channels=[8], hidden=32)
    model = train_model(net, X[:200], y[:200], TrainRecipe(epochs=15, batch_size=32, lr=3e-3), seed=0,
                        device="cpu").model
    s = create_attack("boundary", n_queries=24).score_queries(LabelOnly(model), X, y)
    assert s.shape == (400,) and np.all(np.isfinite(s))
    assert auc(s[:200], s[200:]) > 0.5


def test_bad_input_names_the_parameter(adult):
    X, y, model = adult
    with pytest.raises(InputError, match="n_queries must be an integer >= 1; got 0"):
        create_attack("boundary", n_queries=0)
    with pytest.raises(InputError, match="n_queries must be at least levels"):
        create_attack("boundary", n_queries=4, levels=8)
    with pytest.raises(InputError, match="max_noise must be a finite number > 0"):
        create_attack("boundary", max_noise=-1)
    with pytest.raises(InputError, match="labels must lie in"):
        create_attack("boundary").score_queries(model, X[:5], np.array([0, 1, 2, 0, 1]))
    with pytest.raises(InputError, match="X must be floating-point features"):
        create_attack("boundary").score_queries(model, np.ones((3, 88), dtype=np.int64), y[:3])
    with pytest.raises(InputError, match="attack must be a query attack"):
        run_query_attack(create_attack("loss"), model, X[:3], y[:3])


def test_signals_alone_are_not_enough(adult):
    X, y, model = adult
    sig = compute_signals(as_adapter(model).predict(X[:10]), y[:10])
    with pytest.raises(NotApplicableError, match="needs query access"):
        create_attack("boundary").membership_scores(sig, np.r_[np.ones(5), np.zeros(5)])
