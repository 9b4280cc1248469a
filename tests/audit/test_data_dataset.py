"""Dataset container, registry and loaders (adult and digits always; the rest when the data exist)."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from mia_audit.data import DATASETS, Dataset, load_dataset
from mia_audit.errors import DataFileError, InputError

REPO = Path(__file__).resolve().parents[2]


def _shared_data_dir() -> Path | None:
    env = os.environ.get("MIA_AUDIT_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


def _need(filename: str) -> Path:
    folder = _shared_data_dir()
    if folder is None or not (folder / filename).is_file():
        pytest.skip(f"{filename} not available (set MIA_AUDIT_DATA or provide <repo>/../shared/data)")
    return folder


@pytest.fixture(scope="module")
def adult() -> Dataset:
    return load_dataset("adult")


# ------------------------------------------------------------------ Dataset class


def _toy(n=6) -> Dataset:
    X = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    return Dataset(name="toy", X=X, y=np.arange(n) % 2, n_classes=2, kind="tabular",
                   feature_names=["a", "b", "c"], raw={"age": np.arange(n) * 10})


def test_dataset_coerces_dtypes_and_shapes():
    d = _toy()
    assert d.X.dtype == np.float32 and d.y.dtype == np.int64
    assert d.input_shape == (3,) and len(d) == 6 and d.n == 6
    assert d.class_names == ["0", "1"]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"kind": "video"}, "kind"),
        ({"y": np.array([0, 1, 2, 0, 1, 0])}, "labels in"),
        ({"y": np.zeros(5, dtype=int)}, "length 6"),
        ({"X": np.zeros((6, 1, 2, 2))}, "2-d array"),
        ({"feature_names": ["a"]}, "feature_names"),
        ({"raw": {"age": np.arange(3)}}, "raw"),
        ({"class_names": ["x"]}, "class_names"),
        ({"y": np.array([0.5] * 6)}, "integer class labels"),
    ],
)
def test_dataset_validation(change, match):
    base = dict(name="toy", X=np.zeros((6, 3)), y=np.zeros(6, dtype=int), n_classes=2, kind="tabular")
    base.update(change)
    with pytest.raises(InputError, match=match):
        Dataset(**base)


def test_sha256_depends_on_data_only():
    a, b = _toy(), _toy()
    assert a.sha256() == b.sha256()
    c = Dataset(name="other", X=a.X, y=a.y, n_classes=2, kind="tabular", meta={"x": 1})
    assert c.sha256() == a.sha256()
    d = Dataset(name="toy", X=a.X + 1, y=a.y, n_classes=2, kind="tabular")
    assert d.sha256() != a.sha256()
    e = Dataset(name="toy", X=a.X.reshape(6, 3), y=a.y, n_classes=3, kind="tabular")
    assert e.sha256() == a.sha256()  # n_classes is not data


def test_subset_copies_and_keeps_raw():
    d = _toy()
    idx = np.array([4, 1])
    s = d.subset(idx)
    assert np.array_equal(s.X, d.X[[4, 1]]) and np.array_equal(s.raw["age"], [40, 10])
    s.X[0, 0] = -1
    assert d.X[4, 0] == 12  # a copy
    assert idx.tolist() == [4, 1]
    with pytest.raises(InputError, match="indices"):
        d.subset([7])


# ------------------------------------------------------------------ registry


def test_registry_names():
    assert DATASETS.names() == ["adult", "cardio", "cifar10", "credit", "digits"]


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(InputError, match="adult, cardio, cifar10, credit, digits; got 'mnist'"):
        load_dataset("mnist")


def test_unknown_option_is_refused():
    with pytest.raises(InputError, match="option 'colour'.*valid options: as_"):
        load_dataset("digits", colour=True)


def test_missing_data_dir_says_how(monkeypatch):
    monkeypatch.delenv("MIA_AUDIT_DATA", raising=False)
    with pytest.raises(InputError, match="needs a data directory.*data_dir.*MIA_AUDIT_DATA"):
        load_dataset("cardio")


@pytest.mark.parametrize(
    "name, filename",
    [("cardio", "cardio_train.csv.gz"), ("credit", "cs-training.csv.gz"),
     ("cifar10", "cifar10_jpeg.npz"), ("adult", "adult.data.gz")],
)
def test_missing_file_names_full_path(tmp_path, name, filename):
    with pytest.raises(DataFileError) as info:
        load_dataset(name, data_dir=tmp_path)
    text = str(info.value)
    assert str((tmp_path / filename).resolve()) in text
    assert "data_dir" in text and "MIA_AUDIT_DATA" in text


def test_missing_file_via_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MIA_AUDIT_DATA", str(tmp_path))
    with pytest.raises(DataFileError, match="cs-training.csv.gz"):
        load_dataset("credit")


def test_data_dir_that_does_not_exist(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        load_dataset("cardio", data_dir=tmp_path / "nope")


# ------------------------------------------------------------------ adult


def test_adult_counts_and_shapes(adult):
    assert adult.meta["original_split"] == {"train": 30162, "test": 15060}
    assert len(adult) == 45222 == 30162 + 15060
    assert adult.X.shape == (45222, 88) and adult.X.dtype == np.float32
    assert adult.y.dtype == np.int64 and set(np.unique(adult.y)) == {0, 1}
    assert int(adult.y.sum()) == 11208  # '>50K' among complete rows (7,508 train + 3,700 test)
    assert adult.kind == "tabular" and adult.n_classes == 2
    assert len(adult.feature_names) == 88
    assert "education" not in adult.feature_names
    assert not any(f.startswith("education=") for f in adult.feature_names)
    assert adult.meta["license"] == "CC BY 4.0"
    for word in ("dropped", "standardised", "one-hot", "education-num"):
        assert word in adult.meta["preprocessing"]
    assert np.isfinite(adult.X).all()


def test_adult_raw_columns(adult):
    raw = adult.raw
    assert raw["age"].dtype == np.int64 and raw["age"].min() == 17 and raw["age"].max() == 90
    assert set(raw["sex"]) == {"Female", "Male"}
    assert set(raw["income"]) == {"<=50K", ">50K"}  # the test file's '.' removed
    assert not any("?" in set(map(str, v)) for v in raw.values())
    assert np.array_equal(adult.y, (raw["income"] == ">50K").astype(np.int64))
    assert (raw["original_split"][:30162] == "train").all() and (raw["original_split"][30162:] == "test").all()
    # first row of adult.data: 39, State-gov, 77516, Bachelors, 13, ...
    assert raw["age"][0] == 39 and raw["workclass"][0] == "State-gov" and raw["fnlwgt"][0] == 77516


def test_adult_standardised(adult):
    names = adult.feature_names
    for col in ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]:
        z = adult.X[:, names.index(col)].astype(np.float64)
        assert abs(z.mean()) < 1e-4 and abs(z.std() - 1) < 1e-4
        st = adult.meta["standardization"][col]
        assert np.allclose(z * st["sd"] + st["mean"], adult.raw[col], atol=1e-3 * max(1.0, st["sd"]))


def test_adult_one_hot(adult):
    names = adult.feature_names
    for col, cats in adult.meta["categories"].items():
        assert cats == sorted(cats)
        cols = [names.index(f"{col}={c}") for c in cats]
        block = adult.X[:, cols]
        assert set(np.unique(block)) == {0.0, 1.0}
        assert (block.sum(axis=1) == 1).all()
        expected = adult.raw[col][:, None] == np.array(cats)[None, :]
        assert np.array_equal(block == 1, expected)
    assert len(adult.meta["categories"]["native-country"]) == 41


def test_adult_from_data_dir_matches_bundle(tmp_path, adult):
    src = Path(__file__).resolve().parents[2] / "audit" / "data" / "files"
    for f in ("adult.data.gz", "adult.test.gz"):
        shutil.copy(src / f, tmp_path / f)
    other = load_dataset("adult", data_dir=tmp_path)
    assert other.sha256() == adult.sha256()


def test_adult_bundled_files_and_attribution():
    folder = Path(__file__).resolve().parents[2] / "audit" / "data" / "files"
    text = (folder / "ATTRIBUTION.md").read_text()
    for needle in ("Becker", "Kohavi", "1996", "https://archive.ics.uci.edu/dataset/2/adult", "CC BY 4.0", "unmodified"):
        assert needle in text
    with gzip.open(folder / "adult.data.gz", "rb") as fh:
        assert len(fh.read()) == 3_974_305
    assert (folder / "adult.names.gz").is_file()


# ------------------------------------------------------------------ digits


@pytest.mark.parametrize(
    "as_, kind, shape",
    [("image", "image", (1, 8, 8)), ("sequence", "sequence", (8, 8)), ("tabular", "tabular", (64,))],
)
def test_digits_views(as_, kind, shape):
    d = load_dataset("digits", as_=as_)
    assert d.kind == kind and d.input_shape == shape and len(d) == 1797
    assert d.X.dtype == np.float32 and d.y.dtype == np.int64 and d.n_classes == 10
    assert d.X.min() == 0.0 and d.X.max() == 1.0
    assert np.bincount(d.y).sum() == 1797


def test_digits_views_agree():
    img = load_dataset("digits").X
    seq = load_dataset("digits", as_="sequence").X
    tab = load_dataset("digits", as_="tabular").X
    assert np.array_equal(img[:, 0], seq) and np.array_equal(seq.reshape(-1, 64), tab)


def test_digits_bad_view():
    with pytest.raises(InputError, match="as_ must be one of image, sequence, tabular"):
        load_dataset("digits", as_="video")


# ------------------------------------------------------------------ files in the shared data folder


def test_cardio():
    d = load_dataset("cardio", data_dir=_need("cardio_train.csv.gz"))
    assert d.X.shape == (68674, 15) and d.X.dtype == np.float32 and d.y.dtype == np.int64
    assert d.meta["dropped_rows"] == {"impossible_blood_pressure": 1326, "rows_read": 70000}
    assert "id" not in d.feature_names and "cardio" not in d.feature_names
    assert (d.raw["ap_hi"] >= 40).all() and (d.raw["ap_hi"] <= 250).all()
    assert (d.raw["ap_lo"] >= 40).all() and (d.raw["ap_lo"] <= d.raw["ap_hi"]).all()
    names = d.feature_names
    for col in ["age", "height", "weight", "ap_hi", "ap_lo"]:
        z = d.X[:, names.index(col)].astype(np.float64)
        assert abs(z.mean()) < 1e-4 and abs(z.std() - 1) < 1e-4
    for col in ["cholesterol", "gluc"]:
        block = d.X[:, [names.index(f"{col}={v}") for v in (1, 2, 3)]]
        assert (block.sum(axis=1) == 1).all()
        assert np.array_equal(block.argmax(axis=1) + 1, d.raw[col])
    for col in ["gender=2", "smoke", "alco", "active"]:
        assert set(np.unique(d.X[:, names.index(col)])) == {0.0, 1.0}
    assert np.array_equal(d.X[:, names.index("gender=2")] == 1, d.raw["gender"] == 2)
    assert 29 < d.raw["age"].min() and d.raw["age"].max() < 66  # years
    assert "impossible blood pressure" in d.meta["preprocessing"]


def test_credit():
    d = load_dataset("credit", data_dir=_need("cs-training.csv.gz"))
    assert d.X.shape == (150000, 12) and d.X.dtype == np.float32
    assert np.bincount(d.y).tolist() == [139974, 10026]
    assert np.isfinite(d.X).all()
    names = d.feature_names
    assert names[-2:] == ["MonthlyIncome_missing", "NumberOfDependents_missing"]
    assert d.X[:, -2].sum() == 29731 and d.X[:, -1].sum() == 3924
    assert d.meta["n_missing"] == {"MonthlyIncome": 29731, "NumberOfDependents": 3924}
    assert np.array_equal(d.X[:, -2] == 1, np.isnan(d.raw["MonthlyIncome"]))
    for j in range(10):
        z = d.X[:, j].astype(np.float64)
        assert abs(z.mean()) < 1e-4 and abs(z.std() - 1) < 1e-3
    # imputed rows sit at the (transformed, standardised) median
    inc = d.X[:, names.index("MonthlyIncome")]
    st = d.meta["standardization"]["MonthlyIncome"]
    expected = (np.log1p(d.meta["imputed_median"]["MonthlyIncome"]) - st["mean"]) / st["sd"]
    assert np.allclose(inc[d.X[:, -2] == 1], expected, atol=1e-5)
    for col in d.meta["log1p_columns"]:
        assert col in d.meta["preprocessing"]
    assert d.raw["id"][0] == 1 and d.raw["id"][-1] == 150000


def test_cifar10_limited():
    d = load_dataset("cifar10", data_dir=_need("cifar10_jpeg.npz"), limit=50)
    assert d.X.shape == (100, 3, 32, 32) and d.X.dtype == np.float32
    assert 0.0 <= d.X.min() and d.X.max() <= 1.0
    assert d.meta["original_split"] == {"train": 50, "test": 50}
    assert d.class_names[:3] == ["airplane", "automobile", "bird"] and d.n_classes == 10
    assert d.y.dtype == np.int64 and d.y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # torchvision order
    assert d.y[50:60].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    # pixels are k/255 exactly
    assert np.allclose(d.X * 255, np.round(d.X * 255), atol=1e-4)
    with pytest.raises(InputError, match="limit"):
        load_dataset("cifar10", data_dir=_need("cifar10_jpeg.npz"), limit=0)


def test_a_single_class_dataset_is_refused():
    import numpy as np

    from mia_audit.data import Dataset
    from mia_audit.errors import InputError

    with pytest.raises(InputError, match="n_classes must be an integer >= 2"):
        Dataset(name="one", X=np.zeros((3, 2), np.float32), y=np.zeros(3, np.int64), n_classes=1, kind="tabular")
