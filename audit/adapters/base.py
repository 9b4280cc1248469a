"""The interface every model has here, :class:`ModelAdapter`, and the row helpers the
adapters share (row count, row slices, batch-size and class-count checks)."""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Optional

import numpy as np

from ..errors import InputError, bad_value
from ..frameworks import is_data_frame
from ..outputs import Outputs

DEFAULT_TORCH_BATCH = 1024
DEFAULT_CALLABLE_BATCH = 1024


# ---------------------------------------------------------------------------- helpers


def n_rows(X: Any) -> int:
    """The number of records in ``X`` (its first axis; ``len`` for a list)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return len(X)


_n_rows = n_rows


def _rows(X: Any, start: int, stop: int) -> Any:
    if is_data_frame(X):  # pandas
        return X.iloc[start:stop]
    return X[start:stop]


def _as_input(X: Any) -> Any:
    """Lists become arrays; numpy arrays, tensors and data frames pass through as they are."""
    if hasattr(X, "shape") and hasattr(X, "__getitem__"):
        return X
    return np.asarray(X)


def _check_batch_size(value: Any, param: str = "batch_size", *, allow_none: bool = True) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise bad_value(param, "a positive integer" + (" or None" if allow_none else ""), value)
    return int(value)


def _check_n_classes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise bad_value("n_classes", "an integer >= 2", value)
    return int(value)


def _is_train_result(obj: Any) -> bool:
    """Whether ``obj`` looks like a :class:`~mia_audit.training.TrainResult` (model, history, seconds)."""
    return hasattr(obj, "model") and hasattr(obj, "history") and hasattr(obj, "seconds")


def _plural_features(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else f"{int(np.prod(shape))} values"


# ---------------------------------------------------------------------------- base


class ModelAdapter(abc.ABC):
    """Per-sample outputs of one model, in batches.

    Subclasses set ``n_classes``, ``output_kind``, ``batch_size`` (None = one batch) and
    ``framework``, and implement ``_predict_batch(X_batch) -> array``.
    """

    framework: str = "unknown"
    n_classes: int
    output_kind: str
    batch_size: Optional[int] = None

    @property
    def record_shape(self) -> Optional[tuple[int, ...]]:
        """The shape of one record the model takes (``(n_features,)`` for tabular models), when the
        model says; None when it does not (a torch module, a callable)."""
        return None

    def predict(self, X: Any, *, batch_size: Optional[int] = None) -> Outputs:
        """Outputs for every row of ``X`` (numpy array, torch tensor or data frame). Records of a
        shape the model does not take are refused before the first query."""
        X = _as_input(X)
        n = _n_rows(X)
        expected = self.record_shape
        got = tuple(getattr(X, "shape", (n,))[1:])
        if expected is not None and got != tuple(expected):
            raise InputError(f"records must have shape {tuple(expected)} per record for this {self.framework} model "
                             f"({_plural_features(expected)}); got {got}")
        size = _check_batch_size(batch_size) or self.batch_size or max(n, 1)
        parts = []
        with self._session():
            for start in range(0, n, size):
                stop = min(start + size, n)
                values = np.asarray(self._predict_batch(_rows(X, start, stop)))
                if values.ndim == 0 or values.shape[0] != stop - start:
                    got = "a scalar" if values.ndim == 0 else f"{values.shape[0]} rows"
                    raise InputError(
                        f"{self.framework} model returned {got} for a batch of {stop - start} records "
                        f"(rows {start} to {stop - 1}); it must return one row per record"
                    )
                parts.append(values)
        if parts:
            values = np.concatenate(parts, axis=0)
        else:
            values = np.zeros((0,) if self.output_kind == "labels" else (0, self.n_classes))
        return Outputs(self.output_kind, values, self.n_classes)

    def predict_labels(self, X: Any, *, batch_size: Optional[int] = None) -> np.ndarray:
        """Predicted class per row (argmax of logits or probs), shape (n,), int64."""
        return np.asarray(self.predict(X, batch_size=batch_size).predicted_labels(), dtype=np.int64)

    @property
    def wrappers(self) -> tuple[str, ...]:
        """Mitigation wrappers applied, innermost first (empty for a raw model)."""
        return ()

    @abc.abstractmethod
    def unwrap(self) -> Any:
        """The underlying model object (torch module, estimator, booster, callable)."""

    @property
    def white_box(self) -> bool:
        """Whether the auditor holds the model itself (its weights or trees), not only its outputs:
        a torch module, estimator, booster or ONNX graph with no output wrapper."""
        return self.framework in ("torch", "sklearn", "xgboost", "onnx") and not self.wrappers

    def describe(self) -> dict[str, Any]:
        """A short description for reports: framework, kind, n_classes, wrappers."""
        return {
            "framework": self.framework,
            "kind": self.output_kind,
            "n_classes": self.n_classes,
            "wrappers": list(self.wrappers),
        }

    def _session(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    @abc.abstractmethod
    def _predict_batch(self, X: Any) -> np.ndarray:
        """Raw outputs of one batch, one row per record (subclasses implement this)."""

    def __repr__(self) -> str:
        d = self.describe()
        wrappers = f", wrappers={d['wrappers']}" if d["wrappers"] else ""
        return f"{type(self).__name__}(framework={d['framework']!r}, kind={d['kind']!r}, n_classes={d['n_classes']}{wrappers})"


__all__ = ["ModelAdapter", "DEFAULT_TORCH_BATCH", "DEFAULT_CALLABLE_BATCH"]
