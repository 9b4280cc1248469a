"""Reading the user's own records (:mod:`.own`): CSV, Parquet, a DataFrame or ``.npz``, as a table
of typed columns, with every cell checked where it is read."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path
from typing import Any, Callable, Optional
import numpy as np
from ..errors import DataFileError, InputError
from ..record_files import load_records

#: file name endings read by :func:`.own.file_fields`, and the format each one is
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
