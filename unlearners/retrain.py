"""``retrain``: exact unlearning by training from scratch on the retained records.

The reference for every comparison: the original architecture with its initial weights
(``Trained.init``) trained with the original recipe on ``retain`` only. Works for torch
models and XGBoost (a fresh fit of the unfitted estimator on ``retain``).
"""

from __future__ import annotations

from mia_audit.training import train_model

from .base import Trained, Unlearner
from .registry import UNLEARNERS


@UNLEARNERS.register("retrain")
class Retrain(Unlearner):
    """Retrain from scratch on retain with the original recipe (exact; the reference)."""

    name = "retrain"
    frameworks = ("torch", "xgboost")
    reference = "Exact unlearning by retraining from scratch on the retained data (the gold standard; see Bourtoule et al. 2021)."

    def _unlearn(self, model: Trained, retain, forget, validation, seed):
        result = train_model(model.init, retain.X, retain.y, model.recipe, seed=seed, device=model.device)
        new = Trained(model=result.model, init=model.init, recipe=model.recipe, train_keys=model.train_keys,
                      method=model.method, seconds=float(result.seconds), device=str(result.device))
        return new, {"epochs": None if model.recipe is None else model.recipe.epochs}
