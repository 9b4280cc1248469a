"""A black box (a deployed endpoint, a function) as a :class:`~mia_audit.adapters.base.ModelAdapter`."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..errors import bad_value
from ..frameworks import is_data_frame, to_numpy
from ..outputs import KINDS
from .base import DEFAULT_CALLABLE_BATCH, ModelAdapter, _check_batch_size, _check_n_classes


class CallableAdapter(ModelAdapter):
    """A black box: ``fn(X_batch: np.ndarray) -> array`` (a deployed endpoint, a function).

    ``returns`` says what fn gives: "probs" (n, C), "logits" (n, C) or "labels" (n,).
    Each batch is passed as a numpy array (data frames as they are); what comes back is
    checked for the row count here and for shape, range and finiteness by ``Outputs``.
    """

    framework = "callable"

    def __init__(
        self,
        fn: Callable[[np.ndarray], Any],
        *,
        n_classes: int,
        returns: str = "probs",
        batch_size: Optional[int] = DEFAULT_CALLABLE_BATCH,
    ):
        if not callable(fn):
            raise bad_value("fn", "a callable taking a batch of records", type(fn).__name__)
        if returns not in KINDS:
            raise bad_value("returns", f"one of {', '.join(KINDS)}", returns)
        self.fn = fn
        self.n_classes = _check_n_classes(n_classes)
        self.output_kind = returns
        self.batch_size = _check_batch_size(batch_size)

    def _predict_batch(self, X: Any) -> np.ndarray:
        return to_numpy(self.fn(X if is_data_frame(X) else to_numpy(X, float32=True)), float32=True)

    def unwrap(self) -> Any:
        return self.fn


__all__ = ["CallableAdapter"]
