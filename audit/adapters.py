"""One interface for every model: ``adapter.predict(X) -> Outputs``.

This is the only module that knows frameworks. An adapter turns a torch module, a
scikit-learn estimator, an XGBoost model or any callable (a deployed endpoint) into an
object with ``n_classes``, ``output_kind`` ("logits", "probs" or "labels") and
``predict(X, *, batch_size=None)``, which computes in batches on the model's own device
and returns numpy values in an :class:`~mia_audit.outputs.Outputs` (validated there: NaN or
inf outputs are refused).

Mitigations are adapters wrapping adapters (:class:`LabelOnly`, :class:`Temperature`),
so an attack cannot tell a raw model from a defended one; ``describe()`` tells a report.

Inputs ``X`` are not validated (a NaN in X is the model's business) and never modified.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import math
from typing import Any, Callable, Iterator, Optional

import numpy as np

from .checks import positive_int
from .errors import InputError, bad_value
from .outputs import KINDS, Outputs

DEFAULT_TORCH_BATCH = 1024
DEFAULT_CALLABLE_BATCH = 1024


# ---------------------------------------------------------------------------- helpers


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return len(X)


def _rows(X: Any, start: int, stop: int) -> Any:
    if hasattr(X, "iloc"):  # pandas
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


def _to_numpy(a: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(a, torch.Tensor):
            return a.detach().float().cpu().numpy() if a.is_floating_point() else a.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(a)


def _is_torch_module(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, torch.nn.Module)


def _is_xgboost(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "xgboost"


# ---------------------------------------------------------------------------- base


def _plural_features(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else f"{int(np.prod(shape))} values"


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


# ---------------------------------------------------------------------------- torch


class TorchAdapter(ModelAdapter):
    """A torch module returning logits (n, C) (or a single logit (n, 1) for 2 classes).

    Runs on the module's own device, in eval mode under ``torch.no_grad``, restoring every
    submodule's train/eval mode afterwards. Floating inputs are cast to the module's dtype;
    the returned logits are float64 numpy arrays. ``n_classes`` defaults to the module's
    ``n_classes`` attribute, else the ``out_features`` of its last ``nn.Linear``.
    """

    framework = "torch"
    output_kind = "logits"

    def __init__(self, module: Any, n_classes: Optional[int] = None, batch_size: int = DEFAULT_TORCH_BATCH):
        if not _is_torch_module(module):
            raise bad_value("module", "a torch nn.Module", type(module).__name__)
        self.module = module
        self.n_classes = _check_n_classes(n_classes) if n_classes is not None else self._infer_classes(module)
        self.batch_size = _check_batch_size(batch_size, allow_none=False)

    @staticmethod
    def _infer_classes(module: Any) -> int:
        import torch

        declared = getattr(module, "n_classes", None)
        if declared is not None:
            return _check_n_classes(declared)
        last = None
        for sub in module.modules():
            if isinstance(sub, torch.nn.Linear):
                last = sub
        if last is None:
            raise InputError("n_classes is required for a torch module without an n_classes attribute or a final nn.Linear")
        return 2 if last.out_features == 1 else _check_n_classes(last.out_features)

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        import torch

        from .device import model_device, model_dtype

        modes = [(sub, sub.training) for sub in self.module.modules()]
        self._device = model_device(self.module)
        self._dtype = model_dtype(self.module)
        self.module.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for sub, mode in modes:
                sub.training = mode

    def _predict_batch(self, X: Any) -> np.ndarray:
        import torch

        if isinstance(X, torch.Tensor):
            xb = X
        else:
            arr = np.asarray(X)
            xb = torch.as_tensor(arr if arr.flags.writeable else arr.copy())
        if xb.is_floating_point():
            xb = xb.to(device=self._device, dtype=self._dtype)
        else:
            xb = xb.to(device=self._device)
        out = self.module(xb)
        if not isinstance(out, torch.Tensor):
            raise InputError(f"the torch module must return a tensor of logits; got {type(out).__name__}")
        if out.dim() == 2 and out.shape[1] == 1 and self.n_classes == 2:
            out = torch.cat([torch.zeros_like(out), out], dim=1)
        return out.detach().to(dtype=torch.float64).cpu().numpy()

    def unwrap(self) -> Any:
        return self.module


# ---------------------------------------------------------------------------- scikit-learn


class SklearnAdapter(ModelAdapter):
    """A fitted scikit-learn classifier with ``predict_proba``; ``classes_`` must be 0..C-1."""

    framework = "sklearn"
    output_kind = "probs"

    def __init__(self, estimator: Any, batch_size: Optional[int] = None):
        if not hasattr(estimator, "predict_proba"):
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
        return np.asarray(self.estimator.predict_proba(_to_numpy(X) if not hasattr(X, "iloc") else X))

    def unwrap(self) -> Any:
        return self.estimator


# ---------------------------------------------------------------------------- xgboost


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
        if self._objective == "sklearn":
            return np.asarray(self.model.predict_proba(X if hasattr(X, "iloc") else _to_numpy(X)))
        import xgboost

        data = xgboost.DMatrix(X if hasattr(X, "iloc") else _to_numpy(X))
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


# ---------------------------------------------------------------------------- callables


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
        return _to_numpy(self.fn(X if hasattr(X, "iloc") else _to_numpy(X)))

    def unwrap(self) -> Any:
        return self.fn


# ---------------------------------------------------------------------------- wrappers (mitigations)


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
        return self._transform(self.inner.predict(X, batch_size=batch_size), X)

    def _predict_batch(self, X: Any) -> np.ndarray:
        return self.predict(X).values

    @abc.abstractmethod
    def _transform(self, outputs: Outputs, X: Any) -> Outputs:
        """The wrapped model's outputs for the records ``X``, transformed (subclasses implement this)."""


