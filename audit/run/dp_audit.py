"""One-run audit of a DP-SGD claim with mislabelled canaries: :func:`canary_audit`.

Steinke, Nasr & Jagielski 2023 ("Privacy auditing with one (1) training run"), black-box,
input-space canaries; the bound itself is :func:`mia_audit.dp_audit.one_run_audit`.

What it does
    1. Draws ``n_canaries`` = m records of ``X`` (seeded) and takes them out of the base
       training set; each becomes a canary by a wrong label, drawn uniformly (seeded) among
       the other ``n_classes - 1`` labels (with two classes: the other label). The canary
       records appear in training only as their mislabelled copy, never with their true label.
    2. Includes each canary in the training set independently with probability 1/2 (seeded);
       the base records are always included.
    3. Trains ``model`` on base + included canaries: with DP-SGD through
       ``dp_mitigation.train`` (a ``dp-sgd`` mitigation), or without DP through
       :func:`mia_audit.training.train_model` when ``dp_mitigation`` is None (the control).
    4. Scores every canary by the negative cross-entropy of its wrong label under the trained
       model (higher = more likely included: a model that trained on a mislabelled record
       tends to fit its wrong label).
    5. Guesses "in" for the ``k_plus`` highest scores and "out" for the ``k_minus`` lowest,
       and bounds epsilon from the correct guesses at ``delta`` and ``confidence``.

``delta`` defaults to the trained model's delta (the accountant's, from the DP result's
``privacy()``), or for the non-DP control to ``1 / (10 n)`` for ``n`` training records (the
DP trainer's default). The return value is a plain JSON-ready dict (a result's ``dp_audit``
section): ``claimed_epsilon`` (the accountant's epsilon, None without DP) and
``claimed_delta`` next to the audit's fields; a ``claimed_epsilon`` below
``epsilon_lower_bound`` is a broken claim.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from mia_audit.adapters import as_adapter
from mia_audit.checks import fraction, is_int, positive_int, probability
from mia_audit.dp_audit import one_run_audit
from mia_audit.errors import InputError, bad_value
from mia_audit.seeding import check_seed, derive_seed, rng
from mia_audit.signals import compute_signals

CANARY_KIND = "mislabelled"


def make_canaries(y: np.ndarray, n_canaries: int, n_classes: int, *, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]:
    """``(index, wrong_labels, included)`` for ``n_canaries`` records of labels ``y`` (all seeded).

    ``index``: the canary records (distinct, shape (m,)); ``wrong_labels``: a label != y[index]
    each, uniform among the other classes; ``included``: independent fair coin flips (bools).
    """
    n = int(y.shape[0])
    index = rng(seed, "canaries", "records").choice(n, size=n_canaries, replace=False)
    shift = rng(seed, "canaries", "labels").integers(1, n_classes, size=n_canaries)
    wrong = (y[index] + shift) % n_classes
    included = rng(seed, "canaries", "included").random(n_canaries) < 0.5
    return index, wrong.astype(np.int64), included


def canary_audit(dp_mitigation: Any, model: Any, X: Any, y: Any, recipe: Any, *, n_canaries: int, seed: int,
                 device: Any = "auto", k_plus: int, k_minus: int, delta: Optional[float] = None,
                 confidence: float = 0.95, n_classes: Optional[int] = None) -> dict[str, Any]:
    """Train ``model`` once with mislabelled canaries and bound the epsilon it satisfies (module docstring).

    ``dp_mitigation``: a ``dp-sgd`` mitigation (``mia_audit.mitigations.create_mitigation("dp-sgd",
    target_epsilon=1.0)``) or None for training without DP. ``model``: an untrained torch
    module; ``X`` (n, ...) and ``y`` (n,) numpy arrays, the pool canaries are drawn from
    (n > ``n_canaries``); ``recipe``: a :class:`~mia_audit.training.TrainRecipe`.
    ``k_plus + k_minus`` <= ``n_canaries``; ``delta`` in [0, 1) or None; ``confidence`` in (0, 1);
    ``n_classes`` defaults to ``max(y) + 1``.
    """
    seed = check_seed(seed)
    m = positive_int("n_canaries", n_canaries)
    for name, value in (("k_plus", k_plus), ("k_minus", k_minus)):
        if not is_int(value) or value < 0:
            raise bad_value(name, "an integer >= 0", value)
    if not 1 <= k_plus + k_minus <= m:
        raise InputError(f"k_plus + k_minus must be from 1 to n_canaries = {m}; got {k_plus} + {k_minus}")
    delta = probability("delta", delta, high_open=True, allow_none=True)
    confidence = fraction("confidence", confidence)
    if dp_mitigation is not None and (getattr(dp_mitigation, "kind", None) != "training"
                                      or not callable(getattr(dp_mitigation, "train", None))):
        raise bad_value("dp_mitigation", "a training-time mitigation such as dp-sgd (create_mitigation('dp-sgd', "
                        "...)) or None", dp_mitigation)
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or X.shape[:1] != y.shape:
        raise bad_value("y", f"a 1-D array of integer labels, one per record of X ({X.shape[0]})",
                        f"shape {y.shape}, dtype {y.dtype}")
    if m >= y.shape[0]:
        raise bad_value("n_canaries", f"fewer than the {y.shape[0]} records of X", n_canaries)
    n_classes = positive_int("n_classes", int(y.max()) + 1 if n_classes is None else n_classes, minimum=2)
    if y.min() < 0 or y.max() >= n_classes:
        raise bad_value("y", f"labels in [0, {n_classes})", f"labels from {y.min()} to {y.max()}")

    start = time.perf_counter()
    index, wrong, included = make_canaries(y, m, n_classes, seed=seed)
    base = np.ones(y.shape[0], dtype=bool)
    base[index] = False
    X_train = np.concatenate([X[base], X[index[included]]])
    y_train = np.concatenate([y[base], wrong[included]])
    train_seed = derive_seed(seed, "canary-audit", "train")
    if dp_mitigation is None:
        from mia_audit.training import train_model

        trained = train_model(model, X_train, y_train, recipe, seed=train_seed, device=device)
        privacy: Optional[dict[str, Any]] = None
        audit_delta = 1.0 / (10.0 * y_train.shape[0]) if delta is None else delta
    else:
        trained = dp_mitigation.train(model, X_train, y_train, recipe, seed=train_seed, device=device)
        privacy = trained.privacy()
        audit_delta = float(privacy["delta"]) if delta is None else delta

    outputs = as_adapter(trained.model, n_classes=n_classes).predict(X[index])
    loss = compute_signals(outputs, wrong).get("loss")
    audit = one_run_audit(-loss, included, k_plus=k_plus, k_minus=k_minus, delta=audit_delta,
                          confidence=confidence)
    return {
        "claimed_epsilon": None if privacy is None else float(privacy["epsilon"]),
        "claimed_delta": None if privacy is None else float(privacy["delta"]),
        **audit,
        "canaries": CANARY_KIND,
        "n_included": int(included.sum()),
        "n_train": int(y_train.shape[0]),
        "mitigation": None if dp_mitigation is None else dp_mitigation.label,
        "privacy": privacy,
        "seed": seed,
        "seconds": time.perf_counter() - start,
    }


__all__ = ["canary_audit", "make_canaries", "CANARY_KIND"]
