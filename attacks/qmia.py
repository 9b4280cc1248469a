"""QMIA: membership inference by quantile regression on non-member records (Bertran et al. 2023).

Bertran, Tang, Roth, Kearns, Morgenstern, Wu, "Scalable membership inference attacks via
quantile regression" (NeurIPS 2023; code: github.com/amazon-science/quantile-mia). No
reference models: a regressor learns, from a record's features, how high the target
model's score gets on records it did *not* train on, and a record whose score exceeds its
own predicted (1 - alpha) quantile is flagged as a member. The false-positive rate is then
alpha by construction, per record difficulty rather than with one global threshold.

What is computed (``access = "population"``: the target's outputs on population records,
known non-members, with their features)

* **Score** s(x, y): the oriented signal ``score`` (default ``logit_confidence``,
  log(p_y / (1 - p_y)), higher on members). For two classes it equals the paper's hinge
  score z_y - max_{j != y} z_j on logits, and it is exactly the score of the paper's
  tabular code (log p - log(1 - p), signed by the label); for C > 2 classes it differs from
  the hinge by at most log(C - 1). Signals where lower means member (``loss``, ``entropy``,
  ``modified_entropy``) are negated. Infinite values (probability outputs of exactly 0
  or 1) are clipped to +/- 1e6.
* **Features**: the record flattened, plus its label as a categorical feature when
  ``labels`` are given (the paper's label-dependent regressor q(x, y),
  ``use_target_dependent_scoring``; the attacker knows the label of every record it tests,
  and on Adult it raised the AUC by 0.003-0.008). The pipeline always passes labels.
* **Split**: the population is split once (seeded) into a fit part and a calibration part
  (``calibration``, default 0.3 of the records).
* **Two quantile regressors** on the fit part, scikit-learn's
  ``HistGradientBoostingRegressor(loss="quantile")`` (pinball loss): the median m(x) and
  the (1 - alpha) quantile u(x). Together they give a location-scale model of the
  non-member score, sigma(x) = (u(x) - m(x)) / Phi^-1(1 - alpha) (floored at 1e-3 of the
  marginal spread where the two fits cross), and the standardised score
  z = (s - m(x)) / sigma(x); z > Phi^-1(1 - alpha) is exactly s > u(x).
* **Calibration** (split conformal, Romano et al. 2019, normalised as in Lei et al. 2018):
  t = the ceil((n_cal + 1)(1 - alpha))-th smallest z over the calibration records, so that a
  fresh non-member exceeds it with probability at most alpha (and at least
  alpha - 1 / (n_cal + 1)). ``calibration=0`` skips it (t = Phi^-1(1 - alpha), all records
  fit, as in the paper).
* **Membership score** (higher = member): ``(s - q(x)) / sigma(x) = z - t`` where
  q(x) = m(x) + t sigma(x) is the calibrated (1 - alpha) quantile
  (:meth:`QuantileRegressionAttack.predict_quantile`). Its sign is the attack's own decision
  (score > 0: flagged, at FPR alpha); its order gives the full ROC, every threshold being the
  quantile of the same location-scale family at another level, as the paper's Gaussian
  parametrisation does (mu + sigma Phi^-1(level)). Dividing by sigma(x) matters: on an
  overfitted Adult MLP the raw margin s - q(x) gave AUC 0.547-0.555, the standardised one
  0.585-0.60 (the loss attack: 0.557).

Where it departs from the paper's code, and why

* Regressor: gradient-boosted trees with fixed settings instead of the paper's CatBoost
  tuned by 200 Optuna trials (tabular) or a fine-tuned ConvNeXt (images): CatBoost and
  LightGBM are not dependencies here, and a search would multiply the cost.
* Two pinball fits (median and 1 - alpha) instead of either one Gaussian fitted by
  likelihood (``use_gaussian``) or a grid of 41 quantile heads: the level that decides the
  attack (1 - alpha) is fitted directly by its own loss, robust to non-Gaussian tails,
  and the median adds the scale that orders the rest of the ROC. A grid of high quantiles
  (0.999 and beyond) needs far more population records than an audit usually has.
* The calibration step is ours. Boosted quantile trees overfit the tail of their own
  training records: uncalibrated, the in-sample exceedance rate was 0.010 at alpha = 0.01
  but 0.013-0.02 on fresh non-members of the same Adult model; calibrated, 0.0075-0.012.
* Regressor threads: one OpenMP thread unless the user pinned a count
  (:func:`mia_audit.threads.explicit_threads`); the results do not depend on the count.

Sizes: the calibration part needs at least (1 - alpha) / alpha records (99 for alpha = 0.01)
for a finite threshold, and the regressors' leaves at least ``min_samples_leaf`` (default
max(20, ceil(1 / alpha)), so that each leaf's (1 - alpha) quantile has a record above it).
Fewer population records than :meth:`QuantileRegressionAttack.minimum_population` raise
:class:`~mia_audit.errors.NotApplicableError`. A small population (1,000 records) gives a
valid but weak attack; thousands are better.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Optional

import numpy as np
from scipy.stats import norm

from mia_audit.checks import choice, number, positive_int, positive_number
from mia_audit.errors import InputError, NotApplicableError, NotFittedError, bad_value
from mia_audit.seeding import check_seed, derive_seed, rng
from mia_audit.signals import Signals

from .base import Attack
from .registry import ATTACKS

#: the signals QMIA can regress, with the sign that makes them higher on members
SCORE_DIRECTIONS = {"logit_confidence": 1.0, "confidence": 1.0, "loss": -1.0, "entropy": -1.0,
                    "modified_entropy": -1.0}
#: the fewest population records QMIA is run on (the pipeline reports fewer as n/a)
MIN_POPULATION = 100
#: the fewest records the regressors are fitted on
MIN_FIT = 20
#: infinite scores (probabilities of exactly 0 or 1) are clipped to +/- this
SCORE_CLIP = 1e6
#: labels below this are a categorical feature of the regressors (scikit-learn's bin limit)
MAX_CATEGORIES = 255


@contextlib.contextmanager
def _regressor_threads() -> Iterator[None]:
    """One OpenMP thread for the regressors unless the user pinned a count (same results either way:
    a busy 2-core machine ran the default two threads up to 8x slower)."""
    from threadpoolctl import threadpool_limits

    from mia_audit.threads import explicit_threads

    with threadpool_limits(limits=explicit_threads() or 1, user_api="openmp"):
        yield


@ATTACKS.register("qmia", help="quantile regression on population (non-member) records: flags scores above "
                               "their predicted (1 - alpha) quantile, no reference models")
class QuantileRegressionAttack(Attack):
    """QMIA: per-record (1 - alpha) quantile of non-member scores, by quantile regression (Bertran et al. 2023)."""

    name = "qmia"
    access = "population"
    requires: tuple[str, ...] = ("logit_confidence",)
    reference = ("Bertran, Tang, Roth, Kearns, Morgenstern, Wu. Scalable membership inference attacks via quantile "
                 "regression. NeurIPS 2023.")

    def __init__(self, *, alpha: float = 0.01, score: str = "logit_confidence", calibration: float = 0.3,
                 max_iter: int = 200, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 min_samples_leaf: Optional[int] = None, seed: int = 0) -> None:
        self.alpha = number("alpha", alpha, low=0.0, high=0.5, low_open=True, high_open=True)
        self.score_signal = choice("score", score, tuple(SCORE_DIRECTIONS))
        self.requires = (self.score_signal,)
        self.calibration = number("calibration", calibration, low=0.0, high=0.9,
                                  note=" (the share of the population that calibrates the threshold; 0: none)")
        self.max_iter = positive_int("max_iter", max_iter)
        self.learning_rate = positive_number("learning_rate", learning_rate)
        self.max_leaf_nodes = positive_int("max_leaf_nodes", max_leaf_nodes, minimum=2)
        self.min_samples_leaf = positive_int("min_samples_leaf", min_samples_leaf, allow_none=True,
                                             note=" (None: max(20, ceil(1 / alpha)))")
        self.seed = check_seed(seed)

    # ------------------------------------------------------------------ sizes

    @property
    def leaf_size(self) -> int:
        """The regressors' ``min_samples_leaf``: the option, or max(20, ceil(1 / alpha))."""
        if self.min_samples_leaf is not None:
            return self.min_samples_leaf
        return max(20, math.ceil(1.0 / self.alpha - 1e-9))

    def _calibration_size(self, n: int) -> int:
        return int(round(self.calibration * n))

    def minimum_population(self) -> int:
        """The fewest population records this configuration runs on: at least :data:`MIN_POPULATION`,
        (1 - alpha) / alpha of them in the calibration part, :data:`MIN_FIT` in the fit part."""
        need_cal = math.ceil((1.0 - self.alpha) / self.alpha - 1e-9) if self.calibration > 0 else 0
        n = MIN_POPULATION
        if self.calibration > 0:
            n = max(n, math.ceil(need_cal / self.calibration) - 1)
        while self._calibration_size(n) < need_cal or n - self._calibration_size(n) < MIN_FIT:
            n += 1
        return n

    # ------------------------------------------------------------------ fit and score

    def fit_population(self, X_pop: Any, signals_pop: Signals, *, labels: Any = None) -> "QuantileRegressionAttack":
        """Fit the quantile model on population records: their features ``X_pop`` (n, ...), the
        target model's signals on them, and (optional, then also needed by :meth:`score_records`)
        their labels (n,). The records must not be members of the target."""
        s = self._statistic(signals_pop, "signals_pop")
        n = s.shape[0]
        X, categorical = self._features(X_pop, labels, n, "X_pop", fitting=True)
        need = self.minimum_population()
        if n < need:
            cal = self._calibration_size(need)
            raise NotApplicableError(
                f"qmia needs at least {need} population records (non-members outside train, test and validation) "
                f"for alpha={self.alpha:g}" + (f" and calibration={self.calibration:g} ({cal} of them calibrate "
                                              "the threshold)" if self.calibration > 0 else "") + f"; got {n}")
        order = rng(self.seed, "qmia", "calibration").permutation(n)
        n_cal = self._calibration_size(n)
        cal, fit = np.sort(order[:n_cal]), np.sort(order[n_cal:])
        cats = None
        if categorical:
            cats = np.zeros(X.shape[1], dtype=bool)
            cats[-1] = True
        with _regressor_threads():
            self.median_model_ = self._regressor(0.5, cats).fit(X[fit], s[fit])
            self.quantile_model_ = self._regressor(1.0 - self.alpha, cats).fit(X[fit], s[fit])
            m_fit, u_fit = self._predict(X[fit])
        spread = float(np.quantile(s[fit], 1.0 - self.alpha) - np.quantile(s[fit], 0.5))
        self.scale_floor_ = 1e-3 * spread if spread > 0 else 1e-12
        self.crossing_fraction_ = float(np.mean(u_fit - m_fit < self.scale_floor_))
        z_level = float(norm.ppf(1.0 - self.alpha))
        if n_cal:
            with _regressor_threads():
                z_cal = self._standardised(s[cal], *self._predict(X[cal]))
            k = math.ceil((n_cal + 1) * (1.0 - self.alpha) - 1e-9)
            self.threshold_ = float(np.sort(z_cal)[k - 1])
        else:
            self.threshold_ = z_level
        self.n_population_, self.n_calibration_ = int(n), int(n_cal)
        self.n_features_ = int(X.shape[1] - (labels is not None))
        self.uses_labels_, self.label_categorical_ = labels is not None, categorical
        return self

    def score_records(self, X: Any, signals: Signals, *, labels: Any = None) -> np.ndarray:
        """Membership scores (n,) of records ``X`` with the target's ``signals`` on them (and their
        labels if the fit had labels): (s - q(x)) / sigma(x), > 0 where the record is flagged."""
        self._check_fitted("score_records")
        s = self._statistic(signals, "signals")
        X, _ = self._features(X, labels, s.shape[0], "X")
        with _regressor_threads():
            m, u = self._predict(X)
        return self._standardised(s, m, u) - self.threshold_

    def predict_quantile(self, X: Any, *, labels: Any = None) -> np.ndarray:
        """The calibrated (1 - alpha) quantile q(x) (n,) of the non-member score, in the units of the
        oriented ``score`` signal: a record is flagged when its score exceeds it."""
        self._check_fitted("predict_quantile")
        X, _ = self._features(X, labels, None, "X")
        with _regressor_threads():
            m, u = self._predict(X)
        return m + self.threshold_ * self._scale(m, u)

    def _score(self, signals: Signals) -> np.ndarray:
        raise NotApplicableError(
            f"attack {self.name!r} needs the target's outputs on population (non-member) records with their "
            "features, not one model's signals; name it in an audit (it runs on references.population records) "
            "or call fit_population(X_pop, signals_pop) then score_records(X, signals)")

    # ------------------------------------------------------------------ pieces

    def _regressor(self, quantile: float, categorical: Optional[np.ndarray]):
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(
            loss="quantile", quantile=quantile, max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.leaf_size, early_stopping=False,
            categorical_features=categorical, random_state=derive_seed(self.seed, "qmia", quantile) % 2**32)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(self.median_model_.predict(X), dtype=np.float64),
                np.asarray(self.quantile_model_.predict(X), dtype=np.float64))

    def _scale(self, m: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.maximum(u - m, self.scale_floor_) / float(norm.ppf(1.0 - self.alpha))

    def _standardised(self, s: np.ndarray, m: np.ndarray, u: np.ndarray) -> np.ndarray:
        return (s - m) / self._scale(m, u)

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"attack {self.name!r} must be fitted before {method}(); "
                                 "call fit_population(X_pop, signals_pop)")

    def _statistic(self, signals: Any, param: str) -> np.ndarray:
        if not isinstance(signals, Signals):
            raise bad_value(param, "a mia_audit.signals.Signals (see mia_audit.signals.compute_signals)",
                            type(signals).__name__)
        values = np.asarray(signals.get(self.score_signal), dtype=np.float64) * SCORE_DIRECTIONS[self.score_signal]
        if np.isnan(values).any():
            raise InputError(f"{param}.{self.score_signal} must not hold NaN; got {int(np.isnan(values).sum())} NaN")
        return np.clip(values, -SCORE_CLIP, SCORE_CLIP)

    def _features(self, X: Any, labels: Any, n: Optional[int], param: str, *,
                  fitting: bool = False) -> tuple[np.ndarray, bool]:
        """(the regressors' input (n, d [+ 1 label column]), whether the label column is categorical)."""
        arr = np.asarray(X)
        if arr.ndim < 2 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise bad_value(param, "a numeric array of records (n, ...)", f"{arr.dtype} array of shape {arr.shape}")
        if n is not None and arr.shape[0] != n:
            raise InputError(f"{param} must have one row per record of the signals ({n}); got {arr.shape[0]}")
        arr = arr.reshape(arr.shape[0], -1).astype(np.float64)
        if not fitting and arr.shape[1] != self.n_features_:
            raise InputError(f"{param} must have {self.n_features_} features per record (as fitted); "
                             f"got {arr.shape[1]}")
        if labels is None:
            if not fitting and self.uses_labels_:
                raise InputError("labels: the quantile model was fitted with labels; give the records' labels")
            return arr, False
        if not fitting and not self.uses_labels_:
            raise InputError("labels: the quantile model was fitted without labels; give none")
        y = np.asarray(labels)
        if y.ndim != 1 or y.shape[0] != arr.shape[0]:
            raise InputError(f"labels must be a 1-D array with one class index per record ({arr.shape[0]}); "
                             f"got shape {y.shape}")
        if y.size and (not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y))
                       or np.any(y != np.round(y)) or y.min() < 0):
            raise InputError("labels must be non-negative integer class indices")
        y = y.astype(np.float64)
        categorical = bool(y.size == 0 or y.max() < MAX_CATEGORIES) if fitting else self.label_categorical_
        if categorical:
            y = np.where(y >= MAX_CATEGORIES, np.nan, y)  # unseen categories: the regressors' missing value
        return np.c_[arr, y], categorical

__all__ = ["QuantileRegressionAttack", "SCORE_DIRECTIONS", "MIN_POPULATION"]