class LabelOnly(_Wrapper):
    """Release only the predicted label (argmax): outputs of kind "labels"."""

    tag = "label-only"
    output_kind = "labels"

    def _transform(self, outputs: Outputs, X: Any) -> Outputs:
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

    def _transform(self, outputs: Outputs, X: Any) -> Outputs:
        if outputs.kind == "probs":
            logits = np.log(np.maximum(outputs.values, np.finfo(np.float64).tiny))
        else:
            logits = outputs.values
        return Outputs("logits", logits / self.T, self.n_classes)


# ---------------------------------------------------------------------------- dispatch and hashing


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
    if _is_torch_module(obj):
        return TorchAdapter(obj, n_classes=n_classes, **options)
    if _is_xgboost(obj):
        adapter: ModelAdapter = XGBoostAdapter(obj, **options)
    elif hasattr(obj, "predict_proba"):
        adapter = SklearnAdapter(obj, **options)
    elif hasattr(obj, "model") and hasattr(obj, "history") and hasattr(obj, "seconds"):
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


def model_sha256(model: Any) -> Optional[str]:
    """A sha256 (hex) identifying a model's learned state, or None where there is none to hash.

    Torch modules: over the state_dict in sorted key order (each key, dtype, shape and the
    tensor's bytes, moved to the CPU). XGBoost models: over the booster's raw JSON
    (``save_raw("json")``). Adapters and wrappers hash the model they wrap; a
    TrainResult hashes its model; an object with a ``sha256()`` method (an ensemble) gives
    that. Callables and other scikit-learn estimators give None.
    """
    if isinstance(model, ModelAdapter):
        return model_sha256(model.unwrap())
    if _is_torch_module(model):
        import torch

        digest = hashlib.sha256()
        state = model.state_dict()
        for key in sorted(state):
            value = state[key]
            digest.update(key.encode() + b"\0")
            if isinstance(value, torch.Tensor):
                tensor = value.detach().cpu().contiguous()
                digest.update(f"{tensor.dtype}:{tuple(tensor.shape)}\0".encode())
                digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
            else:
                digest.update(repr(value).encode() + b"\0")
        return digest.hexdigest()
    if _is_xgboost(model):
        import xgboost

        if isinstance(model, xgboost.Booster):
            booster = model
        else:
            try:
                booster = model.get_booster()
            except Exception as exc:  # xgboost raises NotFittedError for an unfitted estimator
                raise InputError(f"cannot hash an unfitted {type(model).__name__}: {exc}") from None
        return hashlib.sha256(bytes(booster.save_raw("json"))).hexdigest()
    if hasattr(model, "model") and hasattr(model, "history") and hasattr(model, "seconds"):
        return model_sha256(model.model)
    if callable(getattr(model, "sha256", None)):  # ensembles (e.g. SISA's XGBoost shards) hash themselves
        return str(model.sha256())
    return None


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
]


