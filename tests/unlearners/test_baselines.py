"""finetune, random-label, neggrad and neggrad+ on a small real problem (Adult, an MLP that
memorises its training set), plus their option checks and the relabelling rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mia_audit.errors import InputError
from mia_audit.unlearners import create_unlearner, train_original
from mia_audit.unlearners.finetune import random_wrong_labels
from mia_audit.unlearners.torch_loops import generator


class Leaky:
    """Adult: 800 training records (200 to forget) and 800 test records; an MLP (256 hidden
    units) trained long enough at a high rate to fit its training set far better than
    the test set (training accuracy ~0.99, test ~0.82)."""

    def __init__(self, seed: int = 3):
        from mia_audit.data import load_dataset
        from mia_audit.models import build_model
        from mia_audit.training import recipe_for

        d = load_dataset("adult")
        g = np.random.default_rng(seed)
        rows = np.sort(g.choice(d.n, 1600, replace=False))
        self.X, self.y = d.X[rows], d.y[rows]
        order = g.permutation(1600)
        self.train, self.test = np.sort(order[:800]), np.sort(order[800:])
        self.forget = np.sort(g.choice(self.train, 200, replace=False))
        self.retain = np.setdiff1d(self.train, self.forget)
        model = build_model("mlp", input_shape=d.input_shape, n_classes=2, seed=0, hidden=(256,))
        recipe = recipe_for("mlp", "tabular").replace(epochs=60, lr=3e-3)
        self.original = train_original(model, self.X[self.train], self.y[self.train], recipe, seed=0, device="cpu")

    def records(self, which):
        idx = getattr(self, which)
        return self.X[idx], self.y[idx]

    def unlearn(self, name, seed=1, validation=True, **options):
        return create_unlearner(name, **options).unlearn(
            self.original, self.records("retain"), self.records("forget"),
            validation=self.records("test") if validation else None, seed=seed)

    def losses(self, net, which):
        X, y = self.records(which)
        with torch.no_grad():
            return F.cross_entropy(net(torch.as_tensor(X)), torch.as_tensor(y), reduction="none").numpy()

    def log_losses(self, net, which):
        """``log(0.001 + loss)`` per record: members' losses span orders of magnitude, so shifts
        are compared on a log scale, floored so that changes among near-zero losses do not
        dominate the noise."""
        return np.log(self.losses(net, which).astype(np.float64) + 1e-3)

    def accuracy(self, net, which):
        X, y = self.records(which)
        with torch.no_grad():
            return float((net(torch.as_tensor(X)).argmax(1).numpy() == y).mean())


@pytest.fixture(scope="module")
def leaky():
    return Leaky()


def paired_gap(a, b):
    """mean(a - b) and its standard error over paired per-record values."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))


