"""Logistic regression on the per-sample loss, scored out of fold.

The attack of the NeurIPS 2023 machine-unlearning challenge's starting kit
(``simple_mia``), used by seed paper 002 (Salgado Herrera et al. 2024): the losses of
the two sets are labelled 1 (member) / 0 (non-member) and a logistic regression is
fitted on the loss alone. The kit itself draws ``StratifiedShuffleSplit`` splits (10 by
default, 10 % held out each), scores each split's held-out records by *accuracy* and
reports the mean of the per-split accuracies; it never pools folds and never ranks
records. This attack keeps the kit's model and feature but gives every record one
held-out score, so that one ROC (AUC, TPR at low FPR) covers all records: stratified
k-fold cross-validation (``n_splits``, default 5), each record scored by the fold model
that did not see it.

Pooled scores: within-fold percentiles, not raw probabilities. Each fold's model has
its own intercept and slope, so its held-out probabilities sit on its own scale, and one
AUC over all records compares probabilities of different models. Under the null
(members and non-members drawn from one distribution) that comparison is biased
against the held-out labels: with 100 + 100 records and 5 folds, 2,000 null draws gave
a mean z = (AUC - 0.5) / SE of -0.30 +/- 0.03 with raw probabilities (500 draws in an
independent check against ``simple_mia``: -0.24 +/- 0.05; pairs of records within one
fold +0.03 SE, pairs across folds -0.27 SE). :meth:`membership_scores` therefore
stores each record's percentile among its own fold's held-out records,
``(rank - 0.5) / n_fold`` with ties averaged. Within a fold this is exactly the fold
model's ranking (a logistic regression on one feature is monotone in it), across folds
every fold's scores share one uniform scale, and the AUC stays one held-out ranking of
all records. The same 2,000 draws gave -0.04 +/- 0.03 (paired difference from raw
probabilities +0.265 +/- 0.009); on losses with a real member/non-member difference the
AUC was unchanged or slightly higher (+0.01 in the two synthetic settings tried).
Rejected alternatives: a common raw scale such as ``sign(coef) * loss`` is biased upward
under the null (+0.28 +/- 0.02 SE on the same draws: each fold's orientation is fitted
on the records of the other folds, the very records its held-out scores are compared
with); averaging per-fold AUCs is unbiased but gives no single ROC, so no TPR at 0.1 %
over all records. Refitted folds also spread wider than the nominal SE under the null
(sd of z about 1.2 to 1.3 instead of 1), so read a null AUC within a few SE of 0.5.

The feature is the raw loss, as in the kit. For confident predictions the loss is
tiny (1e-10 and below), and the fitted ``sigmoid(a + b * loss)`` then rounds to the
same probability for all of them, so many records tie at the top score. Its AUC
matches the loss threshold's, but its TPR at FPR <= 1 % is often 0 where the loss
attack's is not: read the two together. :meth:`score` (after :meth:`fit` on all
records) returns the fitted model's probabilities; only the out-of-fold scores of
:meth:`membership_scores` are percentiles.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from mia_audit.checks import positive_int, positive_number
from mia_audit.errors import bad_value
from mia_audit.seeding import check_seed
from mia_audit.signals import Signals

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
        self.n_splits = positive_int("n_splits", n_splits, minimum=2)
        self.seed = check_seed(seed)
        self.C = positive_number("C", C)

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
        """Out-of-fold scores: each sample's percentile, among its fold's held-out samples, of
        the member probability given by the fold model not fitted on it (see the module
        docstring), in (0, 1)."""
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
            scores[held_idx] = within_fold_percentiles(model.predict_proba(X[held_idx])[:, 1])
        return scores


def within_fold_percentiles(values: np.ndarray) -> np.ndarray:
    """``(rank - 0.5) / n`` of each value among ``values`` (ties share their mean rank)."""
    values = np.asarray(values, dtype=np.float64)
    return (rankdata(values, method="average") - 0.5) / values.shape[0]
