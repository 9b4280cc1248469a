"""The user's own records as one pool: a CSV, Parquet or ``.npz`` file, a pandas DataFrame or
numpy arrays, read, checked and preprocessed once for the whole pool.

Entry points (they return the keyword arguments of a :class:`~mia_audit.data.Dataset`; the
classmethods ``Dataset.from_file``, ``Dataset.from_frame`` and ``Dataset.from_arrays`` and
:func:`mia_audit.data.load_configured_dataset` build the Dataset from them, so that this module
never imports ``dataset.py``):

* :func:`file_fields` — ``.csv`` (also ``.csv.gz``), ``.parquet`` (needs pyarrow, the extra
  ``mia-audit[data]``) or ``.npz`` (arrays ``X`` and ``y``, optionally an id array);
* :func:`frame_fields` — a pandas DataFrame (pandas is imported only to read its columns);
* :func:`array_fields` — ``X`` and ``y`` already encoded;
* :func:`check_file_options` — the checks that need no file (used by the configuration).

Tables (CSV, Parquet, DataFrame)
--------------------------------
* ``label`` names the label column (required). Labels may be text or whole numbers; the
  distinct labels, sorted (numbers by value, text by code point), become ``0 .. C-1`` and
  their names ``class_names``.
* ``id`` (optional) names a column of record ids: one per record, unique; they are kept in
  ``Dataset.ids`` and never become a feature.
* ``categorical`` / ``numeric``: lists of columns. A categorical column is one-hot coded
  (scikit-learn ``OneHotEncoder(handle_unknown="ignore")``, categories of the whole pool,
  sorted, a column named ``"column=category"``); a numeric one is standardised (scikit-learn
  ``StandardScaler``: the pool's mean and population sd; a constant column becomes 0). Both
  are fitted once on the whole pool (every record of the file) in one ``ColumnTransformer``,
  so members and non-members are prepared identically. When either list is given, every
  column other than the label and id must be in exactly one of them (an unlisted column is an
  error, never dropped silently). When neither is given the data are *already encoded*: every
  other column must be numeric and is used **as given** (not rescaled).
* Feature order: standardised columns, then the one-hot blocks, each in the file's column
  order (not the lists' order, so two configurations that list columns differently give the
  same ``X``); already encoded: the file's order.
* Missing values are refused, not imputed: an empty cell, ``NA``, ``N/A``, ``NaN``, ``nan``,
  ``null`` or ``NULL`` in a CSV file, a null or NaN in Parquet or a DataFrame. The message
  names every column that has some, with the count and the first place.
* A CSV file's cells are text; the column's role decides how it is read: a numeric column as
  floats; a categorical, label or id column as integers when every cell is one written
  plainly (``7``, ``-3``; not ``007`` or ``7.0``), else as text. Cells are stripped of
  surrounding spaces. The delimiter is the one of ``,`` ``;`` tab ``|`` that occurs most in
  the header line (``,`` when none does). Parquet and DataFrame columns keep their types
  (numbers, booleans or text; booleans are 0/1 as numeric features).
* ``raw`` keeps each feature column's original values (numbers or text), so that forget
  predicates can select records by real values.

``meta``: ``source`` (``"<file name> (sha256 <hex of the file's bytes>)"``), ``file_sha256``,
``files``, ``license``, ``preprocessing`` (one line of text, see :func:`describe`),
``columns`` (which column had which role, one-hot categories) and ``standardization``
(mean and sd of each standardised column).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import zlib
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..checks import text, text_list
from ..errors import DataFileError, InputError, bad_value
from ..record_files import load_records

#: file name endings read by :func:`file_fields`, and the format each one is
SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".npz": "npz"}
#: cells of a CSV file that mean "missing" (after stripping spaces)
NA_CELLS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")
#: the data set kind of records with this many dimensions (records, then the record's axes)
KIND_BY_NDIM = {2: "tabular", 3: "sequence", 4: "image"}
PARQUET_INSTALL = "pip install 'mia-audit[data]' (or pip install 'pyarrow>=14')"
OWN_LICENSE = "the user's own data (not distributed with mia-audit)"

_DELIMITERS = (",", ";", "\t", "|")
_PLAIN_INT = re.compile(r"^[+-]?(?:0|[1-9][0-9]*)$")
_INT64_MAX = np.iinfo(np.int64).max


# ----------------------------------------------------------------------------------
# Checks that need no file
# ----------------------------------------------------------------------------------


def file_format(path: Any, *, prefix: str = "") -> str:
    """``"csv"``, ``"parquet"`` or ``"npz"`` from the file name's ending, else an InputError."""
    text(f"{prefix}path", os.fspath(path) if isinstance(path, os.PathLike) else path, allowed="a file path (text)",
         nonempty=True)
    name = Path(path).name.lower()
    for suffix, fmt in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"{prefix}path: {Path(path).name!r} is not a records file mia-audit reads; the name must end "
                     f"in {', '.join(SUFFIXES)}")


