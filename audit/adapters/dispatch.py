"""The adapter for any model object: :func:`as_adapter`."""

from __future__ import annotations

from typing import Any, Optional

from ..errors import InputError, bad_value
from ..frameworks import is_sklearn_classifier, is_torch_module, is_xgboost
from .base import ModelAdapter, _check_n_classes, _is_train_result
from .callable_adapter import CallableAdapter
from .sklearn_adapter import SklearnAdapter
from .torch_adapter import TorchAdapter
from .xgboost_adapter import XGBoostAdapter


def as_adapter(obj: Any, *, n_classes: Optional[int] = None, **options: Any) -> ModelAdapter:
    """The adapter for ``obj``: an adapter passes through; a torch module -> TorchAdapter;
    an XGBClassifier / Booster -> XGBoostAdapter; an estimator with predict_proba ->
    SklearnAdapter; a :class:`~mia_audit.training.TrainResult` -> its model's adapter; any
    other callable -> CallableAdapter (``n_classes`` and ``returns`` required there).
    ``options`` go to the adapter's constructor (e.g. ``batch_size``, ``returns``)."""
    if isinstance(obj, ModelAdapter):
        if n_classes is not None and _check_n_classes(n_classes) != obj.n_classes:
            raise InputError(f"n_classes {n_classes} does not match the adapter's {obj.n_classes}")
        if options:
            raise InputError(f"options {sorted(options)} cannot be applied to an existing adapter")
        return obj
    if is_torch_module(obj):
        return TorchAdapter(obj, n_classes=n_classes, **options)
    if is_xgboost(obj):
        adapter: ModelAdapter = XGBoostAdapter(obj, **options)
    elif is_sklearn_classifier(obj):
        adapter = SklearnAdapter(obj, **options)
    elif _is_train_result(obj):
        return as_adapter(obj.model, n_classes=n_classes, **options)
    elif callable(obj):
        if n_classes is None:
            raise InputError("n_classes is required to adapt a callable (a black-box model)")
        return CallableAdapter(obj, n_classes=n_classes, **options)
    else:
        raise bad_value(
            "model", "a torch module, scikit-learn classifier, XGBoost model, callable or ModelAdapter", type(obj).__name__
        )
    if n_classes is not None and _check_n_classes(n_classes) != adapter.n_classes:
        raise InputError(f"n_classes {n_classes} does not match the model's {adapter.n_classes} classes")
    return adapter


__all__ = ["as_adapter"]
