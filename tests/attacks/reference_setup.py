"""A shared real-data setting for the reference-model attack tests (not a test module).

An MLP on a 1,200-record subsample of Adult, trained on a random half of it with a recipe
that overfits (train accuracy about 0.93, test about 0.78); 16 reference MLPs with the
same recipe on random halves of the same pool. The store lives under pytest's session
base folder, so every test module of a session reuses it (a store reopens for free).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mia_audit.data import load_dataset
from mia_audit.models import build_model
from mia_audit.reference import ReferenceStore, train_references
from mia_audit.training import TrainRecipe, train_model

POOL = 1200
HIDDEN = [128]
RECIPE = TrainRecipe(epochs=20, batch_size=64, lr=3e-3)
N_MODELS = 16


@dataclass
class AdultSetting:
    X: np.ndarray
    y: np.ndarray
    target: object
    store: ReferenceStore
    members: np.ndarray  # pool indices the target trained on
    nonmembers: np.ndarray  # pool indices it did not train on, scored
    population: np.ndarray  # further non-members: RMIA's z-samples


def adult_setting(folder) -> AdultSetting:
    data = load_dataset("adult")
    pick = np.random.default_rng(0).choice(len(data.X), POOL, replace=False)
    X, y = data.X[pick], data.y[pick]
    order = np.random.default_rng(1).permutation(POOL)
    members = np.sort(order[: POOL // 2])
    rest = order[POOL // 2:]
    population, nonmembers = np.sort(rest[: len(rest) // 2]), np.sort(rest[len(rest) // 2:])
    net = build_model("mlp", input_shape=X.shape[1:], n_classes=2, seed=123, hidden=HIDDEN)
    target = train_model(net, X[members], y[members], RECIPE, seed=5, device="cpu").model
    store = train_references(folder, X, y, model="mlp", model_params={"hidden": HIDDEN}, n_models=N_MODELS, seed=0,
                             recipe=RECIPE, device="cpu", progress=False)
    return AdultSetting(X, y, target, store, members, nonmembers, population)


def auc_se(n1: int, n0: int) -> float:
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))
