"""Records (features and labels) from a file: ``load_records(path, label="label") -> (X, y)``.

* ``.npz``: arrays ``X`` (n, ...) and ``y`` (n,), read with ``allow_pickle=False``. Their
  headers are read first: an array whose header claims more data than the file holds
  (a damaged or forged header, say 10**12 rows) is refused before anything is allocated.
* ``.csv``: a header row; the column named by ``label`` (default ``"label"``) holds the
  labels, every other column a numeric feature. A file without that column is refused
  with the list of its columns (no column is taken for the labels by guess).

``X`` comes back as float32, ``y`` as int64 (labels must be whole numbers >= 0). Every
feature must be finite and within float32's range (|x| <= 3.4e38): NaN, inf and values
that would overflow to inf are refused at load time, naming the row and the column. Every
problem is an :class:`~mia_audit.errors.InputError` / :class:`~mia_audit.errors.DataFileError`
naming the file.
"""

from __future__ import annotations

import csv
import math
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from .errors import DataFileError, InputError, bad_value

LABEL_COLUMN = "label"
FLOAT32_MAX = float(np.finfo(np.float32).max)


def load_records(path: str | Path, *, label: str = LABEL_COLUMN) -> tuple[np.ndarray, np.ndarray]:
    """Features ``X`` (n, ...) float32 and labels ``y`` (n,) int64 from a .npz or .csv file.

    ``label``: the name of a CSV file's label column (a .npz file's labels are its array ``y``).
    """
    if not isinstance(label, str) or not label.strip():
        raise bad_value("label", "the name of the label column (a non-empty text)", label)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise InputError(f"record file {p}: the suffix must be .npz or .csv; got {suffix or '(none)'!r}")
    if not p.is_file():
        raise DataFileError(f"record file not found: {p}")
    X, y = _load_npz(p) if suffix == ".npz" else _load_csv(p, label.strip())
    return _finish(p, X, y)


def _npz_headers(p: Path) -> None:
    """Read the headers of ``X.npy`` and ``y.npy`` in the archive and refuse, before any array
    is allocated, one that needs pickle or claims more data than the archive member holds."""
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0,
               (3, 0): npy.read_array_header_2_0}  # 3.0 differs only in allowing utf-8 names
    with zipfile.ZipFile(p) as archive:
        names = set(archive.namelist())
        for key in ("X", "y"):
            member = f"{key}.npy"
            if member not in names:
                continue  # reported with the file's arrays by _load_npz
            size = archive.getinfo(member).file_size
            with archive.open(member) as fh:
                try:
                    version = npy.read_magic(fh)
                    shape, _, dtype = readers[version](fh)
                except (ValueError, SyntaxError, tokenize.TokenError, EOFError, OSError, KeyError) as exc:
                    # what numpy's header parser raises on a damaged header
                    raise DataFileError(f"record file {p}: the header of array {key!r} is damaged "
                                        f"({' '.join(str(exc).split())[:120] or type(exc).__name__})") from None
                start = fh.tell()
            if dtype.hasobject:
                raise DataFileError(f"record file {p}: array {key!r} holds Python objects ({dtype}), which need "
                                    "pickle; only plain numeric arrays are read")
            claimed = math.prod(shape) * dtype.itemsize
            if claimed > size - start:
                raise DataFileError(f"record file {p}: the header of array {key!r} claims shape {shape} of {dtype} "
                                    f"({claimed:,} bytes) but the file holds {max(size - start, 0):,} bytes of it; "
                                    "the file is damaged")


def _load_npz(p: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        _npz_headers(p)
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
    except MemoryError:
        raise DataFileError(f"record file {p}: its arrays are larger than this machine can hold in memory") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataFileError(f"record file {p} is not a readable .npz file: {exc}") from None


def _load_csv(p: Path, label: str) -> tuple[np.ndarray, np.ndarray]:
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
    if label not in header:
        raise InputError(f"record file {p} has no label column {label!r}; its columns are {header} "
                         '(name the label column with label = "...")')
    if header.count(label) > 1:
        raise InputError(f"record file {p} has {header.count(label)} columns named {label!r}; the label column "
                         "must be one column")
    label_col = header.index(label)
    values = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    n = 0
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise InputError(f"record file {p}, line {line}: {len(row)} values, the header has {len(header)} columns")
        for j, cell in enumerate(row):
            try:
                value = float(cell)
            except ValueError:
                raise InputError(
                    f"record file {p}, line {line}, column {header[j]!r}: {cell.strip()!r} is not a number"
                ) from None
            if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
                raise InputError(
                    f"record file {p}, line {line} (record {n}), column {header[j]!r}: {cell.strip()!r} is "
                    f"{'not finite' if not math.isfinite(value) else 'beyond float32 range'}; values must be finite "
                    f"numbers with |x| <= {FLOAT32_MAX:.4g}"
                )
            values[n, j] = value
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
    _check_finite(p, X)
    yf = y.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(yf) | (yf != np.round(yf)) | (yf < 0))
    if bad.size:
        raise InputError(f"record file {p}: labels must be whole numbers >= 0; record {int(bad[0])} has {y[bad[0]]!r}")
    return np.ascontiguousarray(X, dtype=np.float32), yf.astype(np.int64)


def _check_finite(p: Path, X: np.ndarray) -> None:
    """Refuse NaN, inf and values beyond float32's range, naming the first one's row and column."""
    if not np.issubdtype(X.dtype, np.floating):
        return  # integers and booleans are finite, and every int64 fits float32's range
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~np.isfinite(X) | (np.abs(X) > FLOAT32_MAX)
    if not bad.any():
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    value = X[where]
    column = where[1] if len(where) == 2 else where[1:]
    problem = repr(float(value)) if not np.isfinite(value) else f"{float(value):.6g}, beyond float32 range"
    raise InputError(f"record file {p}: X[{', '.join(map(str, where))}] (row {where[0]}, column {column}) is "
                     f"{problem}; features must be finite numbers with |x| <= {FLOAT32_MAX:.4g} "
                     f"({int(bad.sum())} such values)")


__all__ = ["load_records", "LABEL_COLUMN"]
