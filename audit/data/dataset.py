"""The :class:`Dataset` container, the dataset registry and :func:`load_dataset`.

A dataset is one *pool* of records; which records are members (train) and which
are not (test) is decided later by :mod:`mia_audit.data.split`, always inside one pool
with one preprocessing, so that members and non-members never differ by how they
were prepared.

Array conventions (``n`` records):

* ``X`` is ``np.float32``: tabular ``(n, d)``; images ``(n, C, H, W)`` in ``[0, 1]``;
  sequences ``(n, T, F)``.
* ``y`` is ``np.int64`` with values in ``[0, n_classes)``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..checks import positive_int, text
from ..errors import DataFileError, InputError, bad_value
from ..registry import Registry

#: Environment variable naming the folder that holds the (non-bundled) data files.
DATA_DIR_ENV = "MIA_AUDIT_DATA"

KINDS = ("tabular", "image", "sequence")
_NDIM = {"tabular": 2, "image": 4, "sequence": 3}


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """One pool of labelled records, ready for a model.

    Attributes:
        name: registry name (``"adult"``, ``"cifar10"``, ...) or a user's label.
        X: features, ``np.float32``; shape by ``kind`` (see the module docstring).
        y: labels, ``np.int64`` in ``[0, n_classes)``, shape ``(n,)``.
        n_classes: number of classes.
        kind: ``"tabular"``, ``"image"`` or ``"sequence"``.
        feature_names: one name per column of a tabular ``X`` (else ``None``).
        class_names: one name per class.
        raw: optional human-readable columns, each an array of length ``n``
            (e.g. Adult's original ``age`` and ``sex``), so that forget predicates
            can select records by real values. ``None`` for images.
        meta: source, license, citation and a ``preprocessing`` description.
        ids: optional record ids, one per record and unique (whole numbers as int64, or text),
            that reports may use to name records; never a feature. :meth:`subset` carries them.

    Build one from your own records with :meth:`from_file` (CSV, Parquet, ``.npz``),
    :meth:`from_frame` (a pandas DataFrame) or :meth:`from_arrays` (see :mod:`mia_audit.data.own`).

    Arrays given as lists or other dtypes are converted; the arrays are never
    modified in place by this package.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    kind: str
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    raw: dict[str, np.ndarray] | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        text("name", self.name, allowed="a non-empty string", nonempty=True)
        if self.kind not in KINDS:
            raise bad_value("kind", f"one of {', '.join(KINDS)}", self.kind)
        X = np.asarray(self.X)
        if X.dtype != np.float32:
            if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
                raise bad_value("X", "a real numeric array", f"dtype {X.dtype}")
            X = X.astype(np.float32)
        if X.ndim != _NDIM[self.kind]:
            raise bad_value(
                "X", f"a {_NDIM[self.kind]}-d array for kind {self.kind!r}", f"shape {X.shape}"
            )
        n = X.shape[0]
        y = np.asarray(self.y)
        if y.ndim != 1 or y.shape[0] != n:
            raise bad_value("y", f"a 1-d array of length {n} (len(X))", f"shape {y.shape}")
        if y.dtype != np.int64:
            if y.dtype.kind in "iu" or y.dtype == bool:
                y = y.astype(np.int64)
            elif y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise bad_value("y", "integer class labels", f"dtype {y.dtype}")
        positive_int("n_classes", self.n_classes, minimum=2, note=" (a classifier needs two classes)")
        if n and (y.min() < 0 or y.max() >= self.n_classes):
            raise bad_value("y", f"labels in [0, {self.n_classes})", f"labels in [{y.min()}, {y.max()}]")
        feature_names = None if self.feature_names is None else [str(f) for f in self.feature_names]
        if feature_names is not None and self.kind == "tabular" and len(feature_names) != X.shape[1]:
            raise bad_value("feature_names", f"{X.shape[1]} names (one per column of X)", f"{len(feature_names)} names")
        class_names = (
            [str(i) for i in range(int(self.n_classes))]
            if self.class_names is None
            else [str(c) for c in self.class_names]
        )
        if len(class_names) != self.n_classes:
            raise bad_value("class_names", f"{self.n_classes} names (one per class)", f"{len(class_names)} names")
        raw = None
        if self.raw is not None:
            raw = {}
            for key, col in self.raw.items():
                col = np.asarray(col)
                if col.ndim < 1 or col.shape[0] != n:
                    raise bad_value(f"raw[{key!r}]", f"an array of length {n}", f"shape {col.shape}")
                raw[str(key)] = col
        ids = None if self.ids is None else _check_ids(self.ids, n)
        set_ = object.__setattr__
        set_(self, "ids", ids)
        set_(self, "X", X)
        set_(self, "y", y)
        set_(self, "n_classes", int(self.n_classes))
        set_(self, "feature_names", feature_names)
        set_(self, "class_names", class_names)
        set_(self, "raw", raw)
        set_(self, "meta", dict(self.meta))

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, label: str | None = None, id: str | None = None,
                  categorical: list[str] | None = None, numeric: list[str] | None = None,
                  name: str | None = None) -> "Dataset":
        """Your own records from a ``.csv`` / ``.csv.gz``, ``.parquet`` or ``.npz`` file, as one pool.

        ``label`` (required for CSV and Parquet) names the label column; ``id`` an optional column
        of unique record ids (kept in :attr:`ids`, never a feature); ``categorical`` columns are
        one-hot coded and ``numeric`` ones standardised, fitted once on the whole file; with
        neither list every other column must already be numeric and is used as given. ``name``
        defaults to the file name without its ending. Rules and messages: :mod:`mia_audit.data.own`.
        """
        from .own import file_fields

        return cls(**file_fields(path, label=label, id=id, categorical=categorical, numeric=numeric, name=name))

    @classmethod
    def from_frame(cls, df: Any, label: str, *, categorical: list[str] | None = None,
                   numeric: list[str] | None = None, id: str | None = None, name: str = "frame") -> "Dataset":
        """Your own records from a pandas DataFrame (the same rules as :meth:`from_file`)."""
        from .own import frame_fields

        return cls(**frame_fields(df, label, categorical=categorical, numeric=numeric, id=id, name=name))

    @classmethod
    def from_arrays(cls, X: Any, y: Any, *, name: str = "arrays", ids: Any = None, n_classes: int | None = None,
                    kind: str | None = None) -> "Dataset":
        """Encoded arrays used as given: ``kind`` defaults by ``X.ndim`` (2 tabular, 3 sequence,
        4 image), ``n_classes`` to the largest label + 1; features must be finite."""
        from .own import array_fields

        return cls(**array_fields(X, y, name=name, ids=ids, n_classes=n_classes, kind=kind))

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n(self) -> int:
        """Number of records in the pool."""
        return len(self)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one record, ``X.shape[1:]``."""
        return tuple(int(s) for s in self.X.shape[1:])

    def sha256(self) -> str:
        """Hex SHA-256 of ``X`` and ``y`` (:func:`mia_audit.result.records_sha256`: their dtype,
        shape and bytes); names and meta excluded."""
        from ..result import records_sha256

        return records_sha256(self.X, self.y)

    def subset(self, indices: Any) -> "Dataset":
        """A new dataset holding the records at ``indices`` (in that order); arrays are copies.

        With :attr:`ids`, each record may be taken once (ids stay unique); without, repeats are allowed.
        """
        idx = check_indices(indices, len(self), "indices", allow_duplicates=self.ids is None, sort=False)
        meta = dict(self.meta)
        meta["subset"] = {"n": int(idx.size), "of": len(self)}
        return dataclasses.replace(
            self,
            X=self.X[idx],
            y=self.y[idx],
            raw=None if self.raw is None else {k: v[idx] for k, v in self.raw.items()},
            meta=meta,
            ids=None if self.ids is None else self.ids[idx],
        )

    def summary(self) -> dict[str, Any]:
        """Plain-JSON description (for reports): sizes, shape, classes, hash and meta."""
        counts = np.bincount(self.y, minlength=self.n_classes)
        return {
            "name": self.name,
            "kind": self.kind,
            "n": len(self),
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "class_counts": [int(c) for c in counts],
            "sha256": self.sha256(),
            "meta": _jsonable(self.meta),
        }


def _check_ids(ids: Any, n: int) -> np.ndarray:
    """Record ids as a new 1-d array (int64, or str for text), one per record, unique."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise bad_value("ids", f"a 1-d array of {n} record ids (one per record)", f"shape {arr.shape}")
    if arr.dtype == object and all(isinstance(v, str) for v in arr.tolist()):
        arr = arr.astype(str)
    elif arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)  # a copy
    elif arr.dtype.kind == "U":
        arr = arr.copy()
    else:
        raise bad_value("ids", "record ids as whole numbers or text", f"dtype {arr.dtype}")
    uniq, counts = np.unique(arr, return_counts=True)
    if uniq.size != arr.size:
        k = int(np.argmax(counts > 1))
        raise InputError(f"ids must be unique, one per record; {uniq[k].item()!r} appears {int(counts[k])} times "
                         f"({int((counts > 1).sum())} ids repeat)")
    return arr


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def check_indices(
    indices: Any, n: int | None, param: str, *, allow_duplicates: bool = False, sort: bool = True
) -> np.ndarray:
    """Validate an index set into a pool of ``n`` records; return a new int64 array.

    Booleans, non-integers, negative or out-of-range values (when ``n`` is known) and,
    unless ``allow_duplicates``, repeated values are refused with an :class:`InputError`.
    """
    arr = np.asarray(indices)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise bad_value(param, "a 1-d array of integer indices", f"shape {arr.shape}")
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise bad_value(param, "integer indices", f"dtype {arr.dtype}")
    arr = arr.astype(np.int64)  # always a copy
    if arr.min() < 0:
        raise bad_value(param, "non-negative indices", int(arr.min()))
    if n is not None and arr.max() >= n:
        raise bad_value(param, f"indices in [0, {n})", int(arr.max()))
    if sort:
        arr.sort()
    if not allow_duplicates:
        ordered = arr if sort else np.sort(arr)
        dup = ordered[1:][ordered[1:] == ordered[:-1]]
        if dup.size:
            raise InputError(
                f"{param} must be distinct indices; got {np.unique(dup).size} repeated (first: {int(dup[0])})"
            )
    return arr


