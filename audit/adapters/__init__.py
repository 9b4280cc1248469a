"""One interface for every model: ``adapter.predict(X) -> Outputs``.

An adapter turns a torch module, a scikit-learn estimator, an XGBoost model or any callable
(a deployed endpoint) into an object with ``n_classes``, ``output_kind`` ("logits", "probs"
or "labels") and ``predict(X, *, batch_size=None)``, which computes in batches on the
model's own device and returns numpy values in an :class:`~mia_audit.outputs.Outputs`
(validated there: NaN or inf outputs are refused). Which object belongs to which framework,
and how its values become numpy arrays, is decided in :mod:`mia_audit.frameworks` only.

Mitigations are adapters wrapping adapters (:class:`LabelOnly`, :class:`Temperature`,
:class:`TopK`, :class:`Rounding`, :class:`OutputNoise`), so an attack cannot tell a raw
model from a defended one; ``describe()`` tells a report.

Inputs ``X`` are not validated (a NaN in X is the model's business) and never modified.

Modules: :mod:`.base` (:class:`ModelAdapter`, row helpers), :mod:`.torch_adapter`,
:mod:`.sklearn_adapter`, :mod:`.xgboost_adapter`, :mod:`.callable_adapter`,
:mod:`.wrappers` (the mitigations), :mod:`.record_noise` (:func:`record_normals`),
:mod:`.dispatch` (:func:`as_adapter`) and :mod:`.hashing` (:func:`model_sha256`).
"""

from __future__ import annotations

from .base import DEFAULT_CALLABLE_BATCH, DEFAULT_TORCH_BATCH, ModelAdapter, n_rows
from .callable_adapter import CallableAdapter
from .dispatch import as_adapter
from .hashing import model_sha256
from .record_noise import record_normals
from .sklearn_adapter import SklearnAdapter
from .torch_adapter import TorchAdapter
from .wrappers import LabelOnly, OutputNoise, Rounding, Temperature, TopK
from .xgboost_adapter import XGBoostAdapter


__all__ = [
    "ModelAdapter",
    "TorchAdapter",
    "SklearnAdapter",
    "XGBoostAdapter",
    "CallableAdapter",
    "LabelOnly",
    "Temperature",
    "as_adapter",
    "model_sha256",
    "TopK",
    "Rounding",
    "OutputNoise",
    "record_normals",
    "n_rows",
    "DEFAULT_CALLABLE_BATCH",
    "DEFAULT_TORCH_BATCH",
]
