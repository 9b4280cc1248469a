"""The roles of the user's columns and their encoding (:mod:`.own`): labels, ids, one-hot and
standardised columns, fitted once on the whole pool with scikit-learn, and the plain-text
description of it that a result records."""

from __future__ import annotations

from .own_tables import NA_CELLS, _INT64_MAX, _PLAIN_INT, _Table, _id_values  # noqa: F401

from typing import Any, Optional, Sequence
import numpy as np
from ..errors import InputError

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


