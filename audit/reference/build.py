"""Train (or finish, or just open) a store of reference models: :func:`train_references`."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import numpy as np

from ..data.own_tables import KIND_BY_NDIM
from ..errors import InputError, bad_value
from ..progress import progress_enabled
from ..training import TrainRecipe, recipe_for
from .executors import Executor, make_executor
from .queries import QuerySet
from .spec import CUSTOM, ReferenceSpec
from .store import ReferenceStore



def make_spec(
    X_pool: Any,
    y_pool: Any,
    *,
    model: str,
    n_models: int,
    seed: int,
    recipe: Optional[TrainRecipe] = None,
    model_params: Optional[Mapping[str, Any]] = None,
    n_classes: Optional[int] = None,
    queries: Any = "auto",
    trainer: Any = None,
) -> ReferenceSpec:
    """The :class:`ReferenceSpec` :func:`train_references` uses (defaults filled in); with
    ``trainer`` (a :class:`mia_audit.user_code.TrainFunction`) ``model`` is "custom"."""
    X = np.asarray(X_pool)
    y = np.asarray(y_pool)
    if X.ndim not in KIND_BY_NDIM:
        raise bad_value("X_pool", "an array of records (N, F), (N, T, F) or (N, C, H, W)", f"shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise InputError(f"y_pool must be a 1-D array with one label per row of X_pool ({X.shape[0]}); got shape {y.shape}")
    if y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise bad_value("y_pool", "non-negative integer class labels", f"dtype {y.dtype}")
    if n_classes is None:
        n_classes = max(int(y.max()) + 1, 2)
    if trainer is not None:
        model = CUSTOM
    elif recipe is None and model != "xgboost":
        recipe = recipe_for(model, KIND_BY_NDIM[X.ndim])
    return ReferenceSpec(architecture=model, input_shape=tuple(X.shape[1:]), n_classes=n_classes, recipe=recipe,
                         n_models=n_models, seed=seed, params=dict(model_params or {}),
                         queries=QuerySet.for_data(X.shape, queries, augment=getattr(recipe, "augment", None)),
                         trainer=trainer)


def train_references(
    path: str | os.PathLike,
    X_pool: Any,
    y_pool: Any,
    *,
    model: str,
    n_models: int,
    seed: int,
    recipe: Optional[TrainRecipe] = None,
    model_params: Optional[Mapping[str, Any]] = None,
    n_classes: Optional[int] = None,
    queries: Any = "auto",
    executor: Any = "auto",
    device: Any = "auto",
    ray_address: Optional[str] = None,
    progress: Optional[bool] = None,
    trainer: Any = None,
) -> ReferenceStore:
    """Train ``n_models`` reference models of ``model`` on random halves of the pool
    and keep them in the store at ``path``; return the (complete) store.

    Each record of ``X_pool`` (N, ...) / ``y_pool`` (N,) is IN for exactly half of the
    models (complementary pairs, :mod:`mia_audit.reference.splits`). ``recipe`` is the
    target's training recipe (default :func:`mia_audit.training.recipe_for` for the model
    and the data's kind; None for xgboost), ``model_params`` its build parameters.
    ``queries``: which queries per record are stored ("auto": flips and 1-pixel shifts
    for images, padded as ``recipe.augment`` pads, the record itself otherwise; see
    :class:`QuerySet`).

    A store already at ``path`` for the same settings and pool is resumed: only models
    not yet saved are trained (a complete store is returned at once). One built for
    anything else raises :class:`InputError` naming the differences.

    ``executor``: "auto", "sequential", "batched", "process", "ray" or an
    :class:`~mia_audit.reference.executors.Executor` (see that module); ``ray_address`` picks
    Ray under "auto". ``device``: "auto", "cpu", "cuda[:N]". ``progress``: a bar of models
    done and time left (default: only on a terminal). ``trainer``: the user's training
    function (:class:`mia_audit.user_code.TrainFunction`), which then trains every model
    (``model`` is ignored; sequential executor; the store keeps signals only).
    """
    spec = make_spec(X_pool, y_pool, model=model, n_models=n_models, seed=seed, recipe=recipe,
                     model_params=model_params, n_classes=n_classes, queries=queries, trainer=trainer)
    return train_spec(path, spec, X_pool, y_pool, executor=executor, device=device, ray_address=ray_address,
                      progress=progress)


def train_spec(path: str | os.PathLike, spec: ReferenceSpec, X_pool: Any, y_pool: Any, *, executor: Any = "auto",
               device: Any = "auto", ray_address: Optional[str] = None,
               progress: Optional[bool] = None) -> ReferenceStore:
    """:func:`train_references` for a ready :class:`ReferenceSpec`."""
    from tqdm.auto import tqdm

    from ..device import resolve_device

    X = np.asarray(X_pool)
    y = np.asarray(y_pool).astype(np.int64, copy=False)
    store = ReferenceStore.create(path, spec, X, y)
    pending = store.pending()
    if not pending:
        return store
    torch_device = resolve_device(device)
    runner: Executor = make_executor(executor, spec, ray_address=ray_address, device=torch_device)
    device_name = str(torch_device)
    bar = tqdm(total=spec.n_models, initial=spec.n_models - len(pending), unit="model", desc="reference models",
               disable=not progress_enabled(progress), leave=False, bar_format=None)
    done = float(spec.n_models - len(pending))

    def tick(amount: float) -> None:
        nonlocal done
        step = min(float(amount), spec.n_models - done)
        done += step
        bar.update(step)

    try:
        for result in runner.run(spec, X, y, store.mask, pending, device=device_name, tick=tick):
            store.write(result)
    finally:
        bar.close()
    if not store.is_complete:
        raise InputError(f"reference store {path}: the executor returned without training models {store.pending()[:5]}")
    return store


__all__ = ["train_references", "train_spec", "make_spec"]
