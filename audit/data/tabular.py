"""Tabular datasets read from the data directory: ``cardio`` and ``credit``.

Both files come from Kaggle (see ``meta["license"]``: research and testing only)
and are read from ``data_dir`` or ``$MIA_AUDIT_DATA``; see ``shared/data/README.md``.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from .dataset import DATASETS, Dataset, one_hot, require_file, resolve_data_dir, standardize


_NA = re.compile(r"(?<=[,;])(?:NA)?(?=[,;\n]|$)", re.M)


def _read_csv(path: Path, delimiter: str) -> tuple[list[str], np.ndarray]:
    """Header and a float64 table of a numeric gzip CSV file; ``NA`` or empty fields are NaN."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read {path}: {exc!r}") from exc
    first, _, body = text.partition("\n")
    header = next(csv.reader([first], delimiter=delimiter))
    try:
        table = np.loadtxt(io.StringIO(_NA.sub("nan", body)), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataFileError(f"{path}: not a numeric table: {exc}") from exc
    if table.shape[1] != len(header):
        raise DataFileError(f"{path}: rows have {table.shape[1]} fields, the header {len(header)}")
    return header, table


def _column(header: list[str], table: np.ndarray, name: str, path: Path) -> np.ndarray:
    try:
        i = header.index(name)
    except ValueError:
        raise DataFileError(f"{path}: column {name!r} not found; columns: {', '.join(header)}") from None
    return table[:, i]


# ----------------------------------------------------------------------------------
# Cardiovascular disease
# ----------------------------------------------------------------------------------

CARDIO_FILE = "cardio_train.csv.gz"
CARDIO_NUMERIC = ["age", "height", "weight", "ap_hi", "ap_lo"]
CARDIO_BINARY = ["gender", "smoke", "alco", "active"]
CARDIO_ONE_HOT = ["cholesterol", "gluc"]
BP_RANGE = (40, 250)

CARDIO_PREPROCESSING = (
    "Read cardio_train.csv (semicolon separated, 70,000 rows); the id column is "
    "dropped; target: cardio (1 = cardiovascular disease). Rows with a "
    "physiologically impossible blood pressure are dropped: ap_hi or ap_lo outside "
    f"[{BP_RANGE[0]}, {BP_RANGE[1]}] mmHg, or ap_lo > ap_hi. Age is converted from days "
    "to years (days / 365.25). Numeric columns (age, height, weight, ap_hi, "
    "ap_lo) are standardised (z-score, mean and population sd of the remaining "
    "pool). Binary columns are 0/1: gender=2 is 1 when the source's gender code is 2 "
    "(1 = women, 2 = men in the Kaggle description) and 0 when it is 1; smoke, "
    "alco and active are kept as 0/1. cholesterol and gluc (1 normal, 2 above "
    "normal, 3 well above normal) are one-hot coded, categories sorted. Feature "
    "order: numeric, binary, one-hot. raw holds the original values (age in days "
    "as age_days, age in years as age) of the kept rows."
)


@DATASETS.register("cardio")
def load_cardio(*, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Kaggle cardiovascular disease (70,000 rows before filtering), file ``cardio_train.csv.gz``.

    Returns a tabular :class:`Dataset` with 15 features; rows with impossible blood
    pressure are dropped (see ``meta["preprocessing"]`` and ``meta["dropped_rows"]``).
    """
    folder = resolve_data_dir(data_dir, "cardio")
    path = require_file(folder, CARDIO_FILE, "cardio")
    header, rows = _read_csv(path, ";")
    if np.isnan(rows).any():
        raise DataFileError(f"{path}: {int(np.isnan(rows).sum())} missing values; the file has none")
    cols = {c: _column(header, rows, c, path) for c in header}
    n_read = len(rows)
    num = {c: cols[c].astype(np.float64) for c in ["age", "height", "weight", "ap_hi", "ap_lo"]}
    int_cols = ["id", "gender", "cholesterol", "gluc", "smoke", "alco", "active", "cardio"]
    ints = {c: cols[c].astype(np.int64) for c in int_cols}
    for c in ["smoke", "alco", "active", "cardio"]:
        if not np.isin(ints[c], [0, 1]).all():
            raise DataFileError(f"{path}: column {c!r} has values other than 0/1")
    if not np.isin(ints["gender"], [1, 2]).all():
        raise DataFileError(f"{path}: column 'gender' has values other than 1/2")

    lo, hi = BP_RANGE
    keep = (
        (num["ap_hi"] >= lo) & (num["ap_hi"] <= hi) & (num["ap_lo"] >= lo) & (num["ap_lo"] <= hi)
        & (num["ap_lo"] <= num["ap_hi"])
    )
    age_years = num["age"] / 365.25

    numeric = np.stack(
        [age_years[keep]] + [num[c][keep] for c in ["height", "weight", "ap_hi", "ap_lo"]], axis=1
    )
    z, mean, sd = standardize(numeric)
    blocks = [z]
    names = list(CARDIO_NUMERIC)
    blocks.append((ints["gender"][keep] == 2).astype(np.float64)[:, None])
    names.append("gender=2")
    for c in ["smoke", "alco", "active"]:
        blocks.append(ints[c][keep].astype(np.float64)[:, None])
        names.append(c)
    for c in CARDIO_ONE_HOT:
        mat, fnames, _ = one_hot(ints[c][keep], c)
        blocks.append(mat)
        names.extend(fnames)
    X = np.concatenate(blocks, axis=1).astype(np.float32)
    y = ints["cardio"][keep]

    raw = {
        "id": ints["id"][keep],
        "age_days": num["age"][keep].astype(np.int64),
        "age": age_years[keep],
        "gender": ints["gender"][keep],
        "height": num["height"][keep],
        "weight": num["weight"][keep],
        "ap_hi": num["ap_hi"][keep].astype(np.int64),
        "ap_lo": num["ap_lo"][keep].astype(np.int64),
        "cholesterol": ints["cholesterol"][keep],
        "gluc": ints["gluc"][keep],
        "smoke": ints["smoke"][keep],
        "alco": ints["alco"][keep],
        "active": ints["active"][keep],
    }
    meta = {
        "source": "Kaggle, Svetlana Ulianova, 'Cardiovascular Disease dataset', "
        "https://www.kaggle.com/datasets/sulianova/cardiovascular-disease-dataset",
        "files": [str(path.resolve())],
        "license": "no clear open license on the Kaggle page; research and testing use only",
        "citation": "Ulianova, S. Cardiovascular Disease dataset. Kaggle (2019).",
        "preprocessing": CARDIO_PREPROCESSING,
        "dropped_rows": {"impossible_blood_pressure": int(n_read - keep.sum()), "rows_read": n_read},
        "standardization": {c: {"mean": float(m), "sd": float(s)} for c, m, s in zip(CARDIO_NUMERIC, mean, sd)},
    }
    return Dataset(
        name="cardio",
        X=X,
        y=y,
        n_classes=2,
        kind="tabular",
        feature_names=names,
        class_names=["healthy", "cardiovascular disease"],
        raw=raw,
        meta=meta,
    )


# ----------------------------------------------------------------------------------
# Give Me Some Credit
# ----------------------------------------------------------------------------------

CREDIT_FILE = "cs-training.csv.gz"
CREDIT_TARGET = "SeriousDlqin2yrs"
CREDIT_FEATURES = [
    "RevolvingUtilizationOfUnsecuredLines",
    "age",
    "NumberOfTime30-59DaysPastDueNotWorse",
    "DebtRatio",
    "MonthlyIncome",
    "NumberOfOpenCreditLinesAndLoans",
    "NumberOfTimes90DaysLate",
    "NumberRealEstateLoansOrLines",
    "NumberOfTime60-89DaysPastDueNotWorse",
    "NumberOfDependents",
]
CREDIT_IMPUTED = ["MonthlyIncome", "NumberOfDependents"]
CREDIT_LOG1P = ["RevolvingUtilizationOfUnsecuredLines", "DebtRatio", "MonthlyIncome"]

CREDIT_PREPROCESSING = (
    "Read cs-training.csv (150,000 rows; the first, unnamed column is the row id "
    "and is dropped); target: SeriousDlqin2yrs (1 = serious delinquency within two "
    "years). No row is dropped. Missing values ('NA') in MonthlyIncome and "
    "NumberOfDependents are imputed with the median of the observed values of the "
    "pool, and one 0/1 indicator column per imputed column is appended "
    "(MonthlyIncome_missing, NumberOfDependents_missing). The heavy-tailed "
    "money/ratio columns RevolvingUtilizationOfUnsecuredLines, DebtRatio and "
    "MonthlyIncome are transformed with log1p (after imputation); then all ten "
    "source features are standardised (z-score, mean and population sd of the "
    "pool); the indicators stay 0/1. The past-due count columns keep the source's "
    "special codes 96 and 98 as numbers. raw holds the original values (NaN where "
    "missing) and the row id."
)


@DATASETS.register("credit")
def load_credit(*, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Kaggle "Give Me Some Credit" training file ``cs-training.csv.gz`` (150,000 rows).

    Returns a tabular :class:`Dataset` with 12 features (10 standardised source
    columns + 2 missing-value indicators); see ``meta["preprocessing"]``.
    """
    folder = resolve_data_dir(data_dir, "credit")
    path = require_file(folder, CREDIT_FILE, "credit")
    header, rows = _read_csv(path, ",")
    header = ["id" if i == 0 and h == "" else h for i, h in enumerate(header)]
    raw_cols: dict[str, np.ndarray] = {}
    for c in ["id", CREDIT_TARGET] + CREDIT_FEATURES:
        vals = _column(header, rows, c, path)
        missing = np.isnan(vals)
        if missing.any() and c not in CREDIT_IMPUTED:
            raise DataFileError(f"{path}: column {c!r} has {int(missing.sum())} missing values")
        raw_cols[c] = vals
    y = raw_cols[CREDIT_TARGET].astype(np.int64)

    medians, n_missing, indicators = {}, {}, []
    features = []
    for c in CREDIT_FEATURES:
        v = raw_cols[c].copy()
        miss = np.isnan(v)
        if c in CREDIT_IMPUTED:
            medians[c] = float(np.median(v[~miss]))
            n_missing[c] = int(miss.sum())
            v[miss] = medians[c]
            indicators.append(miss.astype(np.float64))
        if c in CREDIT_LOG1P:
            v = np.log1p(v)
        features.append(v)
    z, mean, sd = standardize(np.stack(features, axis=1))
    X = np.concatenate([z, np.stack(indicators, axis=1)], axis=1).astype(np.float32)
    names = list(CREDIT_FEATURES) + [f"{c}_missing" for c in CREDIT_IMPUTED]

    raw = {"id": raw_cols["id"].astype(np.int64)}
    for c in CREDIT_FEATURES:
        v = raw_cols[c]
        raw[c] = v if c in CREDIT_IMPUTED or c in CREDIT_LOG1P else v.astype(np.int64)
    meta = {
        "source": "Kaggle competition 'Give Me Some Credit' (2011), cs-training.csv, "
        "https://www.kaggle.com/c/GiveMeSomeCredit",
        "files": [str(path.resolve())],
        "license": "Kaggle competition rules (not an open license); research and testing use only",
        "citation": "Credit Fusion and Will Cukierski. Give Me Some Credit. Kaggle (2011).",
        "preprocessing": CREDIT_PREPROCESSING,
        "imputed_median": medians,
        "n_missing": n_missing,
        "log1p_columns": list(CREDIT_LOG1P),
        "standardization": {
            c: {"mean": float(m), "sd": float(s), "log1p": c in CREDIT_LOG1P}
            for c, m, s in zip(CREDIT_FEATURES, mean, sd)
        },
    }
    return Dataset(
        name="credit",
        X=X,
        y=y,
        n_classes=2,
        kind="tabular",
        feature_names=names,
        class_names=["no serious delinquency", "serious delinquency"],
        raw=raw,
        meta=meta,
    )
