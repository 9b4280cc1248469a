"""Output mitigations: adapters wrapping adapters, so an attack cannot tell a raw model from
a defended one.

:class:`LabelOnly` releases labels, :class:`Temperature` scaled logits; :class:`TopK`,
:class:`Rounding` and :class:`OutputNoise` release probabilities (kind "probs"): each of
those accepts an inner model giving logits or probs (softmax / renormalised first) and
refuses a label-only one.
"""

from __future__ import annotations

import abc
import math
from typing import Any, Optional

import numpy as np

from ..checks import nonnegative_int, positive_int
from ..errors import InputError, bad_value
from ..outputs import Outputs, one_hot
from .base import ModelAdapter, _as_input
from .dispatch import as_adapter
from .record_noise import record_normals

# ---------------------------------------------------------------------------- helpers


def _check_sigma(value: Any) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(float(value)) or float(value) < 0:
        raise bad_value("sigma", "a finite number >= 0", value)
    return float(value)


def _check_seed_param(value: Any) -> int:
    from ..seeding import check_seed

    return check_seed(value)


def _needs_posteriors(inner: ModelAdapter, what: str) -> None:
    if inner.output_kind == "labels":
        raise InputError(f"{what} needs logits or probs; the inner model gives labels only")


def _probabilities(outputs: Outputs) -> np.ndarray:
    """Rows of probabilities (n, C), float64, summing to 1 (softmax of logits; probs renormalised)."""
    if outputs.kind == "logits":
        return np.exp(outputs.log_probs())
    p = outputs.values
    if p.shape[0] == 0:
        return p.astype(np.float64)
    return p / p.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------- the base


class _Wrapper(ModelAdapter):
    """An adapter around another adapter; same interface, transformed outputs."""

    tag = "wrapper"

    def __init__(self, inner: Any):
        self.inner = as_adapter(inner)
        self.n_classes = self.inner.n_classes
        self.batch_size = self.inner.batch_size

    @property
    def framework(self) -> str:  # type: ignore[override]
        return self.inner.framework

    @property
    def wrappers(self) -> tuple[str, ...]:
        return self.inner.wrappers + (self.tag,)

    @property
    def record_shape(self) -> Optional[tuple[int, ...]]:
        return self.inner.record_shape

    def unwrap(self) -> Any:
        return self.inner.unwrap()

    def predict(self, X: Any, *, batch_size: Optional[int] = None) -> Outputs:
        X = _as_input(X)
        return self.transform(self.inner.predict(X, batch_size=batch_size), X)

    def _predict_batch(self, X: Any) -> np.ndarray:
        return self.predict(X).values

    @abc.abstractmethod
    def transform(self, outputs: Outputs, X: Any) -> Outputs:
        """What this mitigation releases for the wrapped model's ``outputs`` on the records ``X``.

        ``predict(X)`` is ``transform(inner.predict(X), X)``; calling it directly applies the
        mitigation to outputs obtained elsewhere (e.g. a reference model's probabilities).
        ``X`` needs one row per row of ``outputs``: only :class:`OutputNoise` reads it (its
        noise is a function of each row's content and the seed), so any array of that many
        rows that identifies the records will do there, such as the probabilities themselves.
        """


# ---------------------------------------------------------------------------- mitigations


class LabelOnly(_Wrapper):
    """Release only the predicted label (argmax): outputs of kind "labels"."""

    tag = "label-only"
    output_kind = "labels"

    def transform(self, outputs: Outputs, X: Any) -> Outputs:
        return Outputs("labels", np.asarray(outputs.predicted_labels(), dtype=np.int64), self.n_classes)


class Temperature(_Wrapper):
    """Temperature scaling: logits / T (outputs of kind "logits").

    An inner model giving probs is treated as giving logits log(p) (softmax(log p) = p).
    T = 1 leaves the probabilities unchanged, T > 1 flattens them, and the argmax never
    changes. T must be finite and > 0. Label-only inner models cannot be scaled.
    """

    output_kind = "logits"

    def __init__(self, inner: Any, T: float):
        super().__init__(inner)
        if self.inner.output_kind == "labels":
            raise InputError("temperature scaling needs logits or probs; the inner model gives labels only")
        if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)) or not math.isfinite(T) or T <= 0:
            raise bad_value("T", "a finite number > 0", T)
        self.T = float(T)

    @property
    def tag(self) -> str:  # type: ignore[override]
        return f"temperature(T={self.T:g})"

    def transform(self, outputs: Outputs, X: Any) -> Outputs:
        if outputs.kind == "probs":
            logits = np.log(np.maximum(outputs.values, np.finfo(np.float64).tiny))
        else:
            logits = outputs.values
        return Outputs("logits", logits / self.T, self.n_classes)


