"""A fitted scikit-learn classifier as a :class:`~mia_audit.adapters.base.ModelAdapter` (probs)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import InputError, bad_value
from ..frameworks import is_data_frame, is_sklearn_classifier, to_numpy
from .base import ModelAdapter, _check_batch_size, _check_n_classes


class SklearnAdapter(ModelAdapter):
    """A fitted scikit-learn classifier with ``predict_proba``; ``classes_`` must be 0..C-1."""

    framework = "sklearn"
    output_kind = "probs"

    def __init__(self, estimator: Any, batch_size: Optional[int] = None):
        if not is_sklearn_classifier(estimator):
            raise bad_value("estimator", "a classifier with predict_proba", type(estimator).__name__)
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            raise InputError(f"the {type(estimator).__name__} is not fitted (it has no classes_); fit it first")
        classes = np.asarray(classes)
        if classes.ndim != 1 or not np.array_equal(classes, np.arange(classes.size)):
            raise InputError(
                f"the estimator's classes_ must be 0..C-1 (encode labels as integers first); got {classes.tolist()[:20]}"
            )
        self.estimator = estimator
        self.n_classes = _check_n_classes(classes.size)
        self.batch_size = _check_batch_size(batch_size)

    @property
    def record_shape(self) -> Optional[tuple[int, ...]]:
        n = getattr(self.estimator, "n_features_in_", None)
        return (int(n),) if isinstance(n, (int, np.integer)) else None

    def _predict_batch(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X if is_data_frame(X) else to_numpy(X, float32=True)))

    def unwrap(self) -> Any:
        return self.estimator


__all__ = ["SklearnAdapter"]
