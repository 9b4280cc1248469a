"""Logistic regression on the per-sample loss, scored out of fold.

This is the membership attack of the NeurIPS 2023 machine-unlearning challenge's
starting kit, used by seed paper 002 (Salgado Herrera et al. 2024): the losses of
the two sets are labelled 1 (member) / 0 (non-member), a logistic regression is
trained with stratified k-fold cross-validation, and each sample is scored by the
fold model that did not see it. Its AUC is therefore measured on held-out folds.

The feature is the raw loss, as in the kit. For confident predictions the loss is
tiny (1e-10 and below), and the fitted ``sigmoid(a + b * loss)`` then rounds to the
same probability for all of them, so many records tie at the top score. Its AUC
matches the loss threshold's, but its TPR at FPR <= 1 % is often 0 where the loss
attack's is not: read the two together.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from audit.errors import bad_value
from audit.seeding import check_seed
from audit.signals import Signals

from .base import Attack, check_membership
from .registry import ATTACKS


@ATTACKS.register("loss-lr")
class LossLogisticRegressionAttack(Attack):
    """Logistic regression on the loss with stratified k-fold CV (NeurIPS 2023 unlearning kit)."""

    name = "loss-lr"
    requires = ("loss",)
    requires_fit = True
    reference = (
        "NeurIPS 2023 Machine Unlearning challenge starting kit (simple_mia); "
        "Salgado Herrera et al., Comparative analysis of machine unlearning approaches, AMIAD 2024."
    )

    def __init__(self, *, n_splits: int = 5, seed: int = 0, C: float = 1.0) -> None:
        if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
            raise bad_value("n_splits", "an integer >= 2", n_splits)
        if not np.isfinite(C) or C <= 0:
            raise bad_value("C", "a positive finite number", C)
        self.n_splits = int(n_splits)
        self.seed = check_seed(seed)
        self.C = float(C)

    @staticmethod
    def _features(signals: Signals) -> np.ndarray:
        return signals.loss.reshape(-1, 1)

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=self.C)

    def fit(self, signals: Signals, is_member: np.ndarray) -> "LossLogisticRegressionAttack":
        m = check_membership(signals, is_member)
        super().fit(signals, m)
        self.model_ = self._model().fit(self._features(signals), m.astype(int))
        return self

    def _score(self, signals: Signals) -> np.ndarray:
        return self.model_.predict_proba(self._features(signals))[:, 1]

    def membership_scores(self, signals: Signals, is_member: np.ndarray) -> np.ndarray:
        """Out-of-fold member probabilities: each sample scored by a model not fitted on it."""
        m = check_membership(signals, is_member)
        signals.get("loss")
        smallest = int(min(m.sum(), (~m).sum()))
        if smallest < self.n_splits:
            raise bad_value(
                "member and non-member counts", f"at least n_splits={self.n_splits} each for loss-lr",
                f"{int(m.sum())} members and {int((~m).sum())} non-members",
            )
        X = self._features(signals)
        y = m.astype(int)
        scores = np.empty(len(y), dtype=np.float64)
        folds = StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed % 2**32)
        for fit_idx, held_idx in folds.split(X, y):
            model = self._model().fit(X[fit_idx], y[fit_idx])
            scores[held_idx] = model.predict_proba(X[held_idx])[:, 1]
        return scores
