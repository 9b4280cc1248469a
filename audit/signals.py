"""Per-sample membership signals, computed once per (model, data) and shared by attacks.

All posterior signals are computed from row-wise log-probabilities (log-softmax of
logits, or the log of given probabilities) in float64, so they stay finite and
accurate for confident models:

=====================  ==========================================================
``loss``               cross-entropy  -log p_y
``confidence``         p_y
``logit_confidence``   log(p_y / (1 - p_y)), with log(1 - p_y) = logsumexp_{j != y} log p_j
``entropy``            -sum_j p_j log p_j                          (Salem et al. 2019)
``modified_entropy``   -(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)
                                                                   (Song & Mittal 2021)
``correct``            1.0 where argmax_j p_j == y else 0.0
=====================  ==========================================================

Label-only outputs give only ``correct``; the other fields are ``None`` there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import logsumexp

from .errors import InputError, NotApplicableError
from .outputs import Outputs

SIGNAL_NAMES = ("loss", "confidence", "logit_confidence", "entropy", "modified_entropy", "correct")


@dataclass(frozen=True)
class Signals:
    """Per-sample signals of one model on one set of records (each shape (n,))."""

    correct: np.ndarray
    loss: np.ndarray | None = None
    confidence: np.ndarray | None = None
    logit_confidence: np.ndarray | None = None
    entropy: np.ndarray | None = None
    modified_entropy: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.correct.shape[0])

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def get(self, name: str) -> np.ndarray:
        """The array of signal ``name``; raises if the outputs did not allow it."""
        if name not in SIGNAL_NAMES:
            raise InputError(f"signal must be one of {', '.join(SIGNAL_NAMES)}; got {name!r}")
        value = getattr(self, name)
        if value is None:
            raise NotApplicableError(
                f"signal {name!r} needs posterior outputs (logits or probs); these outputs are label-only"
            )
        return value

    def take(self, index: np.ndarray) -> "Signals":
        return Signals(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index])
                          for f in fields(self)})

    @staticmethod
    def concat(parts: "list[Signals]") -> "Signals":
        names = set(parts[0].available)
        for p in parts[1:]:
            names &= set(p.available)
        return Signals(**{f.name: (np.concatenate([getattr(p, f.name) for p in parts]) if f.name in names else None)
                          for f in fields(Signals)})


def check_labels(labels: object, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise InputError(f"labels must be a 1-D array of class indices; got shape {y.shape}")
    if y.shape[0] != n:
        raise InputError(f"labels and outputs must have the same length; got {y.shape[0]} labels and {n} outputs")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InputError(f"labels must be integer class indices; got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)]
        raise InputError(
            f"labels must lie in [0, {n_classes - 1}] (the model has {n_classes} classes); "
            f"got {bad.size} labels outside, e.g. {int(bad[0])}"
        )
    return y


def log1mexp(a: np.ndarray) -> np.ndarray:
    """log(1 - exp(a)) for a <= 0, accurate on the whole range (Maechler 2012)."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty_like(a)
    near = a > -np.log(2.0)
    with np.errstate(divide="ignore"):
        out[near] = np.log(-np.expm1(a[near]))
        out[~near] = np.log1p(-np.exp(a[~near]))
    return out


def log_one_minus_probs(logp: np.ndarray) -> np.ndarray:
    """log(1 - p_j) for every class, shape (n, C).

    For the most likely class, 1 - p_j is formed as the sum of the other classes'
    probabilities (logsumexp), which stays exact when p_j rounds to 1; every other
    class has p_j <= 1/2, where log1p(-p_j) is already accurate.
    """
    out = log1mexp(np.minimum(logp, 0.0))
    top = np.argmax(logp, axis=1)
    rows = np.arange(logp.shape[0])
    masked = logp.copy()
    masked[rows, top] = -np.inf
    out[rows, top] = logsumexp(masked, axis=1)
    return out


def compute_signals(outputs: Outputs, labels: object) -> Signals:
    """All signals of ``outputs`` against the true ``labels`` (shape (n,))."""
    if not isinstance(outputs, Outputs):
        raise InputError(f"outputs must be a mia_audit.outputs.Outputs; got {type(outputs).__name__}")
    n = len(outputs)
    y = check_labels(labels, n, outputs.n_classes)
    correct = (outputs.predicted_labels() == y).astype(np.float64)
    if not outputs.has_posteriors:
        return Signals(correct=correct)
    logp = outputs.log_probs()
    rows = np.arange(n)
    logp_y = logp[rows, y]
    p = np.exp(logp)
    log1m = log_one_minus_probs(logp)
    with np.errstate(invalid="ignore"):
        plogp = np.where(p > 0, p * logp, 0.0)
        plog1m = np.where(p > 0, p * log1m, 0.0)
    entropy = -plogp.sum(axis=1)
    plog1m[rows, y] = 0.0  # sum over j != y without cancelling against the large y term
    other = plog1m.sum(axis=1)
    p_y = p[rows, y]
    # (1 - p_y) log p_y with 1 - p_y = exp(log(1 - p_y)), exact even where p_y rounds to 1.
    modified_entropy = -np.exp(log1m[rows, y]) * logp_y - other
    return Signals(
        correct=correct,
        loss=-logp_y,
        confidence=p_y,
        logit_confidence=logp_y - log1m[rows, y],
        entropy=entropy,
        modified_entropy=modified_entropy,
    )
