"""A fitted XGBoost classifier or booster as a :class:`~mia_audit.adapters.base.ModelAdapter`."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import InputError, bad_value
from ..frameworks import is_data_frame, to_numpy
from .base import ModelAdapter, _check_batch_size, _check_n_classes

_BOOSTER_KINDS = {
    "binary:logistic": "probs",
    "binary:logitraw": "logits",
    "binary:hinge": "labels",
    "multi:softprob": "probs",
    "multi:softmax": "logits",
}


class XGBoostAdapter(ModelAdapter):
    """A fitted ``xgboost.XGBClassifier`` (probs) or ``xgboost.Booster``.

    Booster objectives: ``binary:logistic`` and ``multi:softprob`` give probs (a binary
    booster's one column p becomes (1 - p, p)); ``binary:logitraw`` gives logits (0, m);
    ``multi:softmax`` gives the raw margins as logits; ``binary:hinge`` gives labels.
    Prediction runs on the device the model was trained on.
    """

    framework = "xgboost"

    def __init__(self, model: Any, batch_size: Optional[int] = None):
        import xgboost

        self.model = model
        self.batch_size = _check_batch_size(batch_size)
        if isinstance(model, xgboost.XGBClassifier):
            classes = getattr(model, "classes_", None)
            if classes is None:
                raise InputError("the XGBClassifier is not fitted; train it first (mia_audit.training.train_model)")
            if not np.array_equal(np.asarray(classes), np.arange(len(classes))):
                raise InputError(f"the XGBClassifier's classes_ must be 0..C-1; got {list(classes)[:20]}")
            self.n_classes = _check_n_classes(len(classes))
            self.output_kind = "probs"
            self._objective = "sklearn"
        elif isinstance(model, xgboost.Booster):
            import json

            learner = json.loads(model.save_config())["learner"]
            objective = learner["objective"]["name"]
            if objective not in _BOOSTER_KINDS:
                raise InputError(
                    f"XGBoost booster objective must be one of {', '.join(_BOOSTER_KINDS)} (a classifier); got {objective!r}"
                )
            self._objective = objective
            self.output_kind = _BOOSTER_KINDS[objective]
            num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
            self.n_classes = 2 if objective.startswith("binary") else _check_n_classes(num_class)
        else:
            raise bad_value("model", "an xgboost XGBClassifier or Booster", type(model).__name__)

    @property
    def record_shape(self) -> Optional[tuple[int, ...]]:
        import xgboost

        try:
            booster = self.model if self._objective != "sklearn" else self.model.get_booster()
            n = int(booster.num_features())
        except (xgboost.core.XGBoostError, AttributeError):  # an unfitted booster: the shape is unknown
            return None
        return (n,) if n > 0 else None

    def _predict_batch(self, X: Any) -> np.ndarray:
        data = X if is_data_frame(X) else to_numpy(X, float32=True)
        if self._objective == "sklearn":
            return np.asarray(self.model.predict_proba(data))
        import xgboost

        data = xgboost.DMatrix(data)
        if self._objective == "multi:softmax":
            return np.asarray(self.model.predict(data, output_margin=True)).reshape(-1, self.n_classes)
        if self._objective == "binary:logitraw":
            margin = np.asarray(self.model.predict(data, output_margin=True), dtype=np.float64).reshape(-1)
            return np.stack([np.zeros_like(margin), margin], axis=1)
        out = np.asarray(self.model.predict(data))
        if self._objective == "binary:logistic":
            p = out.astype(np.float64).reshape(-1)
            return np.stack([1.0 - p, p], axis=1)
        if self._objective == "binary:hinge":
            return np.rint(out).astype(np.int64).reshape(-1)
        return out

    def unwrap(self) -> Any:
        return self.model


__all__ = ["XGBoostAdapter"]
