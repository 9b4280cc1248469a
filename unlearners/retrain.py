"""``retrain``: exact unlearning by training from scratch on the retained records.

The reference for every comparison: the original architecture with its initial weights
(``Trained.init``) trained with the original recipe on ``retain`` only. Works for torch
models and XGBoost (a fresh fit of the unfitted estimator on ``retain``), and for any model
your own training function made (``Trained.trainer``: it is called on ``retain`` with the
unlearning seed).
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

    def check_applicable(self, model: Trained) -> None:
        if model.trainer is not None:  # your training function retrains whatever it trained
            return
        super().check_applicable(model)

    def _unlearn(self, model: Trained, retain, forget, validation, seed):
        if model.trainer is not None:
            result = model.trainer.train(retain.X, retain.y, seed=seed, device=model.device)
            new = Trained(model=result.model, init=None, recipe=model.recipe, train_keys=model.train_keys,
                          method=model.method, seconds=float(result.seconds), device=str(result.device),
                          trainer=model.trainer)
            return new, {"epochs": None, "trainer": model.trainer.name}
        result = train_model(model.init, retain.X, retain.y, model.recipe, seed=seed, device=model.device)
        new = Trained(model=result.model, init=model.init, recipe=model.recipe, train_keys=model.train_keys,
                      method=model.method, seconds=float(result.seconds), device=str(result.device))
        return new, {"epochs": None if model.recipe is None else model.recipe.epochs}
