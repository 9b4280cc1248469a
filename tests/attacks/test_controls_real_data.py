"""Conformance controls on real data, for every registered attack.

* Signal: an MLP overfitted on 1,500 Adult records (train accuracy 0.99 against 0.81
  on unseen records) must be detectable: every attack's AUC (members = those 1,500,
  non-members = 3,000 unseen records) sits more than 4 standard errors above 0.5.
  Adult leaks little even then (loss AUC about 0.58, entropy about 0.54, measured);
  1,500 members give the power to tell that apart from chance.
* Null: two disjoint sets of unseen records, one labelled "member", must give an AUC
  within 4 standard errors of 0.5 (SE = sqrt((n1 + n0 + 1) / (12 n1 n0))).
"""

import numpy as np
import pytest

from attacks import create_attack
from attacks.reference_base import signal_attack_names
from audit.adapters import as_adapter
from audit.data import load_dataset, make_split
from audit.metrics import auc
from audit.models import build_model
from audit.signals import Signals, compute_signals
from audit.training import recipe_for, train_model

N_MEMBERS, N_NONMEMBERS = 1500, 3000


def auc_se(n1, n0):
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


@pytest.fixture(scope="module")
def overfitted_adult():
    data = load_dataset("adult")
    split = make_split(data, train_size=N_MEMBERS, test_size=2 * N_NONMEMBERS, stratify=True, seed=11)
    model = build_model("mlp", input_shape=data.input_shape, n_classes=2, seed=1, hidden=(256, 256))
    recipe = recipe_for("mlp", "tabular").replace(epochs=60, batch_size=32)
    trained = train_model(model, data.X[split.train], data.y[split.train], recipe, seed=2, device="cpu")
    adapter = as_adapter(trained.model)
    members = compute_signals(adapter.predict(data.X[split.train]), data.y[split.train])
    unseen = compute_signals(adapter.predict(data.X[split.test]), data.y[split.test])
    return members, unseen.take(np.arange(N_NONMEMBERS)), unseen.take(np.arange(N_NONMEMBERS, 2 * N_NONMEMBERS))


def attack_auc(name, members, nonmembers):
    both = Signals.concat([members, nonmembers])
    is_member = np.r_[np.ones(len(members), bool), np.zeros(len(nonmembers), bool)]
    scores = create_attack(name, seed=0).membership_scores(both, is_member)
    return auc(scores[is_member], scores[~is_member])


def test_the_model_memorises(overfitted_adult):
    members, unseen, _ = overfitted_adult
    assert members.correct.mean() > 0.97
    assert unseen.correct.mean() < members.correct.mean() - 0.1
    # a loss-based attack sees the memorisation clearly, not just beyond noise
    assert attack_auc("loss", members, unseen) > 0.55


@pytest.mark.parametrize("name", signal_attack_names())
def test_strong_signal_on_a_memorising_model(name, overfitted_adult):
    members, unseen, _ = overfitted_adult
    value = attack_auc(name, members, unseen)
    assert value > 0.5 + 4 * auc_se(N_MEMBERS, N_NONMEMBERS), f"{name}: AUC {value:.3f}"


@pytest.mark.parametrize("name", signal_attack_names())
def test_null_control_nonmembers_against_nonmembers(name, overfitted_adult):
    _, unseen_a, unseen_b = overfitted_adult
    value = attack_auc(name, unseen_a, unseen_b)
    assert abs(value - 0.5) < 4 * auc_se(N_NONMEMBERS, N_NONMEMBERS), f"{name}: null AUC {value:.4f}"