def check_file_options(path: Any, *, label: Optional[str] = None, id: Optional[str] = None,
                       categorical: Optional[Sequence[str]] = None, numeric: Optional[Sequence[str]] = None,
                       prefix: str = "") -> str:
    """Check what can be checked without reading the file; return its format.

    Types of the options, the label a table needs, the options a ``.npz`` file refuses, and
    columns named twice or given two roles. ``prefix`` is put before each option's name in the
    messages (``"data."`` for a configuration).
    """
    fmt = file_format(path, prefix=prefix)
    label, id, categorical, numeric = _check_option_types(label, id, categorical, numeric, prefix)
    file = Path(path).name
    if fmt == "npz":
        for key, value in (("label", label), ("categorical", categorical), ("numeric", numeric)):
            if value is not None:
                raise InputError(f"{prefix}{key}: {file} is a .npz file of encoded arrays (its labels are the "
                                 f"array 'y'); {prefix}{key} is for CSV and Parquet files: remove it")
    else:
        if label is None:
            raise InputError(f"{prefix}label: name the label column of {file} ({prefix}label = \"...\"); "
                             "it is required for CSV and Parquet files")
        _check_roles(label, id, categorical, numeric, prefix)
    return fmt


def _check_option_types(label: Any, id: Any, categorical: Any, numeric: Any, prefix: str):
    label = text(f"{prefix}label", label, allowed="the name of the label column (text)", nonempty=True,
                 allow_none=True)
    id = text(f"{prefix}id", id, allowed="the name of the record-id column (text)", nonempty=True, allow_none=True)
    categorical = text_list(f"{prefix}categorical", categorical, allowed="a list of column names",
                            allow_none=True)
    numeric = text_list(f"{prefix}numeric", numeric, allowed="a list of column names", allow_none=True)
    return label, id, categorical, numeric


def _check_roles(label: str, id: Optional[str], categorical: Optional[list[str]],
                 numeric: Optional[list[str]], prefix: str) -> None:
    if id is not None and id == label:
        raise InputError(f"{prefix}id: column {id!r} is also the label column ({prefix}label); "
                         "the ids must be a column of their own")
    for key, names in (("categorical", categorical), ("numeric", numeric)):
        if names is None:
            continue
        seen: set[str] = set()
        for c in names:
            if c in seen:
                raise InputError(f"{prefix}{key}: column {c!r} is listed twice")
            seen.add(c)
            if c == label:
                raise InputError(f"{prefix}{key}: column {c!r} is the label column ({prefix}label); "
                                 "the label is never a feature")
            if c == id:
                raise InputError(f"{prefix}{key}: column {c!r} is the id column ({prefix}id); "
                                 "record ids are never a feature")
    if categorical is not None and numeric is not None:
        both = [c for c in categorical if c in set(numeric)]
        if both:
            raise InputError(f"{prefix}categorical: column {both[0]!r} is also in {prefix}numeric; a column is "
                             "either categorical (one-hot) or numeric (standardised), not both")


# ----------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------


