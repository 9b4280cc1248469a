"""perturbation: the two perturbations (feature noise, label noise) as golden cases, their
effect on a small real problem, and option checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mia_audit.errors import InputError
from mia_audit.unlearners import create_unlearner
from mia_audit.unlearners.perturbation import flipped_labels, noisy_features
from mia_audit.unlearners.torch_loops import generator

from .test_baselines import Leaky, paired_gap


@pytest.fixture(scope="module")
def leaky():
    return Leaky()


def test_noise_has_the_per_feature_scale_of_retain():
    g = torch.Generator().manual_seed(0)
    reference = torch.randn(4000, 3, generator=g) * torch.tensor([1.0, 5.0, 0.0]) + 7.0
    X = torch.zeros(20000, 3)
    out = noisy_features(X, reference, 0.5, generator(1, "n"))
    std = reference.std(dim=0, unbiased=False)
    measured = out.std(dim=0)
    # sample SD of n normal draws has SE about sigma / sqrt(2 n)
    for j in (0, 1):
        se = 0.5 * float(std[j]) / math.sqrt(2 * X.shape[0])
        assert abs(float(measured[j]) - 0.5 * float(std[j])) < 4 * se
    assert torch.equal(out[:, 2], X[:, 2])  # a constant feature is left alone
    assert abs(float(out[:, 0].mean())) < 4 * 0.5 * float(std[0]) / math.sqrt(X.shape[0])
    assert torch.equal(out, noisy_features(X, reference, 0.5, generator(1, "n")))  # seeded
    assert out.dtype == X.dtype and torch.equal(X, torch.zeros(20000, 3))  # input untouched


def test_flipped_labels_flip_exactly_the_fraction_to_wrong_labels():
    y = torch.as_tensor(np.arange(101) % 7, dtype=torch.int64)
    out, count = flipped_labels(y, 7, 0.3, generator(2, "l"))
    assert count == round(0.3 * 101) == int((out != y).sum())
    assert int(out.min()) >= 0 and int(out.max()) <= 6
    everything, n_all = flipped_labels(y, 7, 1.0, generator(2, "l"))
    assert n_all == 101 and bool((everything != y).all())
    again, _ = flipped_labels(y, 7, 0.3, generator(2, "l"))
    assert torch.equal(out, again)


def test_label_mode_pushes_forget_records_away_from_their_labels(leaky):
    finetuned = leaky.unlearn("finetune").model.model
    result = leaky.unlearn("perturbation", mode="label")
    assert result.details["labels_flipped"] == len(leaky.forget) and result.details["mode"] == "label"
    gap, se = paired_gap(leaky.log_losses(result.model.model, "forget"), leaky.log_losses(finetuned, "forget"))
    assert gap > 4 * se


def test_label_mode_with_a_smaller_fraction_pushes_less(leaky):
    some = leaky.unlearn("perturbation", mode="label", flip_fraction=0.25).model.model
    every = leaky.unlearn("perturbation", mode="label").model.model
    gap, se = paired_gap(leaky.log_losses(every, "forget"), leaky.log_losses(some, "forget"))
    assert gap > 4 * se


def test_noise_mode_replaces_forget_records_by_noisy_copies(leaky):
    # the model is trained on the noisy copies, not the records: with very strong noise the
    # forget records are fitted no better than by fine-tuning on retain alone
    finetuned = leaky.unlearn("finetune").model.model
    result = leaky.unlearn("perturbation", noise_scale=5.0)
    assert result.details["noise_scale"] == 5.0 and result.details["records_trained"] == len(leaky.train)
    gap, se = paired_gap(leaky.log_losses(result.model.model, "forget"), leaky.log_losses(finetuned, "forget"))
    assert gap > -4 * se
    assert leaky.accuracy(result.model.model, "test") >= leaky.accuracy(leaky.original.model, "test") - 0.05


def test_noise_mode_refuses_integer_features(leaky):
    # integer inputs (token ids) cannot take Gaussian noise; the check comes before training
    import copy

    from mia_audit.unlearners.perturbation import Perturbation
    from mia_audit.unlearners.torch_loops import TensorData

    original = leaky.original

    u = Perturbation()
    data = {"retain": TensorData(torch.zeros(4, 3, dtype=torch.int64), torch.zeros(4, dtype=torch.int64)),
            "forget": TensorData(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, dtype=torch.int64)),
            "validation": None}
    with pytest.raises(InputError, match="mode 'noise' needs floating-point features"):
        u._update(copy.deepcopy(original.model), original, data, u.settings(original), 1)


@pytest.mark.parametrize("options, param", [
    ({"mode": "blur"}, "mode"),
    ({"noise_scale": 0.0}, "noise_scale"),
    ({"noise_scale": -1.0}, "noise_scale"),
    ({"mode": "label", "flip_fraction": 0.0}, "flip_fraction"),
    ({"mode": "label", "flip_fraction": 1.2}, "flip_fraction"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_options_name_the_parameter(options, param):
    with pytest.raises(InputError, match=rf"^{param} must be .*; got"):
        create_unlearner("perturbation", **options)


def test_options_of_the_other_mode_are_refused():
    with pytest.raises(InputError, match="flip_fraction applies to mode='label' only"):
        create_unlearner("perturbation", mode="noise", flip_fraction=0.5)
    with pytest.raises(InputError, match="noise_scale applies to mode='noise' only"):
        create_unlearner("perturbation", mode="label", noise_scale=1.0)