# ----------------------------------------------------------------------------------
# Registry and loading
# ----------------------------------------------------------------------------------

#: ``data_dir`` is passed by :func:`load_dataset` to every loader (not a loader option)
DATASETS: Registry[Dataset] = Registry("dataset", supplied=("data_dir",))


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, **options: Any) -> Dataset:
    """Load the registered dataset ``name`` as one preprocessed pool.

    Args:
        name: one of ``DATASETS.names()`` (``adult``, ``cardio``, ``cifar10``,
            ``credit``, ``digits``).
        data_dir: folder holding the data files. When ``None``, the environment
            variable ``MIA_AUDIT_DATA`` is used. ``adult`` ships inside the package and
            ``digits`` with scikit-learn, so neither needs it.
        **options: loader options (e.g. ``as_="sequence"`` for digits,
            ``limit=50`` for cifar10).

    Raises:
        InputError: unknown name (the message lists valid names) or option.
        DataFileError: a data file is missing; the message names its full path.
    """
    return DATASETS.create(name, data_dir=data_dir, **options)


def resolve_data_dir(data_dir: str | os.PathLike | None, dataset: str) -> Path:
    """The folder to read ``dataset``'s files from: ``data_dir`` or ``$MIA_AUDIT_DATA``."""
    if data_dir is None:
        env = os.environ.get(DATA_DIR_ENV)
        if not env:
            raise InputError(
                f"dataset {dataset!r} needs a data directory: pass data_dir=... "
                f"(option data_dir) or set the environment variable {DATA_DIR_ENV}"
            )
        data_dir = env
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataFileError(
            f"data directory for dataset {dataset!r} does not exist or is not a folder: {path.resolve()}; "
            f"pass an existing folder as data_dir or set {DATA_DIR_ENV}"
        )
    return path