def file_fields(path: Any, *, label: Optional[str] = None, id: Optional[str] = None,
                categorical: Optional[Sequence[str]] = None, numeric: Optional[Sequence[str]] = None,
                name: Optional[str] = None, prefix: str = "") -> dict[str, Any]:
    """Read, check and preprocess one records file; return the keyword arguments of a Dataset.

    Args:
        path: a ``.csv`` / ``.csv.gz``, ``.parquet`` or ``.npz`` file.
        label: the label column (CSV and Parquet; refused for ``.npz``, whose labels are ``y``).
        id: optional record-id column (for ``.npz``: the name of an array of ids).
        categorical, numeric: column lists (see the module docstring); refused for ``.npz``.
        name: the Dataset's name; default: the file name without its ending.
        prefix: put before option names in messages (``"data."`` for a configuration).

    Raises:
        DataFileError: the file is missing or unreadable.
        InputError: anything else the file or the options get wrong; the message names the
            option (``<prefix>label``, ``<prefix>id``, ...), the file and the column.
    """
    fmt = check_file_options(path, label=label, id=id, categorical=categorical, numeric=numeric, prefix=prefix)
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataFileError(f"{prefix}path: records file not found: {p.resolve()}")
    shown = name if name is not None else _stem(p)
    text(f"{prefix}name", shown, allowed="a non-empty name (text)", nonempty=True)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{prefix}path: cannot read {p}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip():
        raise InputError(f"{prefix}path: {p.name} is empty; it needs "
                         + ("arrays X and y" if fmt == "npz" else "a header row naming the columns and one row "
                            "per record"))
    file_meta = {"source": f"{p.name} (sha256 {digest})", "file_sha256": digest, "files": [str(p.resolve())],
                 "license": OWN_LICENSE}
    if fmt == "npz":
        return _npz_fields(p, id=id, name=shown, meta=file_meta, prefix=prefix)
    table = _read_csv(p, data, prefix) if fmt == "csv" else _read_parquet(p, data, prefix)
    return _encode(table, label=label, id=id, categorical=categorical, numeric=numeric, name=shown,
                   meta=file_meta, prefix=prefix)


