"""SCRUB and SalUn: the paper's claims on a small real problem, golden cases for their math
(the distillation KL, the saliency mask) and their option checks."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mia_audit.errors import InputError
from mia_audit.unlearners import create_unlearner
from mia_audit.unlearners.salun import forget_gradient, saliency_mask
from mia_audit.unlearners.scrub import distill_kl
from mia_audit.unlearners.torch_loops import to_device
from mia_audit.unlearners.records import Records

from .test_baselines import Leaky, paired_gap


@pytest.fixture(scope="module")
def leaky():
    return Leaky()


# ---------------------------------------------------------------------------- SCRUB


def test_distill_kl_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    T = 4.0
    p_t, p_s = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    by_hand = sum(float((p_t[i] * (p_t[i] / p_s[i]).log()).sum()) for i in range(5)) / 5 * T * T
    assert float(distill_kl(s, t, T)) == pytest.approx(by_hand, rel=1e-5)
    assert float(distill_kl(t, t, T)) == pytest.approx(0.0, abs=1e-6)


def test_scrub_forgets_more_than_finetuning_at_equal_epochs(leaky):
    # the paper's small-scale setting: a few epochs, max-steps in the first ones only
    scrub = leaky.unlearn("scrub", epochs=3, msteps=2)
    finetuned = leaky.unlearn("finetune", epochs=3).model.model
    gap, se = paired_gap(leaky.log_losses(scrub.model.model, "forget"), leaky.log_losses(finetuned, "forget"))
    assert gap > 4 * se
    details = scrub.details
    assert details["max_steps"] == 2 * math.ceil(len(leaky.forget) / 16)  # only in the first msteps epochs
    assert details["min_steps"] == 3 * (len(leaky.retain) // 128 + (len(leaky.retain) % 128 > 1))
    assert len(details["forget_kl_per_max_epoch"]) == 2 and len(details["retain_loss_per_epoch"]) == 3


def test_scrub_defaults_forget_more_than_finetuning_and_keep_the_model_useful(leaky):
    scrub = leaky.unlearn("scrub").model.model
    finetuned = leaky.unlearn("finetune").model.model
    gap, se = paired_gap(leaky.log_losses(scrub, "forget"), leaky.log_losses(finetuned, "forget"))
    assert gap > 3 * se
    assert leaky.accuracy(scrub, "test") >= leaky.accuracy(leaky.original.model, "test") - 0.1


def test_scrub_without_max_steps_stays_close_to_the_teacher(leaky):
    # msteps=0 leaves only min-steps (distillation + CE on retain): forget is not pushed away
    pushed = leaky.unlearn("scrub", msteps=0).model.model
    gap, se = paired_gap(leaky.log_losses(pushed, "forget"), leaky.log_losses(leaky.original.model, "forget"))
    assert gap < 3 * se


@pytest.mark.parametrize("options, param", [
    ({"msteps": 3, "epochs": 2}, "msteps"),
    ({"msteps": -1}, "msteps"),
    ({"alpha": -0.1}, "alpha"),
    ({"gamma": float("inf")}, "gamma"),
    ({"temperature": 0}, "temperature"),
    ({"forget_batch_size": 0}, "forget_batch_size"),
])
def test_scrub_bad_options_name_the_parameter(options, param):
    with pytest.raises(InputError, match=rf"^{param} must be .*; got"):
        create_unlearner("scrub", **options)


# ---------------------------------------------------------------------------- SalUn


def naive_mask(scores: dict, fraction: float) -> dict:
    """The rule by a plain loop: rank (−score, tensor position, flat index); keep round(f N)."""
    entries = []
    for t, (name, tensor) in enumerate(scores.items()):
        for i, v in enumerate(tensor.reshape(-1).tolist()):
            entries.append((-v, t, i, name))
    entries.sort()
    k = int(round(fraction * len(entries)))
    keep = {name: np.zeros(tensor.numel(), dtype=bool) for name, tensor in scores.items()}
    for _, _, i, name in entries[:k]:
        keep[name][i] = True
    return {name: keep[name].reshape(tuple(tensor.shape)) for name, tensor in scores.items()}


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.37, 1.0])
def test_saliency_mask_matches_a_naive_loop_with_ties(fraction):
    g = torch.Generator().manual_seed(1)
    # few distinct values so that ties cross the threshold
    scores = {"a": torch.randint(0, 4, (3, 5), generator=g).float(),
              "b": torch.randint(0, 4, (7,), generator=g).float(),
              "c": torch.randint(0, 4, (2, 2, 3), generator=g).float()}
    masks = saliency_mask(scores, fraction)
    expected = naive_mask(scores, fraction)
    total = sum(t.numel() for t in scores.values())
    assert sum(int(m.sum()) for m in masks.values()) == int(round(fraction * total))
    for name in scores:
        assert masks[name].dtype == torch.bool and masks[name].shape == scores[name].shape
        np.testing.assert_array_equal(masks[name].numpy(), expected[name])


def test_saliency_mask_golden():
    scores = {"w": torch.tensor([[0.5, 3.0], [1.0, 0.0]]), "b": torch.tensor([2.0, 1.0])}
    masks = saliency_mask(scores, 0.5)  # 3 of 6: 3.0, 2.0, then the first 1.0 (in "w")
    assert masks["w"].tolist() == [[False, True], [True, False]]
    assert masks["b"].tolist() == [True, False]


def test_salun_updates_exactly_the_salient_weights(leaky):
    # SGD with momentum and weight decay: masking gradients alone would still move masked weights
    u = create_unlearner("salun", fraction=0.3, optimizer="sgd", lr=0.01)
    result = u.unlearn(leaky.original, leaky.records("retain"), leaky.records("forget"), seed=1)
    before = dict(leaky.original.model.named_parameters())
    after = dict(result.model.model.named_parameters())

    # the mask, recomputed independently: |d mean CE(forget) / d theta| at the original weights
    net = copy.deepcopy(leaky.original.model)
    X, y = leaky.records("forget")
    loss = F.cross_entropy(net(torch.as_tensor(X)), torch.as_tensor(y))
    grads = torch.autograd.grad(loss, list(net.parameters()))
    scores = {n: g.abs() for (n, _), g in zip(net.named_parameters(), grads)}
    expected = naive_mask(scores, 0.3)

    total = sum(p.numel() for p in before.values())
    assert result.details["salient_weights"] == int(round(0.3 * total)) and result.details["weights"] == total
    changed_salient = 0
    for name, p in before.items():
        keep = torch.as_tensor(expected[name])
        # non-salient weights: bitwise the original
        assert torch.equal(after[name].detach()[~keep], p.detach()[~keep]), name
        changed_salient += int((after[name].detach()[keep] != p.detach()[keep]).sum())
    assert changed_salient > 0.9 * result.details["salient_weights"]


def test_forget_gradient_is_the_full_batch_gradient(leaky):
    net = copy.deepcopy(leaky.original.model)
    data = to_device(Records(*leaky.records("forget")), net)
    batched = forget_gradient(net, data, batch_size=7)
    loss = F.cross_entropy(net(data.X), data.y)
    full = torch.autograd.grad(loss, list(net.parameters()))
    for (name, _), g in zip(net.named_parameters(), full):
        torch.testing.assert_close(batched[name], g, rtol=1e-4, atol=1e-6)


def test_salun_forgets_more_than_finetuning(leaky):
    salun = leaky.unlearn("salun").model.model
    finetuned = leaky.unlearn("finetune").model.model
    gap, se = paired_gap(leaky.log_losses(salun, "forget"), leaky.log_losses(finetuned, "forget"))
    assert gap > 4 * se


@pytest.mark.parametrize("options, param", [
    ({"fraction": 0.0}, "fraction"),
    ({"fraction": 1.5}, "fraction"),
    ({"fraction": "half"}, "fraction"),
    ({"epochs": 0}, "epochs"),
])
def test_salun_bad_options_name_the_parameter(options, param):
    with pytest.raises(InputError, match=rf"^{param} must be .*; got"):
        create_unlearner("salun", **options)