def require_file(folder: Path, filename: str, dataset: str) -> Path:
    """``folder / filename``, or a :class:`DataFileError` naming the full path and the fix."""
    path = Path(folder) / filename
    if not path.is_file():
        raise DataFileError(
            f"data file for dataset {dataset!r} not found: {path.resolve()}; "
            f"put {filename} in a folder and pass it as data_dir=... "
            f"or set the environment variable {DATA_DIR_ENV} to that folder"
        )
    return path


def standardize(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score each column over the pool (population sd); constant columns become 0.

    Returns ``(z, mean, sd)``; ``columns`` is not modified.
    """
    cols = np.asarray(columns, dtype=np.float64)
    mean = cols.mean(axis=0)
    sd = cols.std(axis=0)
    safe = np.where(sd > 0, sd, 1.0)
    return (cols - mean) / safe, mean, sd


def one_hot(values: np.ndarray, column: str) -> tuple[np.ndarray, list[str], list[str]]:
    """One-hot code ``values`` with categories sorted; returns ``(matrix, names, categories)``."""
    cats, inverse = np.unique(np.asarray(values), return_inverse=True)
    mat = np.zeros((inverse.size, cats.size), dtype=np.float64)
    mat[np.arange(inverse.size), inverse.ravel()] = 1.0
    return mat, [f"{column}={c}" for c in cats], [str(c) for c in cats]


__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "Dataset",
    "KINDS",
    "check_indices",
    "load_dataset",
    "require_file",
    "resolve_data_dir",
]