def frame_fields(df: Any, label: str, *, categorical: Optional[Sequence[str]] = None,
                 numeric: Optional[Sequence[str]] = None, id: Optional[str] = None, name: str = "frame",
                 prefix: str = "") -> dict[str, Any]:
    """The keyword arguments of a Dataset from a pandas DataFrame (same rules as a file)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - a DataFrame cannot exist without pandas
        raise InputError("Dataset.from_frame needs pandas (pip install pandas)") from None
    if not isinstance(df, pd.DataFrame):
        raise bad_value("df", "a pandas DataFrame", type(df).__name__)
    label, id, categorical, numeric = _check_option_types(label, id, categorical, numeric, prefix)
    if label is None:
        raise InputError(f"{prefix}label: name the label column of the DataFrame (label=\"...\")")
    _check_roles(label, id, categorical, numeric, prefix)
    text(f"{prefix}name", name, allowed="a non-empty name (text)", nonempty=True)
    table = _read_frame(df, pd)
    meta = {"source": f"a pandas DataFrame given in Python ({len(df)} rows, {df.shape[1]} columns)",
            "license": OWN_LICENSE}
    return _encode(table, label=label, id=id, categorical=categorical, numeric=numeric, name=name, meta=meta,
                   prefix=prefix)


def array_fields(X: Any, y: Any, *, name: str = "arrays", ids: Any = None, n_classes: Optional[int] = None,
                 kind: Optional[str] = None) -> dict[str, Any]:
    """The keyword arguments of a Dataset from encoded arrays (used as given).

    ``kind`` defaults by ``X.ndim``: 2 tabular, 3 sequence, 4 image. ``n_classes`` defaults to the
    largest label + 1. Features must be finite; labels whole numbers >= 0.
    """
    text("name", name, allowed="a non-empty name (text)", nonempty=True)
    X = np.asarray(X)
    y = np.asarray(y)
    if kind is None:
        if X.ndim not in KIND_BY_NDIM:
            raise bad_value("X", "a 2-d (tabular), 3-d (sequence) or 4-d (image) array, one row per record "
                            "(or give kind=...)", f"shape {X.shape}")
        kind = KIND_BY_NDIM[X.ndim]
    if X.ndim == 0 or X.shape[0] == 0:
        raise bad_value("X", "at least one record", f"shape {X.shape}")
    if np.issubdtype(X.dtype, np.floating):
        bad = ~np.isfinite(X)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"X must hold finite numbers; X[{', '.join(map(str, where))}] is {X[where].item()!r} "
                             f"({int(bad.sum())} values are NaN or infinite)")
    if n_classes is None:
        if y.ndim != 1 or y.size == 0 or not (y.dtype.kind in "iub" or (
                y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)))):
            raise bad_value("y", "a 1-d array of integer class labels (or give n_classes=...)",
                            f"shape {y.shape}, dtype {y.dtype}")
        n_classes = max(int(y.max()) + 1, 2)
    meta = {"source": "arrays given in Python", "license": OWN_LICENSE,
            "preprocessing": f"none: X {tuple(X.shape)} and y used as given (labels 0..{int(n_classes) - 1})"}
    return dict(name=name, X=X, y=y, n_classes=n_classes, kind=kind, ids=ids, meta=meta)


# ----------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------


class _Table:
    """Columns read from a file or a DataFrame, before any role is given to them.

    ``key``: what messages about the table as a whole name (``data.path`` or ``df``); ``where``:
    the file name or "the DataFrame". ``columns[name]``: for CSV the stripped cells (a numpy str
    array, ``text_cells``); else the values (numbers, booleans or an object array of str).
    ``missing[name]``: where a value is missing. ``place(i)`` says where record ``i`` is
    ("line 7" or "row 6").
    """

    def __init__(self, key: str, where: str, names: list[str], columns: dict[str, np.ndarray],
                 missing: dict[str, np.ndarray], n: int, *, text_cells: bool,
                 lines: Optional[np.ndarray] = None) -> None:
        self.key, self.where, self.names, self.columns, self.missing, self.n = key, where, names, columns, missing, n
        self.text_cells, self.lines = text_cells, lines

    def place(self, i: int) -> str:
        return f"line {int(self.lines[i])}" if self.lines is not None else f"row {int(i)}"


def _stem(p: Path) -> str:
    name = p.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return p.stem


def _read_csv(p: Path, data: bytes, prefix: str) -> _Table:
    if p.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFileError(f"{prefix}path: {p.name} is not a readable gzip file: {exc}") from None
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{prefix}path: {p.name} is not UTF-8 text: {exc}") from None
    if not body.strip():
        raise InputError(f"{prefix}path: {p.name} is empty; it needs a header row naming the columns and one "
                         "row per record")
    first = body.lstrip("\r\n").split("\n", 1)[0]
    counts = [first.count(d) for d in _DELIMITERS]
    delimiter = _DELIMITERS[int(np.argmax(counts))] if max(counts) else ","
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    header: Optional[list[str]] = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue  # blank line
            if header is None:
                header = [c.strip() for c in row]
                continue
            if len(row) != len(header):
                raise InputError(f"{prefix}path: {p.name}, line {reader.line_num}: {len(row)} fields, the header "
                                 f"has {len(header)} columns (delimiter {delimiter!r})")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataFileError(f"{prefix}path: {p.name}, line {reader.line_num}: not valid CSV: {exc}") from None
    if header is None:
        raise InputError(f"{prefix}path: {p.name} is empty; it needs a header row naming the columns and one "
                         "row per record")
    _unique_names(header, p.name, f"{prefix}path")
    columns: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for j, c in enumerate(header):
        cells = np.char.strip(np.array([r[j] for r in rows], dtype=str)) if rows else np.zeros(0, dtype=str)
        columns[c] = cells
        missing[c] = np.isin(cells, NA_CELLS)
    del rows
    return _Table(f"{prefix}path", p.name, header, columns, missing, len(lines), text_cells=True,
                  lines=np.asarray(lines, dtype=np.int64))


def _unique_names(names: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for c in names:
        if not c:
            raise InputError(f"{key}: {where} has a column without a name; every column needs one")
        if c in seen:
            raise InputError(f"{key}: {where} has two columns named {c!r}; column names must be unique")
        seen.add(c)


def _read_parquet(p: Path, data: bytes, prefix: str) -> _Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
        import pyarrow.types as pat
    except ImportError:
        raise InputError(f"{prefix}path: reading {p.name} (Parquet) needs pyarrow; install it with "
                         f"{PARQUET_INSTALL}") from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataFileError(f"{prefix}path: {p.name} is not a readable Parquet file: "
                            f"{' '.join(str(exc).split())[:200]}") from None
    names = [str(c) for c in table.column_names]
    _unique_names(names, p.name, f"{prefix}path")
    columns: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for c, col in zip(names, table.columns):
        kind = col.type
        if pat.is_dictionary(kind):
            col = col.cast(kind.value_type)
            kind = col.type
        if not (pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind) or pat.is_string(kind)
                or pat.is_large_string(kind) or getattr(pat, "is_string_view", lambda t: False)(kind)):
            raise InputError(f"{prefix}path: column {c!r} of {p.name} has type {kind}; mia-audit reads numbers, "
                             "booleans and text (convert it, e.g. dates to numbers, or leave it out of the file)")
        miss = np.asarray(col.is_null(nan_is_null=True).to_numpy(zero_copy_only=False), dtype=bool)
        missing[c] = miss
        if miss.any():
            values = np.zeros(len(miss), dtype=np.float64)  # refused before the values are read
        elif pat.is_integer(kind):
            values = col.to_numpy().astype(np.int64 if kind.bit_width < 64 or pat.is_signed_integer(kind)
                                           else np.float64)
        elif pat.is_floating(kind):
            values = col.to_numpy().astype(np.float64)
        elif pat.is_boolean(kind):
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=bool)
        else:
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        columns[c] = values
    return _Table(f"{prefix}path", p.name, names, columns, missing, table.num_rows, text_cells=False)


def _read_frame(df: Any, pd: Any) -> _Table:
    names = [str(c) for c in df.columns]
    _unique_names(names, "the DataFrame", "df")
    api = pd.api.types
    columns: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    for j, c in enumerate(names):
        s = df.iloc[:, j]
        miss = np.asarray(s.isna().to_numpy(), dtype=bool)
        missing[c] = miss
        dtype = s.dtype
        if miss.any():
            values = np.zeros(len(s), dtype=np.float64)  # refused before the values are read
        elif isinstance(dtype, pd.CategoricalDtype):
            values = _typed_objects(c, s.astype(object).to_numpy(), "the DataFrame")
        elif api.is_bool_dtype(dtype):
            values = s.to_numpy(dtype=bool)
        elif api.is_integer_dtype(dtype):
            values = s.to_numpy(dtype=np.float64 if str(dtype).lower() == "uint64" else np.int64)
        elif api.is_float_dtype(dtype):
            values = s.to_numpy(dtype=np.float64)
        elif api.is_object_dtype(dtype) or api.is_string_dtype(dtype):
            values = _typed_objects(c, s.to_numpy(dtype=object), "the DataFrame")
        else:
            raise InputError(f"column {c!r} of the DataFrame has dtype {dtype}; mia-audit reads numbers, booleans "
                             "and text (convert it, e.g. dates to numbers, or drop the column)")
        columns[c] = values
    return _Table("df", "the DataFrame", names, columns, missing, len(df), text_cells=False)


def _typed_objects(column: str, values: np.ndarray, where: str) -> np.ndarray:
    """An object array of Python values as str (object), bool, int64 or float64 values."""
    kinds = set()
    for v in values:
        if isinstance(v, (str, np.str_)):
            kinds.add("text")
        elif isinstance(v, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(v, (int, np.integer)):
            kinds.add("int")
        elif isinstance(v, (float, np.floating)):
            kinds.add("float")
        else:
            raise InputError(f"column {column!r} of {where} holds a {type(v).__name__} ({v!r}); mia-audit reads "
                             "numbers, booleans and text")
    if kinds <= {"text"}:
        return np.asarray([str(v) for v in values], dtype=object)
    if kinds == {"bool"}:
        return values.astype(bool)
    if kinds == {"int"}:
        return values.astype(np.int64)
    if kinds <= {"int", "float"}:
        return values.astype(np.float64)
    raise InputError(f"column {column!r} of {where} mixes {' and '.join(sorted(kinds))} values; a column holds "
                     "one kind (convert it)")


def _npz_fields(p: Path, *, id: Optional[str], name: str, meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    try:
        X, y = load_records(p)
    except InputError as exc:
        raise type(exc)(f"{prefix}path: {exc}") from None
    ids = None
    if id is not None:
        with np.load(p, allow_pickle=False) as archive:
            if id not in archive.files:
                raise InputError(f"{prefix}id: {p.name} has no array {id!r}; it holds "
                                 f"{', '.join(sorted(archive.files))}")
            try:
                ids = np.asarray(archive[id])
            except ValueError as exc:
                raise DataFileError(f"{prefix}id: array {id!r} of {p.name} cannot be read without pickle: {exc}") \
                    from None
        if ids.ndim != 1 or ids.shape[0] != X.shape[0]:
            raise InputError(f"{prefix}id: array {id!r} of {p.name} must hold one id per record, shape "
                             f"({X.shape[0]},); got shape {ids.shape}")
        ids = _id_values(ids, id, prefix, lambda i: f"record {i}")
    if X.ndim not in KIND_BY_NDIM:
        raise InputError(f"{prefix}path: X of {p.name} has shape {X.shape}; records must be 2-d (tabular), 3-d "
                         "(sequence) or 4-d (image) arrays")
    labels = np.unique(y)
    if labels.size < 2:
        raise InputError(f"{prefix}path: the labels y of {p.name} hold one class ({int(labels[0])}); a classifier "
                         "needs two")
    n_classes = int(y.max()) + 1
    meta = dict(meta)
    meta["preprocessing"] = (f"none: arrays X {tuple(X.shape)} (as float32) and y read as stored in {p.name} "
                             f"(labels as stored, 0..{n_classes - 1})" + (f"; id array {id!r}" if id else ""))
    return dict(name=name, X=X, y=y, n_classes=n_classes, kind=KIND_BY_NDIM[X.ndim], ids=ids, meta=meta)


# ----------------------------------------------------------------------------------
# Roles, checks and encoding
# ----------------------------------------------------------------------------------


def _encode(table: _Table, *, label: str, id: Optional[str], categorical: Optional[list[str]],
            numeric: Optional[list[str]], name: str, meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    names, where = table.names, table.where
    columns_text = ", ".join(names)

    def need(key: str, column: str) -> None:
        if column not in names:
            raise InputError(f"{prefix}{key}: column {column!r} is not in {where}; columns are {columns_text}")

    need("label", label)
    if id is not None:
        need("id", id)
    for key, listed in (("categorical", categorical), ("numeric", numeric)):
        for c in listed or []:
            need(key, c)
    others = [c for c in names if c != label and c != id]
    if categorical is None and numeric is None:
        as_given, cat, num = others, [], []
    else:
        cat_set, num_set = set(categorical or []), set(numeric or [])
        unlisted = [c for c in others if c not in cat_set and c not in num_set]
        if unlisted:
            raise InputError(f"{prefix}categorical / {prefix}numeric: column{'s' if len(unlisted) > 1 else ''} "
                             f"{', '.join(map(repr, unlisted))} of {where} "
                             f"{'are' if len(unlisted) > 1 else 'is'} in neither list; list every column other "
                             f"than the label and id in one of them (or leave the column out of the file)")
        as_given = []
        cat = [c for c in others if c in cat_set]  # the file's order
        num = [c for c in others if c in num_set]
    if not others:
        raise InputError(f"{prefix}label: {where} has no feature column besides the label"
                         + (" and the id" if id is not None else "") + f"; columns are {columns_text}")
    if table.n == 0:
        raise InputError(f"{table.key}: {where} holds no records (a header and no rows)")

    with_missing = []
    for c in [label] + ([id] if id is not None else []) + others:
        miss = table.missing[c]
        if miss.any():
            with_missing.append(f"{c!r} ({int(miss.sum())}, first at {table.place(int(np.argmax(miss)))})")
    if with_missing:
        cells = f"cells {', '.join(repr(v) for v in NA_CELLS)}" if table.text_cells else "nulls or NaN"
        raise InputError(f"{table.key}: {where} has missing values ({cells}) in column"
                         f"{'s' if len(with_missing) > 1 else ''} {', '.join(with_missing)}; mia-audit does not "
                         "impute: fill or drop those records, or leave the column out")

    y, class_names = _labels(table, label, prefix)
    ids = None
    if id is not None:
        ids = _id_values(_categories(table, id), id, prefix, table.place)
    raw: dict[str, np.ndarray] = {}
    num_values = {}
    for c in num + as_given:
        num_values[c] = _numbers(table, c, prefix, listed=bool(num) or bool(cat))
        raw[c] = num_values[c]
    cat_values = {}
    for c in cat:
        cat_values[c] = _categories(table, c)
        raw[c] = cat_values[c]
    raw = {c: raw[c] for c in others}  # the file's order

    standardization: dict[str, dict[str, float]] = {}
    one_hot: dict[str, list[str]] = {}
    if as_given:
        X = np.stack([num_values[c] for c in as_given], axis=1)
        feature_names = list(as_given)
    else:
        X, feature_names, standardization, one_hot = _fit_transform(num, num_values, cat, cat_values)
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = X.astype(np.float32)
    bad = ~np.isfinite(X32)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise InputError(f"{table.key}: feature {feature_names[j]!r} of {where} is not finite in float32 at "
                         f"{table.place(i)} ({int(bad.sum())} such values): values too large for float32 "
                         "(|x| > 3.4e38) or for standardising")

    meta = dict(meta)
    meta["preprocessing"] = describe(where=where, n=table.n, n_columns=len(names), label=label,
                                     class_names=class_names, id=id, standardised=num, one_hot=one_hot,
                                     as_given=as_given)
    meta["columns"] = {"label": label, "id": id, "standardised": list(num),
                       "one_hot": {c: list(v) for c, v in one_hot.items()}, "as_given": list(as_given)}
    if standardization:
        meta["standardization"] = standardization
    return dict(name=name, X=X32, y=y, n_classes=len(class_names), kind="tabular", feature_names=feature_names,
                class_names=class_names, raw=raw, meta=meta, ids=ids)


def describe(*, where: str, n: int, n_columns: int, label: str, class_names: list[str], id: Optional[str],
             standardised: Sequence[str], one_hot: dict[str, list[str]], as_given: Sequence[str]) -> str:
    """The plain-text ``meta["preprocessing"]`` of a table: parts joined by ``"; "``, e.g.
    ``standardised: age, hours; one-hot: workclass (8), sex (2); label 'income' classes ['<=50K', '>50K']
    as 0..1; id 'pid' (record ids, not a feature); ...``."""
    parts = []
    if as_given:
        parts.append(f"as given (already encoded, not rescaled): {', '.join(as_given)}")
    if standardised:
        parts.append(f"standardised: {', '.join(standardised)}")
    if one_hot:
        parts.append("one-hot: " + ", ".join(f"{c} ({len(v)})" for c, v in one_hot.items()))
    parts.append(f"label {label!r} classes {class_names!r} as 0..{len(class_names) - 1}")
    if id is not None:
        parts.append(f"id {id!r} (record ids, not a feature)")
    parts.append(f"read from {where}: {n} records, {n_columns} columns")
    if standardised or one_hot:
        parts.append("scikit-learn StandardScaler (pool mean, population sd) and OneHotEncoder (pool categories, "
                     "sorted, columns named 'column=category') fitted once on the whole pool; feature order: "
                     "standardised, then one-hot, each in file order")
    parts.append("missing values refused, not imputed")
    return "; ".join(parts)


def _categories(table: _Table, c: str) -> np.ndarray:
    """The values of a categorical, label or id column: int64 when a CSV column holds plain integers only,
    else text (an object array of str); typed columns as they are."""
    values = table.columns[c]
    if not table.text_cells:
        return values
    unique = np.unique(values)
    if all(_PLAIN_INT.match(v) and abs(int(v)) <= _INT64_MAX for v in unique.tolist()):
        return values.astype(np.int64)
    return values.astype(object)


def _numbers(table: _Table, c: str, prefix: str, *, listed: bool) -> np.ndarray:
    values = table.columns[c]
    bad_text = None
    if table.text_cells:
        try:
            out = values.astype(np.float64)
        except ValueError:
            for v in np.unique(values).tolist():
                try:
                    float(v)
                except ValueError:
                    bad_text = v
                    break
            out = None
    elif values.dtype == object:
        bad_text = str(values[0])
        out = None
    else:
        out = values.astype(np.float64)
    if out is None:
        i = int(np.flatnonzero(values == bad_text)[0]) if bad_text is not None else 0
        if listed:
            raise InputError(f"{prefix}numeric: column {c!r} of {table.where} holds text ({bad_text!r} at "
                             f"{table.place(i)}), not numbers; list it in {prefix}categorical instead")
        raise InputError(f"{prefix}categorical: column {c!r} of {table.where} holds text ({bad_text!r} at "
                         f"{table.place(i)}); with neither {prefix}categorical nor {prefix}numeric given every "
                         "column but the label and id must already be numeric: list the text columns in "
                         f"{prefix}categorical and the others in {prefix}numeric")
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{table.key}: column {c!r} of {table.where} holds {values[i].item()!r} at "
                         f"{table.place(i)}, not a finite number ({int(bad.sum())} such values)")
    return out


def _labels(table: _Table, label: str, prefix: str) -> tuple[np.ndarray, list[str]]:
    values = _categories(table, label)
    if values.dtype.kind == "f":
        if not np.all(values == np.round(values)):
            i = int(np.argmax(values != np.round(values)))
            raise InputError(f"{prefix}label: column {label!r} of {table.where} holds {values[i].item()!r} at "
                             f"{table.place(i)}; labels are class names (text) or whole numbers")
        values = values.astype(np.int64)
    classes, y = np.unique(values, return_inverse=True)
    names = [str(v) for v in classes.tolist()]
    if len(names) < 2:
        raise InputError(f"{prefix}label: column {label!r} of {table.where} holds one class ({names[0]!r}); "
                         "a classifier needs two")
    return y.reshape(-1).astype(np.int64), names


def _id_values(values: np.ndarray, id: str, prefix: str, place: Callable[[int], str]) -> np.ndarray:
    """Record ids as int64 or str values, checked for uniqueness (the message names ``<prefix>id``)."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    elif values.dtype == object and all(isinstance(v, (str, np.str_)) for v in values.tolist()):
        values = values.astype(str)
    if values.dtype.kind not in "iuU":
        raise InputError(f"{prefix}id: column {id!r} must hold whole numbers or text; got {values.dtype} values")
    values = values.astype(np.int64) if values.dtype.kind in "iu" else values
    uniq, first, counts = np.unique(values, return_index=True, return_counts=True)
    if uniq.size != values.size:
        k = int(np.argmax(counts > 1))
        dup = uniq[k].item()
        raise InputError(f"{prefix}id: column {id!r} must hold one unique id per record; {dup!r} appears "
                         f"{int(counts[k])} times (first at {place(int(first[k]))}; "
                         f"{int((counts > 1).sum())} ids repeat)")
    return values


