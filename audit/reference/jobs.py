"""One unit of reference-model work, the same on every executor: :func:`run_job`.

A job trains the reference models named by ``indices`` (batched where the
architecture allows it and ``batched=True``, else one after the other with
:func:`mia_audit.training.train_model`), queries each trained model on the whole pool
(:func:`mia_audit.reference.queries.query_signals`) and returns one :class:`ModelResult`
per model: its weights as bytes (safetensors for torch, XGBoost's UBJSON for boosted
trees, never a pickle), its per-query signals, its loss history and time. A job needs
only picklable arguments, so processes and Ray workers run the very same function.
:func:`iter_job` is the same work as a generator that hands over each model as soon as
it is trained and queried (the in-process executors save it at once; batched models of
one group finish training together, and each is then queried and handed over in turn).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..errors import InputError
from .queries import QuerySignals, query_signals
from .spec import ReferenceSpec
from .splits import train_seed

#: format -> file extension; "none": models of a user training function, kept as their signals only
#: (an arbitrary model has no safe file format; LiRA and RMIA read the signals)
WEIGHT_FORMATS = {"safetensors": "safetensors", "xgboost-ubj": "ubj", "none": "none"}


@dataclass(frozen=True)
class ModelResult:
    """A trained reference model as it goes to the store."""

    index: int
    weights: bytes
    weights_format: str  # "safetensors" or "xgboost-ubj"
    signals: QuerySignals  # arrays (N, A) on the whole pool
    history: tuple[float, ...]
    seconds: float
    device: str


def torch_weights(module: Any) -> bytes:
    """A module's state_dict as safetensors bytes (tensors moved to the CPU, contiguous)."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})


def xgboost_weights(model: Any) -> bytes:
    return bytes(model.get_booster().save_raw("ubj"))


def _result(spec: ReferenceSpec, k: int, trained: Any, X: np.ndarray, y: np.ndarray) -> ModelResult:
    start = time.perf_counter()
    signals = query_signals(trained.model, X, y, spec.queries)
    query_seconds = time.perf_counter() - start
    if spec.is_custom:
        weights, fmt = b"", "none"
    elif spec.is_torch:
        weights, fmt = torch_weights(trained.model), "safetensors"
    else:
        weights, fmt = xgboost_weights(trained.model), "xgboost-ubj"
    return ModelResult(index=int(k), weights=weights, weights_format=fmt, signals=signals,
                       history=tuple(float(v) for v in trained.history), seconds=float(trained.seconds) + query_seconds,
                       device=str(trained.device))


def batchable(spec: ReferenceSpec) -> bool:
    """Whether ``spec``'s architecture can be trained batched (see :mod:`mia_audit.reference.batched`)."""
    if not spec.is_torch:
        return False
    from .batched import can_batch

    return can_batch(spec.build(0))


def run_job(spec: ReferenceSpec, X: np.ndarray, y: np.ndarray, mask: np.ndarray, indices: Sequence[int],
            **options: Any) -> list[ModelResult]:
    """The results of :func:`iter_job` (same arguments) as a list, sorted by index when batched,
    for worker processes and Ray tasks, which return all their models at once."""
    results = list(iter_job(spec, X, y, mask, indices, **options))
    return sorted(results, key=lambda r: r.index) if options.get("batched") and batchable(spec) else results


def iter_job(
    spec: ReferenceSpec,
    X: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    indices: Sequence[int],
    *,
    batched: bool,
    device: Any = "auto",
    threads: Optional[int] = None,
    tick: Optional[Callable[[float], None]] = None,
) -> Iterator[ModelResult]:
    """Train and query the reference models ``indices`` of ``spec`` on the pool ``X, y``;
    yield each model's result as soon as it is ready.

    ``mask`` is the (K, N) membership mask; model k trains on ``X[mask[k]]`` (rows in
    pool order). ``batched=True`` trains torch models of a batchable architecture in
    lock-step groups of equal training-set size; everything else goes through
    ``train_model`` one model at a time. ``threads`` caps torch's and XGBoost's threads
    (for worker processes sharing a machine). ``tick(amount)`` reports progress in
    models.
    """
    from ..training import train_model

    indices = [int(k) for k in indices]
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    if batched and batchable(spec):
        from .batched import train_batched

        sizes: dict[int, list[int]] = {}
        for k in indices:
            sizes.setdefault(int(mask[k].sum()), []).append(k)
        for group in sizes.values():
            members = [np.flatnonzero(mask[k]) for k in group]
            trained = train_batched([spec.build(k) for k in group], X, y, members, spec.recipe,
                                    [train_seed(spec.seed, k) for k in group], device=device, tick=tick)
            for k, t in zip(group, trained):
                yield _result(spec, k, t, X, y)
                if tick is not None:
                    tick(1 / (spec.recipe.epochs + 1))
        return
    if spec.is_custom:
        if spec.trainer is None:
            raise InputError("these reference models are trained by a user training function; give it "
                             "(model.train) to train the ones not yet in the store")
        for k in indices:
            rows = np.flatnonzero(mask[k])
            trained = spec.trainer.train(X[rows], y[rows], seed=train_seed(spec.seed, k), device=device,
                                         n_classes=spec.n_classes)
            yield _result(spec, k, trained, X, y)
            if tick is not None:
                tick(1.0)
        return
    for k in indices:
        model = spec.build(k)
        if not spec.is_torch and threads is not None and "n_jobs" not in spec.params:
            model.set_params(n_jobs=int(threads))  # thread count does not change hist trees
        rows = np.flatnonzero(mask[k])
        trained = train_model(model, X[rows], y[rows], spec.recipe, seed=train_seed(spec.seed, k), device=device)
        yield _result(spec, k, trained, X, y)
        if tick is not None:
            tick(1.0)


__all__ = ["ModelResult", "run_job", "iter_job", "batchable", "torch_weights", "xgboost_weights", "WEIGHT_FORMATS"]
