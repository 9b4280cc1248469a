"""Choosing the forget set inside the train set of a :class:`~mia_audit.data.split.Split`.

A forget specification is a :class:`ForgetSpec` or the same fields as a dict (as
read from a TOML configuration)::

    {"kind": "random", "fraction": 0.1}
    {"kind": "classes", "classes": [3], "fraction": 0.5}
    {"kind": "indices", "indices": [12, 40, 77]}
    {"kind": "predicate", "predicate": "red", "size": 525}
    {"kind": "predicate", "predicate": "older", "options": {"min_age": 65}}

Kinds:

* ``random``: ``fraction`` (of train) or ``size`` records of train, uniformly.
* ``classes``: the train records whose label is in ``classes``; with ``fraction``
  only that fraction of each class (rounded), or with ``size`` at most that many
  (a uniform choice among them).
* ``indices``: the given pool indices; all must lie in train.
* ``predicate``: the train records for which a predicate is true. The predicate is
  a callable ``f(dataset, indices) -> bool mask`` (one entry per index), or the name
  of a registered predicate in :data:`PREDICATES` (built with ``options``); with
  ``size`` at most that many (a uniform choice among the matches), with
  ``fraction`` that fraction of the matches.

Random choices use ``rng(seed, "forget", kind)``: the same seed gives the same set.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, Mapping

import numpy as np

from ..checks import fraction
from ..errors import InputError, bad_value
from ..registry import Registry
from ..seeding import check_seed, rng
from .dataset import Dataset, check_indices
from .split import Split

FORGET_KINDS = ("random", "classes", "indices", "predicate")

#: Fields each kind may use (besides ``kind``).
_FIELDS = {
    "random": {"fraction", "size"},
    "classes": {"classes", "fraction", "size"},
    "indices": {"indices"},
    "predicate": {"predicate", "options", "fraction", "size"},
}

Predicate = Callable[[Dataset, np.ndarray], Any]

#: Named forget predicates. Each entry is a factory: ``PREDICATES.create(name, **options)``
#: returns a callable ``f(dataset, indices) -> bool mask``.
PREDICATES: Registry[Predicate] = Registry("forget predicate")


@dataclasses.dataclass(frozen=True)
class ForgetSpec:
    """How to choose the forget set; see the module docstring for the kinds.

    Attributes:
        kind: ``"random"``, ``"classes"``, ``"indices"`` or ``"predicate"``.
        fraction: a fraction in (0, 1) (of train, of the classes' records, or of
            the predicate's matches).
        size: a count (for ``predicate`` and ``classes``, a cap on the count).
        classes: class labels (``classes``).
        indices: pool indices (``indices``).
        predicate: a callable ``f(dataset, indices) -> bool mask`` or a registered name.
        options: keyword options for a registered predicate (e.g. ``{"threshold": 50}``).
    """

    kind: str
    fraction: float | None = None
    size: int | None = None
    classes: tuple[int, ...] | None = None
    indices: tuple[int, ...] | None = None
    predicate: str | Predicate | None = None
    options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in FORGET_KINDS:
            raise bad_value("forget kind", f"one of {', '.join(FORGET_KINDS)}", self.kind)
        allowed = _FIELDS[self.kind]
        for field in ("fraction", "size", "classes", "indices", "predicate", "options"):
            if getattr(self, field) is not None and field not in allowed:
                raise InputError(
                    f"forget field {field!r} is not used by kind {self.kind!r}; "
                    f"kind {self.kind!r} takes {', '.join(sorted(allowed))}"
                )
        if self.fraction is not None:
            fraction("forget fraction", self.fraction)
        if self.size is not None:
            s = self.size
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise bad_value("forget size", "a positive integer", s)
        if self.kind == "random" and (self.fraction is None) == (self.size is None):
            raise InputError("forget kind 'random' needs exactly one of fraction or size")
        if self.kind == "classes":
            if self.classes is None:
                raise InputError("forget kind 'classes' needs classes (a list of class labels)")
            if self.fraction is not None and self.size is not None:
                raise InputError("forget kind 'classes' takes fraction or size, not both")
            object.__setattr__(self, "classes", _int_tuple(self.classes, "forget classes"))
            if not self.classes:
                raise bad_value("forget classes", "a non-empty list of class labels", [])
        if self.kind == "indices":
            if self.indices is None:
                raise InputError("forget kind 'indices' needs indices (a list of pool indices)")
            object.__setattr__(self, "indices", _int_tuple(self.indices, "forget indices"))
        if self.kind == "predicate":
            if self.predicate is None:
                raise InputError(
                    "forget kind 'predicate' needs predicate: a callable f(dataset, indices) -> bool mask "
                    f"or one of {', '.join(PREDICATES.names())}"
                )
            if self.fraction is not None and self.size is not None:
                raise InputError("forget kind 'predicate' takes fraction or size, not both")
            if isinstance(self.predicate, str):
                PREDICATES.get(self.predicate)  # unknown names fail here, listing valid ones
            elif not callable(self.predicate):
                raise bad_value(
                    "forget predicate", f"a callable or one of {', '.join(PREDICATES.names())}", self.predicate
                )
            if self.options is not None:
                if not isinstance(self.options, Mapping):
                    raise bad_value("forget options", "a mapping of keyword options", self.options)
                if not isinstance(self.predicate, str):
                    raise InputError("forget options are for a registered (named) predicate only")
                object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "ForgetSpec":
        """Build from a mapping (e.g. a TOML table); unknown keys are refused."""
        if not isinstance(spec, Mapping):
            raise bad_value("forget spec", "a mapping or a ForgetSpec", spec)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise InputError(
                f"forget spec key {unknown[0]!r} is not known; valid keys: {', '.join(names)}"
            )
        if "kind" not in spec:
            raise InputError(f"forget spec needs 'kind', one of {', '.join(FORGET_KINDS)}")
        return cls(**dict(spec))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON description (a callable predicate is given by its name)."""
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("fraction", "size", "classes", "indices", "options"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        if self.predicate is not None:
            p = self.predicate
            out["predicate"] = p if isinstance(p, str) else getattr(p, "__qualname__", repr(p))
        return out


def _int_tuple(values: Any, param: str) -> tuple[int, ...]:
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or (arr.size and (arr.dtype == bool or arr.dtype.kind not in "iu")):
        raise bad_value(param, "a list of integers", values)
    return tuple(int(v) for v in arr)


def _choose(candidates: np.ndarray, count: int, gen: np.random.Generator) -> np.ndarray:
    """``count`` of the sorted ``candidates``, uniformly without replacement (all if count >= len)."""
    if count >= candidates.size:
        return candidates.copy()
    return np.sort(gen.choice(candidates, size=count, replace=False))


def _thin(candidates: np.ndarray, spec: ForgetSpec, gen: np.random.Generator) -> np.ndarray:
    if spec.fraction is not None:
        return _choose(candidates, max(1, int(round(spec.fraction * candidates.size))), gen)
    if spec.size is not None:
        return _choose(candidates, int(spec.size), gen)
    return candidates


def select_forget(dataset: Dataset, split: Split, spec: ForgetSpec | Mapping[str, Any], *, seed: int) -> Split:
    """Choose a forget set inside ``split.train`` and return a new :class:`Split`.

    Args:
        dataset: the pool the split indexes (its length must be ``split.n``).
        split: train / test sets (any forget set it holds is replaced).
        spec: a :class:`ForgetSpec` or a mapping with the same keys.
        seed: seed of the random choices.

    Raises:
        InputError: a bad spec (unknown kind, fraction outside (0, 1), size larger
            than train, classes outside ``[0, n_classes)``), forget indices outside
            train, or an empty selection.
    """
    seed = check_seed(seed)
    if not isinstance(dataset, Dataset):
        raise bad_value("dataset", "a Dataset", type(dataset).__name__)
    if not isinstance(split, Split):
        raise bad_value("split", "a Split", type(split).__name__)
    if len(dataset) != split.n:
        raise InputError(f"split is for a pool of {split.n} records but dataset {dataset.name!r} has {len(dataset)}")
    if not isinstance(spec, ForgetSpec):
        spec = ForgetSpec.from_dict(spec)
    train = split.train
    if spec.size is not None and spec.size > train.size:
        raise bad_value("forget size", f"at most the train size {train.size}", spec.size)
    gen = rng(seed, "forget", spec.kind)

    if spec.kind == "random":
        count = spec.size if spec.size is not None else int(round(spec.fraction * train.size))
        if count < 1:
            raise InputError(f"forget fraction {spec.fraction} of {train.size} train records selects nothing")
        forget = _choose(train, count, gen)
    elif spec.kind == "classes":
        bad = [c for c in spec.classes if not 0 <= c < dataset.n_classes]
        if bad:
            raise bad_value("forget classes", f"class labels in [0, {dataset.n_classes})", bad)
        labels = dataset.y[train]
        if spec.fraction is not None:
            parts = []
            for c in sorted(set(spec.classes)):
                members = train[labels == c]
                if members.size:
                    parts.append(_choose(members, max(1, int(round(spec.fraction * members.size))), gen))
            forget = np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        else:
            forget = _thin(train[np.isin(labels, spec.classes)], spec, gen)
    elif spec.kind == "indices":
        forget = check_indices(list(spec.indices), split.n, "forget indices")
    else:
        forget = _thin(train[_predicate_mask(dataset, train, spec, seed)], spec, gen)

    if forget.size == 0:
        raise InputError(f"forget spec {spec.to_dict()} selects no train record")
    return split.with_forget(forget)


def _predicate_mask(dataset: Dataset, train: np.ndarray, spec: ForgetSpec, seed: int) -> np.ndarray:
    if isinstance(spec.predicate, str):
        name = spec.predicate
        func = PREDICATES.create(name, **(spec.options or {}))
    else:
        func = spec.predicate
        name = getattr(func, "__qualname__", repr(func))
    mask = np.asarray(func(dataset, train.copy()))
    if mask.shape != train.shape or mask.dtype != bool:
        raise InputError(
            f"forget predicate {name!r} must return a bool mask of shape {train.shape} "
            f"(one entry per train index); got {mask.dtype} of shape {mask.shape}"
        )
    return mask


# ----------------------------------------------------------------------------------
# Registered predicates
# ----------------------------------------------------------------------------------


@PREDICATES.register("red")
def red(
    *,
    target: tuple[int, int, int] = (255, 0, 0),
    threshold: float = 60.0,
    number_of_colors: int = 4,
    seed: int = 0,
    iterations: int = 30,
    tol: float = 1e-4,
    n_init: int = 1,
    progress: bool = False,
) -> Predicate:
    """Images with a lot of red: a dominant colour within CIE76 dE < threshold of the target (Bhanot 2018).

    See :mod:`mia_audit.data.colors`. ``seed`` seeds the per-image k-means (fixed by
    default, so the red set does not change with an audit's seed).
    """
    from .colors import red_mask

    options = dict(
        target=target, threshold=threshold, number_of_colors=number_of_colors, seed=seed,
        iterations=iterations, tol=tol, n_init=n_init, progress=progress,
    )

    def predicate(dataset: Dataset, indices: np.ndarray) -> np.ndarray:
        return red_mask(dataset, indices, **options)

    predicate.__qualname__ = "red"
    return predicate


@PREDICATES.register("older")
def older(*, min_age: float = 60) -> Predicate:
    """Records with ``raw["age"] >= min_age`` (tabular data with an age column, e.g. Adult)."""
    if isinstance(min_age, bool) or not isinstance(min_age, numbers.Real):
        raise bad_value("min_age", "a number", min_age)

    def predicate(dataset: Dataset, indices: np.ndarray) -> np.ndarray:
        if dataset.raw is None or "age" not in dataset.raw:
            raise InputError(
                f"the 'older' predicate needs dataset.raw['age'] (e.g. adult, cardio, credit); "
                f"dataset {dataset.name!r} has raw columns: "
                f"{', '.join(dataset.raw) if dataset.raw else '(none)'}"
            )
        return np.asarray(dataset.raw["age"][indices], dtype=np.float64) >= float(min_age)

    predicate.__qualname__ = "older"
    return predicate