# ---------------------------------------------------------------------------- more output mitigations
#
# Top-k, rounding and output noise release probabilities (kind "probs"); each accepts an inner
# model giving logits or probs (softmax / renormalised first) and refuses a label-only one.


def _check_sigma(value: Any) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(float(value)) or float(value) < 0:
        raise bad_value("sigma", "a finite number >= 0", value)
    return float(value)


def _check_seed_param(value: Any) -> int:
    from .seeding import check_seed

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


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


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

    def _transform(self, outputs: Outputs, X: Any) -> Outputs:
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
        self.decimals = positive_int("decimals", decimals, minimum=0)

    @property
    def tag(self) -> str:  # type: ignore[override]
        return f"rounding(decimals={self.decimals})"

    def _transform(self, outputs: Outputs, X: Any) -> Outputs:
        p = _probabilities(outputs)
        n = p.shape[0]
        if n == 0:
            return Outputs("probs", p, self.n_classes)
        top = np.argmax(p, axis=1)
        r = np.round(p, self.decimals)
        sums = r.sum(axis=1)
        zero = sums <= 0.0
        r[zero] = _one_hot(top[zero], self.n_classes)
        sums[zero] = 1.0
        r = r / sums[:, None]
        rows = np.arange(n)
        others = r.copy()
        others[rows, top] = -np.inf
        tied = others.max(axis=1) >= r[rows, top]
        r[rows[tied], top[tied]] = np.nextafter(r[rows[tied], top[tied]], np.inf)
        return Outputs("probs", r, self.n_classes)


def _exact_numpy(X: Any) -> np.ndarray:
    """X as a numpy array without loss of precision (torch tensors keep their dtype; bfloat16 becomes float32)."""
    if hasattr(X, "iloc"):
        return np.asarray(X)
    try:
        import torch

        if isinstance(X, torch.Tensor):
            t = X.detach().cpu()
            return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(X)


def _row_digests(X: Any, n_bytes: int, seed: int) -> np.ndarray:
    """``n_bytes`` pseudo-random bytes per row of X, a function of (seed, the row's content) only.

    Each row is canonicalised (numeric values as little-endian float64 with -0.0 made 0.0,
    anything else as the repr of its values) and fed with the seed and the row's shape to
    SHAKE-256, an extendable-output hash. Returns a uint8 array (n, n_bytes).
    """
    arr = _exact_numpy(X)
    n = _n_rows(arr)
    out = np.empty((n, n_bytes), dtype=np.uint8)
    prefix = b"mia-audit output-noise\0" + seed.to_bytes(8, "little") + repr(tuple(arr.shape[1:])).encode() + b"\0"
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.bool_
    if numeric:
        canon = np.ascontiguousarray(arr.astype("<f8") + 0.0).reshape(n, -1)
        for i in range(n):
            out[i] = np.frombuffer(hashlib.shake_256(prefix + canon[i].tobytes()).digest(n_bytes), np.uint8)
    else:
        for i in range(n):
            row = repr(np.asarray(arr[i]).tolist()).encode()
            out[i] = np.frombuffer(hashlib.shake_256(prefix + row).digest(n_bytes), np.uint8)
    return out


def record_normals(X: Any, n_classes: int, seed: int) -> np.ndarray:
    """Standard normal draws (n, n_classes), a function of (seed, each row's content) only.

    16 hash bytes per class give two 53-bit uniforms u1 in (0, 1] and u2 in [0, 1);
    the Box-Muller transform sqrt(-2 ln u1) cos(2 pi u2) makes them one standard normal.
    """
    raw = _row_digests(X, 16 * n_classes, seed)
    words = raw.view("<u8").reshape(raw.shape[0], n_classes, 2)
    u1 = ((words[..., 0] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
    u2 = (words[..., 1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


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

    def _transform(self, outputs: Outputs, X: Any) -> Outputs:
        p = _probabilities(outputs)
        if p.shape[0] == 0 or self.sigma == 0.0:
            return Outputs("probs", p, self.n_classes)
        noisy = p + self.sigma * record_normals(X, self.n_classes, self.seed)
        clipped = np.clip(noisy, 0.0, None)
        sums = clipped.sum(axis=1)
        zero = sums <= 0.0
        clipped[zero] = _one_hot(np.argmax(noisy[zero], axis=1), self.n_classes)
        sums[zero] = 1.0
        return Outputs("probs", clipped / sums[:, None], self.n_classes)



__all__ += ["TopK", "Rounding", "OutputNoise", "record_normals"]
