"""Conformance controls on real data, for every registered attack.

* Signal: an MLP that memorises 1,000 CIFAR-10 images (8x8x3 average-pooled pixels,
  train accuracy about 0.98 against 0.37 on unseen images) must be detectable: every
  attack's AUC (members = those 1,000, non-members = 2,000 unseen images) sits more than
  4 standard errors above 0.5. The measured AUCs lie at least 4.7x that bound's distance
  from 0.5 (see test_strong_signal_on_a_memorising_model), so a change of machine,
  instruction set or thread count cannot move them across it. CIFAR-10 comes from the
  shared data folder; the test skips without it.
  Adult, a binary task, is too weak for this: an MLP overfitted on 1,500 Adult records
  (train accuracy 0.99 against 0.81) gives loss AUC about 0.57 and entropy AUC about 0.536,
  against a bound of 0.5365 (measured; entropy failed on an AVX-512 machine).
* Null: two disjoint sets of unseen Adult records, one labelled "member", must give an AUC
  within 4 standard errors of 0.5 (SE = sqrt((n1 + n0 + 1) / (12 n1 n0))).
"""

import numpy as np
import pytest

from mia_audit.attacks import create_attack
from mia_audit.attacks.reference_base import signal_attack_names
from mia_audit.adapters import as_adapter
from mia_audit.data import load_dataset, make_split
from mia_audit.metrics import auc
from mia_audit.models import build_model
from mia_audit.signals import Signals, compute_signals
from mia_audit.training import recipe_for, train_model

N_MEMBERS, N_NONMEMBERS = 1500, 3000  # Adult (null control)
CIFAR_MEMBERS, CIFAR_NONMEMBERS = 1000, 2000  # CIFAR-10 (signal)


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


@pytest.fixture(scope="module")
def memorising_cifar(shared_data_dir):
    """Signals of an MLP that memorises 1,000 CIFAR-10 images: (members, 2,000 unseen).

    The images are 4x4 average-pooled to 8x8x3 = 192 features and standardised over the
    5,000 images loaded (the first 2,500 of each original split); one hidden layer of 256,
    30 epochs: about 2 s on one thread.
    """
    data = load_dataset("cifar10", data_dir=shared_data_dir, limit=2500)
    n = len(data.y)
    X = data.X.reshape(n, 3, 8, 4, 8, 4).mean(axis=(3, 5)).reshape(n, -1)
    X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
    split = make_split(data, train_size=CIFAR_MEMBERS, test_size=CIFAR_NONMEMBERS, stratify=True, seed=11)
    model = build_model("mlp", input_shape=X.shape[1:], n_classes=data.n_classes, seed=1, hidden=(256,))
    recipe = recipe_for("mlp", "tabular").replace(epochs=30, batch_size=32)
    trained = train_model(model, X[split.train], data.y[split.train], recipe, seed=2, device="cpu")
    adapter = as_adapter(trained.model)
    members = compute_signals(adapter.predict(X[split.train]), data.y[split.train])
    unseen = compute_signals(adapter.predict(X[split.test]), data.y[split.test])
    return members, unseen


def attack_auc(name, members, nonmembers):
    both = Signals.concat([members, nonmembers])
    is_member = np.r_[np.ones(len(members), bool), np.zeros(len(nonmembers), bool)]
    scores = create_attack(name, seed=0).membership_scores(both, is_member)
    return auc(scores[is_member], scores[~is_member])


def test_the_model_memorises(overfitted_adult):
    # measured: train accuracy 0.989-0.995, unseen 0.81-0.82 (model / training seeds varied)
    members, unseen, _ = overfitted_adult
    assert members.correct.mean() > 0.97
    assert unseen.correct.mean() < members.correct.mean() - 0.1
    # (no attack-AUC check on Adult: its loss AUC, 0.570-0.575 over seeds, sits too close
    # to any bound worth asserting; the memorising CIFAR-10 model below carries the signal test)


def test_the_cifar_model_memorises(memorising_cifar):
    # measured (six seed pairs): train accuracy 0.979-0.985, unseen 0.360-0.376, loss AUC 0.862-0.872
    members, unseen = memorising_cifar
    assert members.correct.mean() > 0.9
    assert unseen.correct.mean() < members.correct.mean() - 0.4
    # a loss-based attack sees the memorisation clearly, not just beyond noise
    assert attack_auc("loss", members, unseen) > 0.65


@pytest.mark.parametrize("name", signal_attack_names())
def test_strong_signal_on_a_memorising_model(name, memorising_cifar):
    # Bound: 0.5 + 4 SE(1000, 2000) = 0.5 + 4 * 0.01118 = 0.5447. Measured AUC (this fixture;
    # AVX-512 and ATEN_CPU_CAPABILITY=avx2, 1 and 2 threads, agree to 4e-4; in brackets the
    # range over five other model/training seed pairs): confidence 0.872 [0.862-0.871],
    # entropy 0.724 [0.712-0.730], gap 0.811 [0.802-0.811], loss 0.872 [0.862-0.871],
    # loss-lr 0.872 [0.862-0.871], modified-entropy 0.874 [0.864-0.873].
    # The weakest, entropy, lies 0.224 above 0.5: 5.0x the bound's distance (0.0447).
    members, unseen = memorising_cifar
    value = attack_auc(name, members, unseen)
    assert value > 0.5 + 4 * auc_se(CIFAR_MEMBERS, CIFAR_NONMEMBERS), f"{name}: AUC {value:.3f}"


@pytest.mark.parametrize("name", signal_attack_names())
def test_null_control_nonmembers_against_nonmembers(name, overfitted_adult):
    _, unseen_a, unseen_b = overfitted_adult
    value = attack_auc(name, unseen_a, unseen_b)
    assert abs(value - 0.5) < 4 * auc_se(N_NONMEMBERS, N_NONMEMBERS), f"{name}: null AUC {value:.4f}"
