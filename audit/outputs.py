"""What a model returns for a batch of records, in one framework-free type.

``Outputs.kind`` is one of

* ``"logits"``: ``values`` has shape (n, C), unnormalised scores (softmax gives probabilities);
* ``"probs"``: ``values`` has shape (n, C), rows are probabilities summing to 1;
* ``"labels"``: ``values`` has shape (n,), predicted class indices (label-only access).

Adapters (:mod:`mia_audit.adapters`) produce it; signals (:mod:`mia_audit.signals`) consume it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError, bad_value

KINDS = ("logits", "probs", "labels")
PROB_SUM_TOLERANCE = 1e-3
#: probabilities this far below 0 are float rounding (float32 arithmetic in a model runtime, e.g. a
#: random forest's averaged votes exported to ONNX give -1.2e-7) and are read as 0
PROB_NEGATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Outputs:
    kind: str
    values: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise bad_value("outputs kind", f"one of {', '.join(KINDS)}", self.kind)
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 2:
            raise bad_value("n_classes", "an integer >= 2", self.n_classes)
        values = np.asarray(self.values)
        if self.kind == "labels":
            if values.ndim != 1:
                raise bad_value("label outputs", "a 1-D array of class indices", f"shape {values.shape}")
            if values.size and (not np.issubdtype(values.dtype, np.integer)):
                if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
                    raise InputError(f"label outputs must be integer class indices; got dtype {values.dtype}")
                values = values.astype(np.int64)
            if values.size and (values.min() < 0 or values.max() >= self.n_classes):
                raise InputError(
                    f"label outputs must lie in [0, {self.n_classes - 1}]; got values from {values.min()} to {values.max()}"
                )
        else:
            if values.ndim != 2 or values.shape[1] != self.n_classes:
                raise bad_value(
                    f"{self.kind} outputs", f"a 2-D array of shape (n, {self.n_classes})", f"shape {values.shape}"
                )
            values = values.astype(np.float64, copy=False)
            bad = ~np.isfinite(values)
            if bad.any():
                row = int(np.argwhere(bad)[0, 0])
                raise InputError(
                    f"{self.kind} outputs must be finite; got NaN or inf in {int(bad.any(axis=1).sum())} rows (first: row {row})"
                )
            if self.kind == "probs":
                if values.size and values.min() < -PROB_NEGATIVE_TOLERANCE:
                    raise InputError(f"probs outputs must be >= 0 (tolerance {PROB_NEGATIVE_TOLERANCE:g}); "
                                     f"got a minimum of {values.min():.3g}")
                if values.size and values.min() < 0:
                    values = np.maximum(values, 0.0)  # a new array: the caller's is never changed
                sums = values.sum(axis=1)
                off = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
                if off.any():
                    row = int(np.argmax(off))
                    raise InputError(
                        f"probs outputs must sum to 1 per row (tolerance {PROB_SUM_TOLERANCE}); "
                        f"{int(off.sum())} rows do not (row {row} sums to {sums[row]:.6g})"
                    )
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def has_posteriors(self) -> bool:
        return self.kind != "labels"

    def predicted_labels(self) -> np.ndarray:
        if self.kind == "labels":
            return self.values
        return np.argmax(self.values, axis=1)

    def log_probs(self) -> np.ndarray:
        """Row-wise log-probabilities, shape (n, C), float64 (not for label-only outputs)."""
        if self.kind == "labels":
            raise InputError("log-probabilities need logits or probs outputs; got label-only outputs")
        if self.kind == "logits":
            return log_softmax(self.values)
        # A hard 0 from a black box would give an infinite loss; floor it at the
        # smallest normal double (log = -708.4) so every signal stays finite.
        p = self.values / self.values.sum(axis=1, keepdims=True)
        return np.log(np.maximum(p, np.finfo(np.float64).tiny))

    def take(self, index: np.ndarray) -> "Outputs":
        return Outputs(self.kind, self.values[index], self.n_classes)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows (n, n_classes) of float64, 1.0 at each row's label and 0.0 elsewhere (labels: class indices, shape (n,))."""
    labels = np.asarray(labels)
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax that keeps tiny losses distinct.

    The usual ``z - max - log(sum exp(z - max))`` adds the top class's exp(0) = 1 to
    the other terms before the log, so a confident prediction's loss rounds to
    exactly 0 and thousands of records tie. Here the top term is taken out:
    ``log sum exp(z - max) = log1p(sum_{j != top} exp(z_j - max))``, which keeps
    losses down to about 1e-300 (e.g. 2e-20 for a margin of 45 over two classes).
    """
    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(z.shape[0])
    top = np.argmax(z, axis=1)
    shifted = z - z[rows, top][:, None]
    rest = np.exp(shifted)
    rest[rows, top] = 0.0
    return shifted - np.log1p(rest.sum(axis=1))[:, None]
