"""Records (features and labels) from a file: ``load_records(path) -> (X, y)``.

* ``.npz``: arrays ``X`` (n, ...) and ``y`` (n,), read with ``allow_pickle=False``.
* ``.csv``: a header row; the column named ``label`` (else the last column) holds the
  labels, every other column a numeric feature.

``X`` comes back as float32, ``y`` as int64 (labels must be whole numbers >= 0). Every
problem is an :class:`~audit.errors.InputError` / :class:`~audit.errors.DataFileError`
naming the file.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from .errors import DataFileError, InputError

LABEL_COLUMN = "label"


def load_records(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Features ``X`` (n, ...) float32 and labels ``y`` (n,) int64 from a .npz or .csv file."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise InputError(f"record file {p}: the suffix must be .npz or .csv; got {suffix or '(none)'!r}")
    if not p.is_file():
        raise DataFileError(f"record file not found: {p}")
    X, y = _load_npz(p) if suffix == ".npz" else _load_csv(p)
    return _finish(p, X, y)


def _load_npz(p: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in ("X", "y") if k not in data.files]
            if missing:
                raise InputError(f"record file {p} has no array {missing[0]!r}; it holds {sorted(data.files)} "
                                 "(save with np.savez(path, X=X, y=y))")
            return np.asarray(data["X"]), np.asarray(data["y"])
    except InputError:
        raise
    except ValueError as exc:  # object arrays need pickle: refused
        raise DataFileError(f"record file {p}: {exc} (only plain numeric arrays are read)") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataFileError(f"record file {p} is not a readable .npz file: {exc}") from None


def _load_csv(p: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"record file {p} cannot be read as UTF-8 text: {exc}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"record file {p} is empty; it needs a header row naming the columns")
    header = [c.strip() for c in rows[0]]
    if len(header) < 2:
        raise InputError(f"record file {p} needs at least one feature column and a label column; got {header}")
    label_col = header.index(LABEL_COLUMN) if LABEL_COLUMN in header else len(header) - 1
    values = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    n = 0
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise InputError(f"record file {p}, line {line}: {len(row)} values, the header has {len(header)} columns")
        for j, cell in enumerate(row):
            try:
                values[n, j] = float(cell)
            except ValueError:
                raise InputError(
                    f"record file {p}, line {line}, column {header[j]!r}: {cell.strip()!r} is not a number"
                ) from None
        n += 1
    values = values[:n]
    features = [j for j in range(len(header)) if j != label_col]
    return values[:, features], values[:, label_col]


def _finish(p: Path, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if X.ndim < 2:
        raise InputError(f"record file {p}: X must have one row per record (2 or more dimensions); got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise InputError(f"record file {p}: y must have shape ({X.shape[0]},), one label per row of X; got {y.shape}")
    if X.shape[0] == 0:
        raise InputError(f"record file {p} holds no records")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) or np.issubdtype(X.dtype, np.complexfloating):
        raise InputError(f"record file {p}: X must be numeric; got dtype {X.dtype}")
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        raise InputError(f"record file {p}: y must be integer labels; got dtype {y.dtype}")
    yf = y.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(yf) | (yf != np.round(yf)) | (yf < 0))
    if bad.size:
        raise InputError(f"record file {p}: labels must be whole numbers >= 0; record {int(bad[0])} has {y[bad[0]]!r}")
    return np.ascontiguousarray(X, dtype=np.float32), yf.astype(np.int64)


__all__ = ["load_records", "LABEL_COLUMN"]
