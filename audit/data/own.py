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

import hashlib
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..checks import text, text_list
from ..errors import DataFileError, InputError, bad_value
from .own_encoding import _encode, describe
from .own_tables import (KIND_BY_NDIM, NA_CELLS, OWN_LICENSE, SUFFIXES, _npz_fields, _read_csv, _read_frame,
                         _read_parquet, _stem)


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



__all__ = ["SUFFIXES", "NA_CELLS", "array_fields", "check_file_options", "describe", "file_fields",
           "file_format", "frame_fields"]