class TopK(_Wrapper):
    """Release the k largest probabilities; the remaining mass is spread evenly over the
    other C - k classes, so rows still sum to 1 (outputs of kind "probs").

    The k classes kept are the k largest, ties broken by the lower class index (as argmax
    does). The spread value is the mean of the dropped probabilities, which is never above
    the smallest kept one, so the argmax never changes. ``k`` is an integer from 1 to
    n_classes (k = n_classes changes nothing). With 2 classes top-1 is the identity: the one
    dropped class gets exactly its own mass back.
    """

    output_kind = "probs"

    def __init__(self, inner: Any, k: int = 1):
        super().__init__(inner)
        _needs_posteriors(self.inner, "top-k")
        self.k = positive_int("k", k, minimum=1, maximum=self.n_classes, note=f" (the model has {self.n_classes} classes)")

    @property
    def tag(self) -> str:  # type: ignore[override]
        return f"top-k(k={self.k})"

    def transform(self, outputs: Outputs, X: Any) -> Outputs:
        p = _probabilities(outputs)
        n, C = p.shape
        if self.k >= C or n == 0:
            return Outputs("probs", p, self.n_classes)
        order = np.argsort(-p, axis=1, kind="stable")  # descending, lower index first among ties
        keep = order[:, : self.k]
        rows = np.arange(n)[:, None]
        kept = p[rows, keep]
        rest = np.clip(1.0 - kept.sum(axis=1), 0.0, None) / (C - self.k)
        out = np.repeat(rest[:, None], C, axis=1)
        out[rows, keep] = kept
        return Outputs("probs", out, self.n_classes)


class Rounding(_Wrapper):
    """Probabilities rounded to ``decimals`` decimal places, then renormalised (kind "probs").

    Rounding is numpy's (half to even). A row whose every entry rounds to 0 (possible for
    small ``decimals``, e.g. 0.4 / 0.3 / 0.3 at 0 decimals) becomes the one-hot vector of
    the model's predicted class. Rounding can tie the top class with another one; the
    top class is then raised by one unit in the last place (``np.nextafter``) so that the
    released vector's argmax is still the model's prediction (the label an API releases
    anyway), so accuracy is unchanged. ``decimals`` is an integer >= 0.
    """

    output_kind = "probs"

    def __init__(self, inner: Any, decimals: int = 1):
        super().__init__(inner)
        _needs_posteriors(self.inner, "rounding")
        self.decimals = nonnegative_int("decimals", decimals)

    @property
    def tag(self) -> str:  # type: ignore[override]
        return f"rounding(decimals={self.decimals})"

    def transform(self, outputs: Outputs, X: Any) -> Outputs:
        p = _probabilities(outputs)
        n = p.shape[0]
        if n == 0:
            return Outputs("probs", p, self.n_classes)
        top = np.argmax(p, axis=1)
        r = np.round(p, self.decimals)
        sums = r.sum(axis=1)
        zero = sums <= 0.0
        r[zero] = one_hot(top[zero], self.n_classes)
        sums[zero] = 1.0
        r = r / sums[:, None]
        rows = np.arange(n)
        others = r.copy()
        others[rows, top] = -np.inf
        tied = others.max(axis=1) >= r[rows, top]
        r[rows[tied], top[tied]] = np.nextafter(r[rows[tied], top[tied]], np.inf)
        return Outputs("probs", r, self.n_classes)


class OutputNoise(_Wrapper):
    """Gaussian noise N(0, sigma^2) added to each probability, clipped at 0 and renormalised
    (outputs of kind "probs").

    How the seed is used: the noise of a record is a function of (seed, the record's own
    content) only, drawn from a SHAKE-256 hash of both (:func:`record_normals`). So the
    same record gets the same noise in every call, in any batch, at any batch size and
    position, and after any other calls: an attacker cannot average the noise away by
    asking again, and results do not depend on the order of calls. Two identical records
    get identical outputs (as from a deterministic model). Different seeds give
    independent noise. Noise can change the argmax (and so the accuracy). A row whose
    every entry is clipped to 0 becomes the one-hot vector of its largest noisy value.
    """

    output_kind = "probs"

    def __init__(self, inner: Any, sigma: float = 0.1, seed: int = 0):
        super().__init__(inner)
        _needs_posteriors(self.inner, "output noise")
        self.sigma = _check_sigma(sigma)
        self.seed = _check_seed_param(seed)

    @property
    def tag(self) -> str:  # type: ignore[override]
        return f"output-noise(sigma={self.sigma:g}, seed={self.seed})"

    def transform(self, outputs: Outputs, X: Any) -> Outputs:
        p = _probabilities(outputs)
        if p.shape[0] == 0 or self.sigma == 0.0:
            return Outputs("probs", p, self.n_classes)
        noisy = p + self.sigma * record_normals(X, self.n_classes, self.seed)
        clipped = np.clip(noisy, 0.0, None)
        sums = clipped.sum(axis=1)
        zero = sums <= 0.0
        clipped[zero] = one_hot(np.argmax(noisy[zero], axis=1), self.n_classes)
        sums[zero] = 1.0
        return Outputs("probs", clipped / sums[:, None], self.n_classes)


def release_of(adapter: Any):
    """The release function ``transform(outputs, X)`` of an output-mitigation wrapper (what it
    makes of any model's outputs, e.g. a reference model's), or None for an unwrapped adapter."""
    return adapter.transform if isinstance(adapter, _Wrapper) else None


__all__ = ["LabelOnly", "Temperature", "TopK", "Rounding", "OutputNoise", "release_of"]
