"""Index sets of one pool: train / test, and inside train: forget / retain.

Every array of a :class:`Split` is a sorted ``np.int64`` array of distinct indices
into the pool (``0 <= i < n``). Records in neither train nor test are simply
unused (subsampling, so that small audits run fast).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

from ..checks import nonnegative_int
from ..errors import InputError, bad_value
from ..seeding import check_seed, derive_seed
from .dataset import Dataset, check_indices


def _not_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elements of sorted ``a`` that are not in sorted ``b``."""
    return a[~np.isin(a, b, assume_unique=True)]


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """Train / test / forget / retain index sets of one pool of ``n`` records.

    Invariants (checked on construction; a violation raises :class:`InputError`):
    train and test are disjoint, forget is a subset of train, retain is
    ``train \\ forget``, all indices are distinct and in ``[0, n)``.

    ``forget`` defaults to empty and ``retain`` to ``train \\ forget``. The arrays
    are copies of what was given, sorted.
    """

    train: np.ndarray
    test: np.ndarray
    n: int
    forget: np.ndarray | None = None
    retain: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = nonnegative_int("n", self.n, note=" (the pool size)")
        train = check_indices(self.train, n, "train")
        test = check_indices(self.test, n, "test")
        both = train[np.isin(train, test, assume_unique=True)]
        if both.size:
            raise InputError(
                f"train and test must be disjoint; {both.size} indices are in both (first: {int(both[0])})"
            )
        forget = check_indices([] if self.forget is None else self.forget, n, "forget")
        outside = _not_in(forget, train)
        if outside.size:
            raise InputError(
                f"forget must be a subset of train; {outside.size} indices of forget are not in train "
                f"(first: {int(outside[0])})"
            )
        expected = _not_in(train, forget)
        if self.retain is None:
            retain = expected
        else:
            retain = check_indices(self.retain, n, "retain")
            if not np.array_equal(retain, expected):
                raise InputError(
                    f"retain must be train minus forget ({expected.size} indices); "
                    f"got {retain.size} indices, {_not_in(retain, expected).size} of them outside "
                    f"train minus forget"
                )
        set_ = object.__setattr__
        set_(self, "n", n)
        set_(self, "train", train)
        set_(self, "test", test)
        set_(self, "forget", forget)
        set_(self, "retain", retain)

    def with_forget(self, indices: Any) -> "Split":
        """A new split with the same train / test and ``indices`` as the forget set."""
        return Split(train=self.train, test=self.test, n=self.n, forget=indices)

    @property
    def unused(self) -> np.ndarray:
        """Indices of the pool in neither train nor test."""
        used = np.union1d(self.train, self.test)
        return _not_in(np.arange(self.n, dtype=np.int64), used)

    def to_dict(self) -> dict[str, int]:
        """Sizes: ``{"n", "train", "test", "forget", "retain", "unused"}``."""
        return {
            "n": self.n,
            "train": int(self.train.size),
            "test": int(self.test.size),
            "forget": int(self.forget.size),
            "retain": int(self.retain.size),
            "unused": int(self.n - self.train.size - self.test.size),
        }

    def indices(self) -> dict[str, list[int]]:
        """The four index sets as plain lists (for JSON)."""
        return {k: getattr(self, k).tolist() for k in ("train", "test", "forget", "retain")}


def _size(value: Any, n: int, param: str) -> int | None:
    """A fraction in (0, 1) or a count in [1, n] → a count; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise bad_value(param, "a fraction in (0, 1) or an integer count", value)
    if isinstance(value, numbers.Integral):
        if not 1 <= value <= n:
            raise bad_value(param, f"a count in [1, {n}] or a fraction in (0, 1)", value)
        return int(value)
    if isinstance(value, numbers.Real):
        if not 0.0 < float(value) < 1.0:
            raise bad_value(param, f"a fraction in (0, 1) or a count in [1, {n}]", value)
        count = int(round(float(value) * n))
        if count < 1:
            raise InputError(f"{param}={value} of {n} records gives an empty set")
        return count
    raise bad_value(param, "a fraction in (0, 1) or an integer count", value)


def make_split(
    n_or_dataset: int | Dataset,
    *,
    test_size: float | int = 0.5,
    train_size: float | int | None = None,
    stratify: Any = None,
    seed: int,
) -> Split:
    """Draw disjoint train and test sets from a pool; forget is empty.

    Args:
        n_or_dataset: the pool size, or a :class:`Dataset` (its length is used).
        test_size: fraction of the pool in (0, 1), or a count.
        train_size: fraction or count; ``None`` gives the rest of the pool.
            ``train_size + test_size`` may be smaller than the pool (the rest is unused).
        stratify: class labels of the pool (length ``n``) to keep class proportions
            in train and test, ``True`` to use the dataset's ``y``, or ``None``.
        seed: the seed; the same seed gives the same split.

    Returns:
        A :class:`Split` with sorted index arrays and an empty forget set.
    """
    seed = check_seed(seed)
    if isinstance(n_or_dataset, Dataset):
        n = len(n_or_dataset)
        labels_default = n_or_dataset.y
    elif isinstance(n_or_dataset, numbers.Integral) and not isinstance(n_or_dataset, bool):
        n = int(n_or_dataset)
        labels_default = None
    else:
        raise bad_value("n_or_dataset", "a pool size (int) or a Dataset", type(n_or_dataset).__name__)
    if n < 2:
        raise bad_value("n_or_dataset", "a pool of at least 2 records", n)
    n_test = _size(test_size, n, "test_size")
    if n_test is None:
        raise bad_value("test_size", "a fraction in (0, 1) or a count", None)
    n_train = _size(train_size, n, "train_size")
    if n_train is None:
        n_train = n - n_test
        if n_train < 1:
            raise InputError(f"test_size={test_size} leaves no record of the {n} for train")
    if n_train + n_test > n:
        raise InputError(
            f"train_size + test_size must be at most the pool size {n}; got {n_train} + {n_test} = {n_train + n_test}"
        )

    if stratify is True:
        if labels_default is None:
            raise bad_value("stratify", "class labels (stratify=True needs a Dataset)", stratify)
        labels = labels_default
    elif stratify is None or stratify is False:
        labels = None
    else:
        labels = np.asarray(stratify)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise bad_value("stratify", f"one label per record (length {n})", f"shape {labels.shape}")

    from sklearn.model_selection import train_test_split

    state = np.random.RandomState(derive_seed(seed, "make_split") % 2**32)
    pool = np.arange(n, dtype=np.int64)
    try:
        if n_train + n_test < n:
            pool, _ = train_test_split(
                pool, train_size=n_train + n_test, stratify=labels, random_state=state
            )
            sub_labels = None if labels is None else labels[pool]
        else:
            sub_labels = labels
        train, test = train_test_split(
            pool, train_size=n_train, test_size=n_test, stratify=sub_labels, random_state=state
        )
    except ValueError as exc:  # e.g. a class with a single member under stratify
        raise InputError(f"cannot split {n} records with stratify: {exc}") from exc
    return Split(train=train, test=test, n=n)
