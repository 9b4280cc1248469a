"""mia-guided: lam=0 is fine-tuning, lam>0 makes forget records look like non-members to a
membership-inference attack; the attack's parts; option checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mia_audit.adapters import model_sha256
from mia_audit.errors import InputError
from mia_audit.unlearners import create_unlearner
from mia_audit.unlearners.mia_guided import attack_features, attack_model, eval_features, fit_attack, forget_batch_size
from mia_audit.unlearners.records import Records
from mia_audit.unlearners.torch_loops import generator, to_device

from .test_baselines import Leaky, paired_gap


@pytest.fixture(scope="module")
def leaky():
    return Leaky()


def fitted_attack(leaky, net, seed=0):
    """An attack fitted on ``net``'s retain (members) vs test (non-members) features."""
    members = eval_features(net, to_device(Records(*leaky.records("retain")), net))
    others = eval_features(net, to_device(Records(*leaky.records("test")), net))
    attack = attack_model(torch.cat([members, others]), 32, seed)
    fit_attack(attack, members, others, steps=200, lr=1e-2, gen=generator(seed, "test-attack"))
    return attack


def member_probabilities(leaky, attack, net, which):
    features = eval_features(net, to_device(Records(*leaky.records(which)), net))
    with torch.no_grad():
        return torch.sigmoid(attack(features).squeeze(1)).numpy().astype(np.float64)


def test_lam_zero_is_exactly_finetuning(leaky):
    guided = leaky.unlearn("mia-guided", lam=0.0, epochs=2)
    finetuned = leaky.unlearn("finetune", epochs=2)
    assert model_sha256(guided.model.model) == model_sha256(finetuned.model.model)
    assert guided.details["loss_per_epoch"] == finetuned.details["retain_loss_per_epoch"]


def test_lam_positive_lowers_the_membership_score_of_forget(leaky):
    # one attack, fitted on the original model (retain = members, test = non-members), scores
    # the same forget records under the lam=0 and lam=1 models: paired per record
    attack = fitted_attack(leaky, leaky.original.model)
    plain = leaky.unlearn("mia-guided", lam=0.0).model.model
    guided_result = leaky.unlearn("mia-guided", lam=1.0)
    guided = guided_result.model.model
    before = member_probabilities(leaky, attack, plain, "forget")
    after = member_probabilities(leaky, attack, guided, "forget")
    gap, se = paired_gap(before, after)
    assert gap > 3 * se  # one-sided, p about 0.001 under no change
    # and the method's own attack saw the forget records' score fall
    d = guided_result.details
    assert d["forget_member_score_after"] < d["forget_member_score_before"]
    assert d["non_members"] == "validation records"
    # the model stays useful
    assert leaky.accuracy(guided, "test") >= leaky.accuracy(leaky.original.model, "test") - 0.05


def test_without_validation_records_the_fallback_non_members_are_perturbed_retain(leaky):
    result = leaky.unlearn("mia-guided", validation=False)
    assert result.details["non_members"].startswith("retain records with Gaussian noise")
    assert np.isfinite(result.details["loss_per_epoch"]).all()


def test_attack_features_are_sorted_posteriors_and_loss():
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    y = torch.tensor([2, 0])
    f = attack_features(logits, y)
    p = torch.softmax(logits, 1)
    assert f.shape == (2, 4)
    torch.testing.assert_close(f[:, :3], p.sort(1, descending=True).values)
    torch.testing.assert_close(f[:, 3], -torch.log(p[torch.arange(2), y]))


def test_attack_fitting_separates_a_clear_signal():
    g = torch.Generator().manual_seed(0)
    members = torch.randn(300, 3, generator=g) + torch.tensor([2.0, 0.0, 0.0])
    others = torch.randn(300, 3, generator=g)
    attack = attack_model(torch.cat([members, others]), 16, 0)
    fit_attack(attack, members, others, steps=200, lr=1e-2, gen=generator(0, "t"))
    with torch.no_grad():
        z_m, z_o = attack(members).squeeze(1), attack(others).squeeze(1)
    # AUC of a Gaussian shift of 2 standard deviations is about 0.92
    assert float((z_m[:, None] > z_o[None, :]).float().mean()) > 0.85


def test_forget_batch_size_is_forgets_share_of_a_retain_batch():
    assert forget_batch_size(128, 200, 600) == 43
    assert forget_batch_size(128, 1, 600) == 1
    assert forget_batch_size(64, 3, 10000) == 2
    assert forget_batch_size(64, 500, 100) == 320


@pytest.mark.parametrize("options, param", [
    ({"lam": -1.0}, "lam"),
    ({"lam": float("nan")}, "lam"),
    ({"attack_hidden": 0}, "attack_hidden"),
    ({"attack_lr": 0.0}, "attack_lr"),
    ({"attack_warmup": -1}, "attack_warmup"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_options_name_the_parameter(options, param):
    with pytest.raises(InputError, match=rf"^{param} must be .*; got"):
        create_unlearner("mia-guided", **options)
