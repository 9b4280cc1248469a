"""Behaviour of the seven NeurIPS-2023-challenge methods (paper 002) on small real data.

A small CNN trained long enough on 400 digits to fit its training set better than unseen
digits (the forget records have a lower loss than test records): after unlearning, the
forget records' loss should move towards the test records' loss while retain accuracy stays
far above chance. The tiny problem has few optimiser steps per epoch, so the methods run with
5 epochs of batches of 16 (their defaults are sized for a full-size training set).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mia_audit.unlearners import create_unlearner, train_original

FAST = {"epochs": 5, "batch_size": 16}
#: methods that re-initialise or transform weights: the forget/test loss gap should close
STRONG = ("rotate", "distillation", "pseudo-label", "pruning", "gradient-mask")
#: methods that perturb less (the paper finds deviation's unlearning incomplete)
MILD = ("deviation", "divergence")


class Split:
    def __init__(self, X, y, n_train, n_forget, seed):
        g = np.random.default_rng(seed)
        order = g.permutation(len(y))
        train, test = np.sort(order[:n_train]), np.sort(order[n_train:2 * n_train])
        forget = np.sort(g.choice(train, n_forget, replace=False))
        self.X, self.y = X, y
        self.train, self.test, self.forget = train, test, forget
        self.retain = np.setdiff1d(train, forget)

    def records(self, which):
        idx = getattr(self, which)
        return self.X[idx], self.y[idx]


def evaluate(net, split):
    out = {}
    with torch.no_grad():
        for which in ("retain", "forget", "test"):
            X, y = split.records(which)
            logits = net(torch.as_tensor(X, dtype=torch.float32))
            y_t = torch.as_tensor(y)
            out[which + "_acc"] = float((logits.argmax(1) == y_t).float().mean())
            out[which + "_loss"] = float(F.cross_entropy(logits, y_t))
    out["gap"] = out["test_loss"] - out["forget_loss"]
    return out


@pytest.fixture(scope="module")
def memorising_cnn():
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for

    d = load_dataset("digits")
    split = Split(d.X, d.y, 400, 60, seed=0)
    model = build_model("cnn", input_shape=d.input_shape, n_classes=d.n_classes, seed=0, channels=(8, 16), hidden=32)
    recipe = recipe_for("cnn", "image").replace(epochs=40, lr=3e-3)
    original = train_original(model, *split.records("train"), recipe, seed=0, device="cpu")
    return split, original, evaluate(original.model, split)


def unlearned(name, memorising_cnn, **options):
    split, original, _ = memorising_cnn
    result = create_unlearner(name, **{**FAST, **options}).unlearn(
        original, split.records("retain"), split.records("forget"), validation=split.records("test"), seed=1)
    return result, evaluate(result.model.model, split)


def test_the_original_memorises(memorising_cnn):
    split, _, before = memorising_cnn
    # forget records fit better than test records: the gap is several standard errors of the
    # difference of two mean losses (SE from the per-record losses would be smaller still)
    assert before["gap"] > 0.05
    assert before["retain_acc"] > 0.95 and before["forget_acc"] > 0.9


@pytest.mark.parametrize("name", STRONG)
def test_strong_methods_close_the_forget_test_gap(name, memorising_cnn):
    _, _, before = memorising_cnn
    result, after = unlearned(name, memorising_cnn)
    assert after["gap"] < 0.5 * before["gap"], (before, after)
    assert after["forget_acc"] < before["forget_acc"]
    # retain accuracy stays far above chance (0.1): 5x chance after re-initialising weights
    assert after["retain_acc"] > 0.5, after


@pytest.mark.parametrize("name", MILD)
def test_mild_methods_loosen_the_fit_on_forget_and_keep_utility(name, memorising_cnn):
    _, _, before = memorising_cnn
    result, after = unlearned(name, memorising_cnn)
    assert after["gap"] < before["gap"], (before, after)
    assert after["retain_acc"] > 0.9, after
    # test accuracy within 4 SE of the original's
    n_test = 400
    se = math.sqrt(before["test_acc"] * (1 - before["test_acc"]) / n_test)
    assert after["test_acc"] > before["test_acc"] - 4 * se - 0.02, (before, after)


def test_deviation_perturbs_only_the_first_conv_by_default(memorising_cnn):
    split, original, _ = memorising_cnn
    result = create_unlearner("deviation", epochs=1, lr=1e-12).unlearn(
        original, split.records("retain"), split.records("forget"), seed=3)
    net = result.model.model
    first, second = original.model.features[0], original.model.features[3]
    delta = (net.features[0].weight - first.weight).detach().reshape(-1)
    assert float(delta.abs().mean()) > 0.2  # sigma 0.6: E|delta| = 0.6 * sqrt(2/pi) ~ 0.48
    torch.testing.assert_close(net.features[3].weight, second.weight, atol=1e-6, rtol=0)
    assert result.details["n_weights_perturbed"] == first.weight.numel()
    assert result.details["final_noise_added"] is False  # one epoch: no "before the last epoch"
    two = create_unlearner("deviation", epochs=2, layers="all").unlearn(
        original, split.records("retain"), split.records("forget"), seed=3)
    assert two.details["final_noise_added"] is True and two.details["n_layers_perturbed"] == 2


def test_distillation_without_validation_skips_the_warmup(memorising_cnn):
    split, original, _ = memorising_cnn
    result = create_unlearner("distillation", epochs=1).unlearn(
        original, split.records("retain"), split.records("forget"), seed=1)
    assert result.details["warmup"].startswith("skipped") and result.details["warmup_epochs"] == 0
    with_val = create_unlearner("distillation", epochs=1).unlearn(
        original, split.records("retain"), split.records("forget"), validation=split.records("test"), seed=1)
    assert with_val.details["warmup"] == "validation" and len(with_val.details["warmup_history"]) == 1


def test_pseudo_label_reports_its_three_predictions(memorising_cnn):
    result, _ = unlearned("pseudo-label", memorising_cnn, epochs=1)
    d = result.details
    assert d["n_transposed"] == 2 and d["rotate"] is True
    assert d["forget_accuracy_original"] > d["forget_accuracy_retrained"]
    assert 0 <= d["n_from_retrained"] <= 60


@pytest.fixture(scope="module")
def adult_problem():
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for

    d = load_dataset("adult")
    rows = np.sort(np.random.default_rng(1).choice(d.n, 1200, replace=False))
    split = Split(d.X[rows], d.y[rows], 400, 40, seed=0)
    model = build_model("mlp", input_shape=d.input_shape, n_classes=d.n_classes, seed=0, hidden=(32,))
    original = train_original(model, *split.records("train"), recipe_for("mlp", "tabular").replace(epochs=30),
                              seed=0, device="cpu")
    return split, original, evaluate(original.model, split)


@pytest.mark.parametrize("name, options", [
    ("distillation", {}), ("divergence", {}), ("pruning", {}), ("pseudo-label", {"rotate": False}),
])
def test_methods_for_any_network_work_on_the_adult_mlp(name, options, adult_problem):
    split, original, before = adult_problem
    result = create_unlearner(name, **{**FAST, **options}).unlearn(
        original, split.records("retain"), split.records("forget"), validation=split.records("test"), seed=1)
    after = evaluate(result.model.model, split)
    majority = max(np.mean(split.y[split.retain]), 1 - np.mean(split.y[split.retain]))
    # within 4 SE (binomial, n = 360 retain records) of the majority rate or better, and no
    # better fit on forget than the original had
    se = math.sqrt(majority * (1 - majority) / len(split.retain))
    assert after["retain_acc"] > majority - 4 * se, (before, after)
    assert after["forget_loss"] > before["forget_loss"] - 0.05, (before, after)
