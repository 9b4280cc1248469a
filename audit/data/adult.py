"""UCI Adult (Census Income), shipped inside the package (``audit/data/files``)."""

from __future__ import annotations

import csv
import gzip
import io
import os
from importlib import resources
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import DataFileError
from .dataset import DATASETS, Dataset, one_hot, require_file, standardize

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
]
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = ["workclass", "marital-status", "occupation", "relationship", "race", "sex", "native-country"]
DROPPED = ["education"]
FILES = ("adult.data.gz", "adult.test.gz")

PREPROCESSING = (
    "Both UCI files are loaded as one pool, adult.data first then adult.test "
    "(the test file's first line '|1x3 Cross validator' is skipped and the '.' "
    "at the end of its labels removed). Rows with a missing value ('?', in "
    "workclass, occupation or native-country) are dropped: 30,162 train + "
    "15,060 test = 45,222 rows. Numeric columns (age, fnlwgt, education-num, "
    "capital-gain, capital-loss, hours-per-week) are standardised (z-score with "
    "the mean and population standard deviation of the pool). Categorical "
    "columns (workclass, marital-status, occupation, relationship, race, sex, "
    "native-country) are one-hot coded with the categories found in the pool, "
    "sorted; a column is named 'column=category'. The column 'education' is "
    "dropped because 'education-num' encodes it one-to-one. Label: 1 = '>50K', "
    "0 = '<=50K'. Feature order: the numeric columns, then the one-hot blocks in "
    "the order above. raw holds the original values (numbers as int64, "
    "categories as strings, income without the '.') and 'original_split' "
    "('train' or 'test')."
)


def _bundled(filename: str):
    return resources.files("mia_audit.data").joinpath("files", filename)


def _read_rows(stream: IO[bytes]) -> tuple[list[list[str]], int]:
    """Parse one UCI file; returns (complete rows, number of rows dropped for '?')."""
    text = io.TextIOWrapper(gzip.GzipFile(fileobj=stream), encoding="ascii", newline="")
    rows, dropped = [], 0
    for row in csv.reader(text, skipinitialspace=True):
        if not row or row[0].startswith("|"):
            continue
        if len(row) != len(COLUMNS):
            raise DataFileError(f"Adult file: a row has {len(row)} fields, expected {len(COLUMNS)}: {row!r}")
        row = [v.strip() for v in row]
        if "?" in row:
            dropped += 1
            continue
        row[-1] = row[-1].rstrip(".")
        rows.append(row)
    return rows, dropped


@DATASETS.register("adult")
def load_adult(*, data_dir: str | os.PathLike | None = None) -> Dataset:
    """UCI Adult (census income > 50K), 45,222 complete rows, bundled with the package.

    Args:
        data_dir: optional folder holding ``adult.data.gz`` and ``adult.test.gz``
            to use instead of the bundled copies. The environment variable
            ``MIA_AUDIT_DATA`` is *not* consulted: the bundled files are the default.

    Returns:
        A tabular :class:`Dataset`: ``X`` (45222, 88) float32 (6 standardised
        numeric columns + 82 one-hot columns), ``y`` 1 = ``>50K``; ``raw`` holds
        the original columns.
    """
    parts: list[list[list[str]]] = []
    dropped: dict[str, int] = {}
    sources = []
    for split, filename in zip(("train", "test"), FILES):
        if data_dir is None:
            res = _bundled(filename)
            if not res.is_file():  # a broken installation
                raise DataFileError(f"bundled Adult file missing from the package: {res}")
            with res.open("rb") as fh:
                rows, n_drop = _read_rows(fh)
            sources.append(f"package mia_audit.data/files/{filename}")
        else:
            path = require_file(Path(data_dir).expanduser(), filename, "adult")
            with open(path, "rb") as fh:
                rows, n_drop = _read_rows(fh)
            sources.append(str(path.resolve()))
        parts.append(rows)
        dropped[split] = n_drop
    rows = parts[0] + parts[1]
    cols = {name: np.array([r[i] for r in rows]) for i, name in enumerate(COLUMNS)}

    blocks, names = [], []
    numeric = np.stack([cols[c].astype(np.int64) for c in NUMERIC], axis=1)
    z, mean, sd = standardize(numeric)
    blocks.append(z)
    names.extend(NUMERIC)
    categories = {}
    for c in CATEGORICAL:
        mat, fnames, cats = one_hot(cols[c], c)
        blocks.append(mat)
        names.extend(fnames)
        categories[c] = cats
    X = np.concatenate(blocks, axis=1).astype(np.float32)
    y = (cols["income"] == ">50K").astype(np.int64)

    raw: dict[str, np.ndarray] = {}
    for c in COLUMNS:
        raw[c] = cols[c].astype(np.int64) if c in NUMERIC else cols[c]
    raw["original_split"] = np.array(["train"] * len(parts[0]) + ["test"] * len(parts[1]))

    meta = {
        "source": "UCI Machine Learning Repository, Adult, https://archive.ics.uci.edu/dataset/2/adult",
        "files": sources,
        "license": "CC BY 4.0",
        "citation": "Becker, B. and Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning "
        "Repository. https://doi.org/10.24432/C5XW20",
        "preprocessing": PREPROCESSING,
        "original_split": {"train": len(parts[0]), "test": len(parts[1])},
        "dropped_missing": dropped,
        "dropped_columns": {"education": "encoded one-to-one by education-num"},
        "standardization": {c: {"mean": float(m), "sd": float(s)} for c, m, s in zip(NUMERIC, mean, sd)},
        "categories": categories,
    }
    return Dataset(
        name="adult",
        X=X,
        y=y,
        n_classes=2,
        kind="tabular",
        feature_names=names,
        class_names=["<=50K", ">50K"],
        raw=raw,
        meta=meta,
    )
