"""Small problems shared by the unlearner tests (built once per session)."""

from __future__ import annotations

import numpy as np
import pytest


class Problem:
    """A tiny train/test problem with a forget set inside train."""

    def __init__(self, name, model, recipe, X, y, n_train, n_forget, seed=0):
        g = np.random.default_rng(seed)
        order = g.permutation(len(y))
        train, test = np.sort(order[:n_train]), np.sort(order[n_train:2 * n_train])
        forget = np.sort(g.choice(train, n_forget, replace=False))
        retain = np.setdiff1d(train, forget)
        self.name, self.model, self.recipe = name, model, recipe
        self.X, self.y = X, y
        self.train, self.test, self.forget, self.retain = train, test, forget, retain

    def records(self, which):
        idx = getattr(self, which)
        return self.X[idx], self.y[idx]


@pytest.fixture(scope="session")
def digits_cnn():
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for

    d = load_dataset("digits")
    model = build_model("cnn", input_shape=d.input_shape, n_classes=d.n_classes, seed=0, channels=(8, 16), hidden=32)
    return Problem("digits-cnn", model, recipe_for("cnn", "image").replace(epochs=3), d.X, d.y, 300, 30)


@pytest.fixture(scope="session")
def adult_mlp():
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model
    from mia_audit.training import recipe_for

    d = load_dataset("adult")
    g = np.random.default_rng(1)
    rows = np.sort(g.choice(d.n, 1200, replace=False))
    model = build_model("mlp", input_shape=d.input_shape, n_classes=d.n_classes, seed=0, hidden=(32,))
    return Problem("adult-mlp", model, recipe_for("mlp", "tabular").replace(epochs=3), d.X[rows], d.y[rows], 400, 40)


@pytest.fixture(scope="session")
def adult_xgb():
    pytest.importorskip("xgboost")
    from mia_audit.data import load_dataset
    from mia_audit.models import build_model

    d = load_dataset("adult")
    g = np.random.default_rng(2)
    rows = np.sort(g.choice(d.n, 1200, replace=False))
    model = build_model("xgboost", input_shape=d.input_shape, n_classes=d.n_classes, seed=0,
                        n_estimators=20, max_depth=3, n_jobs=1)
    return Problem("adult-xgb", model, None, d.X[rows], d.y[rows], 400, 40)
