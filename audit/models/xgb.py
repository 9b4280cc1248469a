"""Gradient-boosted trees (XGBoost) configured like the other models: seeded, validated.

``xgboost`` is imported only when a model is built, so the rest of the toolkit works on
machines without it.
"""

from __future__ import annotations

from typing import Any

# The estimator parameters build_model accepts for "xgboost" (anything else is refused,
# because XGBClassifier silently accepts and ignores unknown keywords).
XGB_PARAMS = (
    "n_estimators",
    "max_depth",
    "learning_rate",
    "subsample",
    "colsample_bytree",
    "min_child_weight",
    "reg_lambda",
    "reg_alpha",
    "gamma",
    "n_jobs",
)

XGB_SEED_MODULUS = 2**31  # XGBoost's random_state is a 32-bit signed int on some paths


def xgboost_seed(seed: int) -> int:
    """The random_state given to XGBoost for a toolkit seed (small seeds are unchanged)."""
    return int(seed) % XGB_SEED_MODULUS


def xgboost_classifier(
    n_classes: int,
    seed: int,
    *,
    n_estimators: int = 200,
    max_depth: int = 6,
    learning_rate: float = 0.1,
    **extra: Any,
):
    """An unfitted ``xgboost.XGBClassifier``: ``tree_method="hist"``, ``device="cpu"``
    (``train_model`` switches a clone to CUDA when it trains on a GPU), objective
    ``binary:logistic`` for 2 classes and ``multi:softprob`` otherwise, training
    log-loss recorded per round."""
    import xgboost

    if n_classes == 2:
        objective = {"objective": "binary:logistic", "eval_metric": "logloss"}
    else:
        objective = {"objective": "multi:softprob", "num_class": int(n_classes), "eval_metric": "mlogloss"}
    return xgboost.XGBClassifier(
        n_estimators=int(n_estimators),
        max_depth=int(max_depth),
        learning_rate=float(learning_rate),
        tree_method="hist",
        device="cpu",
        random_state=xgboost_seed(seed),
        **objective,
        **extra,
    )