def _fit_transform(num: list[str], num_values: dict[str, np.ndarray], cat: list[str],
                   cat_values: dict[str, np.ndarray]):
    """One ColumnTransformer (StandardScaler on ``num``, OneHotEncoder on ``cat``) fitted on the whole pool."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    n = len(next(iter(num_values.values()))) if num else len(next(iter(cat_values.values())))
    if cat:
        data = np.empty((n, len(num) + len(cat)), dtype=object)
        for j, c in enumerate(num):
            data[:, j] = num_values[c]
        for j, c in enumerate(cat):
            data[:, len(num) + j] = cat_values[c]
    else:
        data = np.stack([num_values[c] for c in num], axis=1)
    steps = []
    if num:
        steps.append(("standardised", StandardScaler(), list(range(len(num)))))
    if cat:
        steps.append(("one-hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64),
                      list(range(len(num), len(num) + len(cat)))))
    transformer = ColumnTransformer(steps, sparse_threshold=0.0)
    X = np.asarray(transformer.fit_transform(data), dtype=np.float64)
    feature_names = list(num)
    standardization: dict[str, dict[str, float]] = {}
    if num:
        scaler = transformer.named_transformers_["standardised"]
        for c, m, v in zip(num, scaler.mean_, scaler.var_):
            standardization[c] = {"mean": float(m), "sd": float(np.sqrt(v))}
    one_hot: dict[str, list[str]] = {}
    if cat:
        encoder = transformer.named_transformers_["one-hot"]
        for c, cats in zip(cat, encoder.categories_):
            one_hot[c] = [str(v) for v in cats.tolist()]
            feature_names.extend(f"{c}={v}" for v in one_hot[c])
    return X, feature_names, standardization, one_hot


__all__ = ["SUFFIXES", "NA_CELLS", "array_fields", "check_file_options", "describe", "file_fields",
           "file_format", "frame_fields"]
