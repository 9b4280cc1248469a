"""Which queries a model gets per record, and the per-query signals the attacks read.

LiRA (Carlini et al. 2022, "Membership inference attacks from first principles",
section VI-A) queries each record several times, under the augmentations the model
was trained with, and fits one Gaussian per augmentation; RMIA (Zarifzadeh et al.
2024) uses the same queries, combined as below. A :class:`QuerySet` names those queries:

* records that are not images (tabular rows, sequences) get one query, the record;
* images (n, C, H, W) get ``2 x (2s + 1)^2`` queries: without and with a horizontal
  flip, each shifted by every (dy, dx) in ``{-s, 0, s}^2`` where ``s = shift``
  (the mi_lira_2021 reference queries 2 flips x 9 shifts of 1 pixel: "aug=18").
  The pixels shifted in follow the padding of the model's training augmentation, so
  that the queries look like training inputs: reflections of the border (``pad =
  "reflect"``) for ``flip-translate`` (airnet's recipe), as in the reference code, whose
  training pads by reflection too; zeros (``pad = "zero"``) otherwise, like the zero
  padding of ``flip-crop`` and of torchvision's ``RandomCrop(padding=...)``, the usual
  choice of a user's own training code.

:class:`QuerySignals` holds, per record and query, the logit-scaled confidence
``log(p_y / (1 - p_y))`` and the true-class probability ``p_y``, as float32 arrays of
shape (..., n, A) with A queries (a leading K axis for K reference models).

Departure from the reference code, on purpose (RMIA): the paper's code
(ml_privacy_meter ``research/2024_rmia/main.py``, ``aggregate_signals``) runs one
pairwise test LR(x, z) > gamma per query, each with that query's own Pr(x | theta)
and Pr(x), and takes the majority vote of the per-query tests for every (x, z) before
the fraction over z. ``rmia-online`` / ``rmia-offline`` here average p_y over the
queries instead (for the target and for each reference model) and run one test per
(x, z) on that average (:mod:`mia_audit.attacks.rmia`). LiRA follows its reference
code: one Gaussian per query, the per-query log-likelihood ratios averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ..checks import boolean, choice, nonnegative_int
from ..errors import InputError, bad_value
from ..signals import compute_signals

PADS = ("zero", "reflect")  # what a shifted query moves in
SIGNAL_DTYPE = np.float32  # storage precision of the per-query signals (halves the store's size)


@dataclass(frozen=True)
class QuerySet:
    """The queries per record: ``flip`` (add horizontally flipped copies), ``shift``
    (largest pixel shift, >= 0; the shifts are -shift, 0, +shift in each direction) and
    ``pad`` (what a shift moves in: ``"zero"`` or ``"reflect"``). All are ignored for
    records that are not images (one query)."""

    flip: bool = False
    shift: int = 0
    pad: str = "zero"

    def __post_init__(self) -> None:
        object.__setattr__(self, "flip", boolean("queries.flip", self.flip))
        object.__setattr__(self, "shift", nonnegative_int("queries.shift", self.shift))
        object.__setattr__(self, "pad", choice("queries.pad", self.pad, PADS))

    @staticmethod
    def for_data(X_shape: tuple[int, ...], queries: Any = "auto", *, augment: Optional[str] = None) -> "QuerySet":
        """``"auto"``: flips and 1-pixel shifts for images (18 queries), padded as the training
        ``augment`` pads (``"reflect"`` for ``flip-translate``, else ``"zero"``), one query
        otherwise; ``None`` or ``"none"``: one query; a QuerySet or a dict {"flip", "shift",
        "pad"} as given."""
        if isinstance(queries, QuerySet):
            return queries
        if queries is None or queries == "none":
            return QuerySet()
        if queries == "auto":
            if len(X_shape) != 4:
                return QuerySet()
            return QuerySet(flip=True, shift=1, pad="reflect" if augment == "flip-translate" else "zero")
        if isinstance(queries, dict):
            unknown = sorted(set(queries) - {"flip", "shift", "pad"})
            if unknown:
                raise InputError(f"queries: unknown key {unknown[0]!r}; allowed: flip, shift, pad")
            return QuerySet(**queries)
        raise bad_value("queries", "'auto', 'none', None, a QuerySet or a dict {'flip', 'shift', 'pad'}", queries)

    def augmentations(self, X_shape: tuple[int, ...]) -> list[tuple[bool, int, int]]:
        """(flip, dy, dx) per query, in storage order; [(False, 0, 0)] for non-images."""
        if len(X_shape) != 4:
            return [(False, 0, 0)]
        flips = (False, True) if self.flip else (False,)
        steps = (0,) if self.shift == 0 else (-self.shift, 0, self.shift)
        return [(f, dy, dx) for f in flips for dy in steps for dx in steps]

    def n_queries(self, X_shape: tuple[int, ...]) -> int:
        return len(self.augmentations(X_shape))

    def to_dict(self) -> dict[str, Any]:
        """The fields a reference store records; ``pad`` only when it is not ``"zero"``, so that
        stores written before queries had a padding (all zero-padded) keep their metadata."""
        return {"flip": self.flip, "shift": self.shift, **({"pad": self.pad} if self.pad != "zero" else {})}


def augment(X: np.ndarray, flip: bool, dy: int, dx: int, pad: str = "zero") -> np.ndarray:
    """A new array of images (n, C, H, W): flipped left-right if ``flip``, then moved by
    ``dy`` rows and ``dx`` columns (positive = down / right), with zeros shifted in
    (``pad="zero"``) or the border's reflection (``"reflect"``, the edge pixel not repeated:
    numpy's and TensorFlow's ``reflect``)."""
    out = X[..., ::-1] if flip else X
    if dy == 0 and dx == 0:
        return np.ascontiguousarray(out)
    H, W = out.shape[-2:]
    if pad == "reflect":
        if abs(dy) >= H or abs(dx) >= W:
            raise InputError(f"a reflect-padded shift must be smaller than the image; got ({dy}, {dx}) on {H}x{W}")
        p = max(abs(dy), abs(dx))
        padded = np.pad(out, [(0, 0)] * (out.ndim - 2) + [(p, p), (p, p)], mode="reflect")
        return np.ascontiguousarray(padded[..., p - dy:p - dy + H, p - dx:p - dx + W])
    shifted = np.zeros_like(out)
    src_r, dst_r = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    src_c, dst_c = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    shifted[..., dst_r, dst_c] = out[..., src_r, src_c]
    return shifted


@dataclass(frozen=True)
class QuerySignals:
    """Per-query signals: ``logit_confidence`` and ``confidence`` (p_y), each of shape
    (n, A) for one model or (K, n, A) for K models; ``None`` for label-only outputs."""

    logit_confidence: Optional[np.ndarray]
    confidence: Optional[np.ndarray]

    @property
    def has_posteriors(self) -> bool:
        return self.logit_confidence is not None and self.confidence is not None

    @property
    def shape(self) -> tuple[int, ...]:
        if self.logit_confidence is None:
            raise InputError("these query signals come from label-only outputs and have no values")
        return tuple(self.logit_confidence.shape)

    @staticmethod
    def stack(parts: "list[QuerySignals]") -> "QuerySignals":
        """K single-model signals (n, A) -> one (K, n, A)."""
        if not parts or not all(p.has_posteriors for p in parts):
            raise InputError("stacking query signals needs at least one model and posterior outputs from each")
        return QuerySignals(
            logit_confidence=np.stack([p.logit_confidence for p in parts]),
            confidence=np.stack([p.confidence for p in parts]),
        )


def query_signals(model: Any, X: Any, y: Any, queries: QuerySet, *, batch_size: Optional[int] = None,
                  release: Optional[Callable[[Any, Any], Any]] = None) -> QuerySignals:
    """Signals of ``model`` (anything :func:`mia_audit.adapters.as_adapter` takes) on every
    record of ``X`` under every query of ``queries``: arrays (n, A), float32.

    ``release(outputs, X_query)``: what is released instead of the model's outputs, e.g. a
    fitted output mitigation's ``transform`` (so that reference models answer as the
    mitigated target does). Label-only outputs give ``QuerySignals(None, None)`` (the
    attacks that need posteriors then say so). ``X`` and ``y`` are not modified.
    """
    from ..adapters import as_adapter

    if not isinstance(queries, QuerySet):
        raise bad_value("queries", "a mia_audit.reference.QuerySet", queries)
    adapter = as_adapter(model)
    X_np = np.asarray(X)
    y_np = np.asarray(y)
    lc_parts, conf_parts = [], []
    for flip, dy, dx in queries.augmentations(X_np.shape):
        Xa = augment(X_np, flip, dy, dx, queries.pad) if X_np.ndim == 4 else X_np
        outputs = adapter.predict(Xa, batch_size=batch_size)
        signals = compute_signals(outputs if release is None else release(outputs, Xa), y_np)
        if signals.logit_confidence is None:
            return QuerySignals(None, None)
        lc_parts.append(signals.logit_confidence.astype(SIGNAL_DTYPE))
        conf_parts.append(signals.confidence.astype(SIGNAL_DTYPE))
    return QuerySignals(logit_confidence=np.stack(lc_parts, axis=1), confidence=np.stack(conf_parts, axis=1))


__all__ = ["QuerySet", "QuerySignals", "augment", "query_signals"]