def two_sample_gap(a, b):
    """mean(a) - mean(b) and its standard error for independent samples."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a.mean() - b.mean()), float(math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))


def test_the_problem_leaks(leaky):
    net = leaky.original.model
    gap, se = two_sample_gap(leaky.losses(net, "test"), leaky.losses(net, "train"))
    assert gap > 4 * se, "the original should fit its training records better than unseen ones"


def test_finetune_keeps_retain_accuracy_and_forgets_a_little(leaky):
    before = leaky.original.model
    result = leaky.unlearn("finetune")
    after = result.model.model
    n = len(leaky.retain)
    acc_before, acc_after = leaky.accuracy(before, "retain"), leaky.accuracy(after, "retain")
    se = math.sqrt(max(acc_before * (1 - acc_before), 0.01) / n)
    assert acc_after >= acc_before - 4 * se
    assert leaky.accuracy(after, "test") >= leaky.accuracy(before, "test") - 0.05
    assert result.details["epochs"] == 2 and len(result.details["retain_loss_per_epoch"]) == 2
    # the forget records are no longer trained on: their loss does not fall far below the original's
    gap, se = paired_gap(leaky.losses(after, "forget"), leaky.losses(before, "forget"))
    assert gap > -4 * se


def test_neggrad_raises_the_forget_loss(leaky):
    before, after = leaky.original.model, leaky.unlearn("neggrad", epochs=10).model.model
    gap, se = paired_gap(leaky.log_losses(after, "forget"), leaky.log_losses(before, "forget"))
    assert gap > 3 * se  # one-sided, p about 0.001 under no change
    # with a small rate and a few passes the model stays useful
    assert leaky.accuracy(after, "test") >= leaky.accuracy(before, "test") - 0.05


def test_neggrad_plus_forget_term_raises_the_forget_loss(leaky):
    # same seed, same batches: alpha=1 is fine-tuning on retain only, alpha<1 adds ascent on forget
    plain = leaky.unlearn("neggrad+", alpha=1.0).model.model
    pushed = leaky.unlearn("neggrad+", alpha=0.7).model.model
    gap, se = paired_gap(leaky.log_losses(pushed, "forget"), leaky.log_losses(plain, "forget"))
    assert gap > 3 * se  # one-sided, p about 0.001 under no change
    n = len(leaky.retain)
    assert leaky.accuracy(pushed, "retain") >= leaky.accuracy(plain, "retain") - 4 * math.sqrt(0.05 / n)


def test_neggrad_plus_details_count_paired_steps(leaky):
    details = leaky.unlearn("neggrad+").details
    steps_per_epoch = len(leaky.retain) // 128 + (len(leaky.retain) % 128 > 1)
    assert details["alpha"] == 0.99 and details["steps"] == 2 * steps_per_epoch
    # 200 forget records in batches of 128 -> 2 batches per pass over forget
    assert details["passes_over_forget"] == math.ceil(details["steps"] / 2)


def test_random_wrong_labels_are_wrong_uniform_and_seeded():
    y = torch.as_tensor(np.arange(20000) % 10, dtype=torch.int64)
    new = random_wrong_labels(y, 10, generator(5, "x"))
    assert bool((new != y).all()) and int(new.min()) >= 0 and int(new.max()) <= 9
    assert torch.equal(new, random_wrong_labels(y, 10, generator(5, "x")))
    assert not torch.equal(new, random_wrong_labels(y, 10, generator(6, "x")))
    # each of the 9 wrong classes is equally likely: offsets counted against a binomial SE
    offsets = ((new - y) % 10).numpy()
    counts = np.bincount(offsets, minlength=10)
    assert counts[0] == 0
    expected = y.numel() / 9
    se = math.sqrt(y.numel() * (1 / 9) * (8 / 9))
    assert np.all(np.abs(counts[1:] - expected) < 4 * se)
    # two classes: the only wrong label
    two = torch.tensor([0, 1, 1, 0])
    assert random_wrong_labels(two, 2, generator(0)).tolist() == [1, 0, 0, 1]
    with pytest.raises(InputError, match="at least 2 classes"):
        random_wrong_labels(two, 1, generator(0))


def test_random_label_trains_on_the_wrong_labels(leaky):
    finetuned = leaky.unlearn("finetune").model.model
    result = leaky.unlearn("random-label")
    relabelled = result.model.model
    assert result.details["records_relabelled"] == 200
    assert result.details["records_trained"] == len(leaky.train)
    # relabelling pushes the forget records away from their true labels, more than fine-tuning
    gap, se = paired_gap(leaky.log_losses(relabelled, "forget"), leaky.log_losses(finetuned, "forget"))
    assert gap > 4 * se


@pytest.mark.parametrize("name, options, param", [
    ("finetune", {"epochs": 0}, "epochs"),
    ("finetune", {"lr": -1.0}, "lr"),
    ("finetune", {"optimizer": "rmsprop"}, "optimizer"),
    ("random-label", {"batch_size": 0}, "batch_size"),
    ("neggrad", {"epochs": 1.5}, "epochs"),
    ("neggrad", {"lr": float("nan")}, "lr"),
    ("neggrad+", {"alpha": 1.5}, "alpha"),
    ("neggrad+", {"alpha": -0.1}, "alpha"),
    ("neggrad+", {"alpha": "high"}, "alpha"),
])
def test_bad_options_name_the_parameter(name, options, param):
    with pytest.raises(InputError, match=rf"^{param} must be .*; got"):
        create_unlearner(name, **options)
