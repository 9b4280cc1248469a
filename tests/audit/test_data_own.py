"""Your own records (issue 12, part 1): CSV / Parquet / .npz files, DataFrames and arrays as one pool,
preprocessed once, and the ``[data] path = ...`` configuration."""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mia_audit.config import AuditConfig, DataConfig
from mia_audit.data import Dataset, load_configured_dataset, load_dataset
from mia_audit.errors import DataFileError, InputError

REPO = Path(__file__).resolve().parents[2]

GOLDEN = """\
pid,age,city,hours,income
p1,30,Paris,40,<=50K
p2,50,Lyon,20,>50K
p3,40,Paris,60,>50K
p4,20,Nice,35,<=50K
"""

AGE = np.array([30.0, 50.0, 40.0, 20.0])
HOURS = np.array([40.0, 20.0, 60.0, 35.0])
CITY = ["Paris", "Lyon", "Paris", "Nice"]


def _write(folder: Path, text: str, name: str = "records.csv") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _z(v: np.ndarray) -> np.ndarray:
    """The naive z-score: the pool's mean and population sd."""
    return (v - v.mean()) / np.sqrt(((v - v.mean()) ** 2).mean())


def _golden(tmp_path, **kw) -> Dataset:
    path = _write(tmp_path, GOLDEN)
    options = dict(label="income", id="pid", categorical=["city"], numeric=["age", "hours"])
    options.update(kw)
    return Dataset.from_file(path, **options)


# ------------------------------------------------------------------ golden CSV


def test_golden_csv_gives_the_expected_arrays(tmp_path):
    d = _golden(tmp_path)
    assert d.name == "records" and d.kind == "tabular" and len(d) == 4
    # standardised columns first (file order), then the one-hot block, categories sorted
    assert d.feature_names == ["age", "hours", "city=Lyon", "city=Nice", "city=Paris"]
    expected = np.column_stack([
        _z(AGE), _z(HOURS),
        [0, 1, 0, 0],  # Lyon
        [0, 0, 0, 1],  # Nice
        [1, 0, 1, 0],  # Paris
    ])
    assert d.X.dtype == np.float32
    np.testing.assert_allclose(d.X, expected, rtol=1e-6, atol=1e-6)
    assert np.array_equal(d.X[:, 2:], expected[:, 2:])  # one-hot values are exact
    assert d.y.tolist() == [0, 1, 1, 0] and d.n_classes == 2
    assert d.class_names == ["<=50K", ">50K"]
    assert d.ids.tolist() == ["p1", "p2", "p3", "p4"]
    assert "pid" not in d.feature_names and "income" not in d.feature_names
    assert d.raw["age"].tolist() == AGE.tolist() and d.raw["city"].tolist() == CITY


def test_golden_csv_meta_records_the_file_and_the_preprocessing(tmp_path):
    d = _golden(tmp_path)
    digest = hashlib.sha256(GOLDEN.encode()).hexdigest()
    assert d.meta["source"] == f"records.csv (sha256 {digest})"
    assert d.meta["file_sha256"] == digest
    text = d.meta["preprocessing"]
    assert text.startswith("standardised: age, hours; one-hot: city (3); label 'income' classes ['<=50K', '>50K'] "
                           "as 0..1; id 'pid' (record ids, not a feature); read from records.csv: 4 records, "
                           "5 columns; ")
    assert "fitted once on the whole pool" in text and "missing values refused" in text
    assert d.meta["columns"]["one_hot"] == {"city": ["Lyon", "Nice", "Paris"]}
    assert d.meta["standardization"]["age"] == {"mean": pytest.approx(35.0), "sd": pytest.approx(AGE.std())}
    d.summary()  # JSON-ready


def test_feature_order_does_not_depend_on_the_lists_order(tmp_path):
    a = _golden(tmp_path)
    b = _golden(tmp_path, numeric=["hours", "age"])
    assert a.feature_names == b.feature_names and np.array_equal(a.X, b.X)


def test_a_changed_byte_changes_the_recorded_file_hash(tmp_path):
    a = _golden(tmp_path)
    _write(tmp_path, GOLDEN.replace("p4", "p5"))
    b = Dataset.from_file(tmp_path / "records.csv", label="income", id="pid", categorical=["city"],
                          numeric=["age", "hours"])
    assert a.meta["file_sha256"] != b.meta["file_sha256"]
    assert a.sha256() == b.sha256()  # ids are not data: Dataset.sha256 hashes X and y only


def test_integer_labels_are_sorted_by_value_and_named(tmp_path):
    path = _write(tmp_path, "x,y\n1,10\n2,2\n3,10\n4,2\n")
    d = Dataset.from_file(path, label="y")
    assert d.class_names == ["2", "10"] and d.y.tolist() == [1, 0, 1, 0]


def test_already_encoded_columns_are_used_as_given(tmp_path):
    path = _write(tmp_path, "a,b,label\n1.5,0,yes\n-2,1,no\n3,1,yes\n")
    d = Dataset.from_file(path, label="label")
    assert d.feature_names == ["a", "b"]
    assert np.array_equal(d.X, np.array([[1.5, 0], [-2, 1], [3, 1]], dtype=np.float32))
    assert d.class_names == ["no", "yes"] and d.y.tolist() == [1, 0, 1]
    assert d.meta["preprocessing"].startswith("as given (already encoded, not rescaled): a, b; label 'label'")


def test_integer_categories_sort_by_value(tmp_path):
    path = _write(tmp_path, "c,label\n10,0\n2,1\n1,0\n2,1\n")
    d = Dataset.from_file(path, label="label", categorical=["c"])
    assert d.feature_names == ["c=1", "c=2", "c=10"]


def test_semicolons_gzip_spaces_and_blank_lines(tmp_path):
    text = "pid; age ;city;hours;income\n\np1;30; Paris;40;<=50K\np2;50;Lyon;20;>50K\np3;40;Paris ;60;>50K\n" \
           "p4;20;Nice;35;<=50K\n"
    path = tmp_path / "records.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    d = Dataset.from_file(path, label="income", id="pid", categorical=["city"], numeric=["age", "hours"])
    assert d.name == "records"
    assert np.array_equal(d.X, _golden(tmp_path).X)
    assert d.meta["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_preprocessing_is_fitted_on_the_whole_pool(tmp_path):
    """A category that appears in one record only still gets its column, in every subset."""
    d = _golden(tmp_path)
    assert "city=Nice" in d.feature_names  # only the last record is in Nice
    members, nonmembers = d.subset([0, 1]), d.subset([2, 3])
    assert members.X.shape[1] == nonmembers.X.shape[1] == 5
    assert members.X[:, d.feature_names.index("city=Nice")].tolist() == [0, 0]
    # the mean and sd are the whole file's, not those of a part
    np.testing.assert_allclose(members.X[:, 0], _z(AGE)[:2], rtol=1e-6)
    assert members.ids.tolist() == ["p1", "p2"] and nonmembers.ids.tolist() == ["p3", "p4"]


# ------------------------------------------------------------------ the same records, three ways


def _frame():
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"pid": ["p1", "p2", "p3", "p4"], "age": [30, 50, 40, 20], "city": CITY,
                         "hours": [40.0, 20.0, 60.0, 35.0], "income": ["<=50K", ">50K", ">50K", "<=50K"]})


def test_csv_parquet_and_dataframe_give_the_same_pool(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    df = _frame()
    options = dict(label="income", id="pid", categorical=["city"], numeric=["age", "hours"])
    from_csv = _golden(tmp_path)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "records.parquet")
    from_parquet = Dataset.from_file(tmp_path / "records.parquet", **options)
    from_frame = Dataset.from_frame(df, **options)
    for other in (from_parquet, from_frame):
        np.testing.assert_allclose(other.X, from_csv.X, rtol=1e-6)
        assert np.array_equal(other.X, from_csv.X)  # the same float64 values through the same transformer
        assert np.array_equal(other.y, from_csv.y)
        assert other.sha256() == from_csv.sha256()
        assert other.feature_names == from_csv.feature_names and other.class_names == from_csv.class_names
        assert other.ids.tolist() == from_csv.ids.tolist()
    assert from_parquet.name == "records" and from_frame.name == "frame"
    assert from_parquet.meta["source"].startswith("records.parquet (sha256 ")
    assert from_frame.meta["source"].startswith("a pandas DataFrame")


def test_parquet_categorical_dtype_and_integer_ids(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    df = _frame()
    df["city"] = df["city"].astype("category")
    df["pid"] = [7, 3, 9, 1]
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "r.parquet")
    d = Dataset.from_file(tmp_path / "r.parquet", label="income", id="pid", categorical=["city"],
                          numeric=["age", "hours"])
    assert d.ids.dtype == np.int64 and d.ids.tolist() == [7, 3, 9, 1]
    assert d.feature_names[2:] == ["city=Lyon", "city=Nice", "city=Paris"]
    assert Dataset.from_frame(df, "income", categorical=["city"], numeric=["age", "hours"], id="pid").sha256() \
        == d.sha256()


def test_npz_arrays_with_ids(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "recs.npz", X=X, y=y, rid=np.arange(100, 106))
    d = Dataset.from_file(tmp_path / "recs.npz", id="rid")
    assert np.array_equal(d.X, X) and np.array_equal(d.y, y) and d.n_classes == 3 and d.kind == "tabular"
    assert d.ids.tolist() == list(range(100, 106)) and d.name == "recs"
    assert d.meta["source"] == f"recs.npz (sha256 {hashlib.sha256((tmp_path / 'recs.npz').read_bytes()).hexdigest()})"
    images = np.zeros((4, 1, 2, 2), dtype=np.float32)
    np.savez(tmp_path / "img.npz", X=images, y=np.array([0, 1, 0, 1]))
    assert Dataset.from_file(tmp_path / "img.npz").kind == "image"
    np.savez(tmp_path / "bad.npz", X=np.array([[np.nan, 1.0], [0, 1]]), y=np.array([0, 1]))
    with pytest.raises(InputError, match="not finite|nan"):
        Dataset.from_file(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="label.*npz"):
        Dataset.from_file(tmp_path / "recs.npz", label="y")
    with pytest.raises(InputError, match="no array 'pid'"):
        Dataset.from_file(tmp_path / "recs.npz", id="pid")


def test_from_arrays_infers_kind_and_classes():
    X = np.zeros((4, 3, 2))
    d = Dataset.from_arrays(X, [0, 1, 1, 3], ids=["a", "b", "c", "d"])
    assert d.kind == "sequence" and d.n_classes == 4 and d.name == "arrays" and d.ids.tolist() == ["a", "b", "c", "d"]
    assert Dataset.from_arrays(np.zeros((2, 1, 2, 2)), [0, 1]).kind == "image"
    assert Dataset.from_arrays(np.zeros((2, 5)), [0, 0], n_classes=3).n_classes == 3
    with pytest.raises(InputError, match=r"X must hold finite numbers; X\[1, 0\]"):
        Dataset.from_arrays(np.array([[0.0], [np.inf]]), [0, 1])
    with pytest.raises(InputError, match="ids must be unique.*'a' appears 2 times"):
        Dataset.from_arrays(np.zeros((3, 2)), [0, 1, 0], ids=["a", "b", "a"])
    with pytest.raises(InputError, match="X must be a 2-d"):
        Dataset.from_arrays(np.zeros(3), [0, 1, 0])


# ------------------------------------------------------------------ Dataset.ids


def test_dataset_ids_are_checked_and_carried():
    base = dict(name="t", X=np.zeros((3, 2)), y=[0, 1, 0], n_classes=2, kind="tabular")
    d = Dataset(**base, ids=np.array([5, 6, 7], dtype=np.int32))
    assert d.ids.dtype == np.int64 and d.subset([2, 0]).ids.tolist() == [7, 5]
    with pytest.raises(InputError, match="ids must be a 1-d array of 3"):
        Dataset(**base, ids=[1, 2])
    with pytest.raises(InputError, match="ids must be unique"):
        Dataset(**base, ids=[1, 2, 1])
    with pytest.raises(InputError, match="ids must be record ids"):
        Dataset(**base, ids=[0.5, 1.5, 2.5])
    with pytest.raises(InputError, match="distinct"):
        d.subset([0, 0])  # ids stay unique
    assert Dataset(**base).subset([0, 0]).ids is None  # without ids, repeats are still allowed
    assert Dataset(**base).sha256() == d.sha256()


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="records file not found: .*nope.csv"):
        Dataset.from_file(tmp_path / "nope.csv", label="y")


def test_unknown_extension(tmp_path):
    path = _write(tmp_path, "a,y\n1,0\n", "records.xlsx")
    with pytest.raises(InputError, match=r"path: 'records.xlsx' is not a records file.*\.csv, \.csv\.gz, "
                                         r"\.parquet, \.npz"):
        Dataset.from_file(path, label="y")


def test_missing_label_column_lists_the_columns(tmp_path):
    path = _write(tmp_path, GOLDEN)
    with pytest.raises(InputError, match="label: column 'salary' is not in records.csv; columns are pid, age, city, "
                                         "hours, income"):
        Dataset.from_file(path, label="salary")
    with pytest.raises(InputError, match="label: name the label column of records.csv"):
        Dataset.from_file(path)


def test_ids_not_unique_names_data_id_and_a_value(tmp_path):
    _write(tmp_path, GOLDEN.replace("p3,", "p1,"))
    config = _config(tmp_path, 'path = "records.csv"\nlabel = "income"\nid = "pid"\ncategorical = ["city"]\n'
                               'numeric = ["age", "hours"]\n')
    with pytest.raises(InputError, match=r"^data\.id: column 'pid' must hold one unique id per record; 'p1' "
                                         r"appears 2 times \(first at line 2"):
        load_configured_dataset(config.data)


def test_a_column_both_categorical_and_numeric(tmp_path):
    path = _write(tmp_path, GOLDEN)
    with pytest.raises(InputError, match="categorical: column 'age' is also in numeric"):
        Dataset.from_file(path, label="income", categorical=["city", "age"], numeric=["age", "hours"])


@pytest.mark.parametrize("content", ["", "  \n\n", "a,b,label\n"])
def test_empty_file(tmp_path, content):
    path = _write(tmp_path, content)
    with pytest.raises(InputError, match="is empty|holds no records"):
        Dataset.from_file(path, label="label")


def test_empty_parquet_file(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    pq.write_table(pa.table({"a": pa.array([], pa.float64()), "y": pa.array([], pa.int64())}), tmp_path / "e.parquet")
    with pytest.raises(InputError, match="holds no records"):
        Dataset.from_file(tmp_path / "e.parquet", label="y")
    (tmp_path / "z.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="z.parquet is empty"):
        Dataset.from_file(tmp_path / "z.parquet", label="y")


def test_text_in_an_unencoded_column(tmp_path):
    path = _write(tmp_path, GOLDEN)
    with pytest.raises(InputError, match=r"column 'pid' of records.csv holds text \('p1' at line 2\); with neither "
                                         r"categorical nor numeric given"):
        Dataset.from_file(path, label="income")
    with pytest.raises(InputError, match=r"numeric: column 'city' of records.csv holds text \('Lyon' at line 3\)"):
        Dataset.from_file(path, label="income", id="pid", numeric=["age", "city", "hours"])


@pytest.mark.parametrize("cell", ["", "NA", "NaN", " nan "])
def test_missing_values_are_refused_naming_column_and_count(tmp_path, cell):
    path = _write(tmp_path, GOLDEN.replace("p2,50,", f"p2,{cell},").replace("p4,20,", f"p4,{cell},"))
    with pytest.raises(InputError, match=r"missing values .* in column 'age' \(2, first at line 3\); mia-audit "
                                         r"does not impute"):
        Dataset.from_file(path, label="income", id="pid", categorical=["city"], numeric=["age", "hours"])


def test_missing_values_in_parquet_and_dataframes(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    df = _frame()
    df.loc[1, "hours"] = np.nan
    df.loc[2, "city"] = None
    with pytest.raises(InputError, match=r"^df: the DataFrame has missing values .* columns 'city' \(1, first at "
                                         r"row 2\), 'hours' \(1, first at row 1\)"):
        Dataset.from_frame(df, "income", id="pid", categorical=["city"], numeric=["age", "hours"])
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "m.parquet")
    with pytest.raises(InputError, match=r"m.parquet has missing values .*'city' \(1, first at row 2\)"):
        Dataset.from_file(tmp_path / "m.parquet", label="income", id="pid", categorical=["city"],
                          numeric=["age", "hours"])


def test_unlisted_columns_are_named_not_dropped(tmp_path):
    path = _write(tmp_path, GOLDEN)
    with pytest.raises(InputError, match=r"categorical / numeric: columns 'age', 'hours' of records.csv are in "
                                         r"neither list"):
        Dataset.from_file(path, label="income", id="pid", categorical=["city"])


def test_more_bad_options(tmp_path):
    path = _write(tmp_path, GOLDEN)
    with pytest.raises(InputError, match="categorical: column 'town' is not in records.csv"):
        Dataset.from_file(path, label="income", categorical=["town"])
    with pytest.raises(InputError, match="numeric: column 'income' is the label column"):
        Dataset.from_file(path, label="income", numeric=["income"])
    with pytest.raises(InputError, match="categorical: column 'pid' is the id column"):
        Dataset.from_file(path, label="income", id="pid", categorical=["pid"])
    with pytest.raises(InputError, match="id: column 'person' is not in records.csv"):
        Dataset.from_file(path, label="income", id="person")
    with pytest.raises(InputError, match="categorical must be a list of column names"):
        Dataset.from_file(path, label="income", categorical="city")
    one_class = _write(tmp_path, "a,y\n1,k\n2,k\n", "one.csv")
    with pytest.raises(InputError, match="label: column 'y' of one.csv holds one class \\('k'\\)"):
        Dataset.from_file(one_class, label="y")
    ragged = _write(tmp_path, "a,y\n1,0\n2,1,3\n", "ragged.csv")
    with pytest.raises(InputError, match="ragged.csv, line 3: 3 fields, the header has 2 columns"):
        Dataset.from_file(ragged, label="y")
    infinite = _write(tmp_path, "a,y\n1,0\ninf,1\n", "inf.csv")
    with pytest.raises(InputError, match=r"column 'a' of inf.csv holds 'inf' at line 3, not a finite number"):
        Dataset.from_file(infinite, label="y")


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "r.parquet").write_bytes(b"PAR1 not really")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=r"needs pyarrow; install it with pip install 'mia-audit\[data\]'"):
        Dataset.from_file(tmp_path / "r.parquet", label="y")


def test_a_damaged_parquet_file(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "r.parquet").write_bytes(b"PAR1 not really a parquet file")
    with pytest.raises(DataFileError, match="r.parquet is not a readable Parquet file"):
        Dataset.from_file(tmp_path / "r.parquet", label="y")


# ------------------------------------------------------------------ configuration


def _config(folder: Path, data: str, name: str = "audit.toml") -> AuditConfig:
    path = folder / name
    path.write_text("[data]\n" + data, encoding="utf-8")
    return AuditConfig.from_toml(path)


def test_config_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    (folder / "data").mkdir(parents=True)
    _write(folder / "data", GOLDEN)
    monkeypatch.chdir(tmp_path)
    config = _config(folder, 'path = "data/records.csv"\nlabel = "income"\nid = "pid"\ncategorical = ["city"]\n'
                             'numeric = ["age", "hours"]\ntest_size = 0.5\n')
    assert Path(config.data.path) == folder / "data" / "records.csv"
    assert config.data.name is None and config.data.label == "income"
    d = load_configured_dataset(config.data)
    assert np.array_equal(d.X, _golden(tmp_path).X) and d.name == "records"
    assert AuditConfig.from_dict(config.to_dict()) == config
    named = _config(folder, 'path = "data/records.csv"\nlabel = "income"\nname = "census sample"\nid = "pid"\n'
                            'categorical = ["city"]\nnumeric = ["age", "hours"]\n')
    assert load_configured_dataset(named.data).name == "census sample"


def test_config_by_name_still_loads_the_registered_data_set():
    config = AuditConfig(data=DataConfig(name="digits"))
    assert load_configured_dataset(config.data).sha256() == load_dataset("digits").sha256()
    assert DataConfig().name == "adult" and AuditConfig().data.name == "adult"


@pytest.mark.parametrize("data, match", [
    ('name = "adult"\nlabel = "income"\n', r"data\.label is read only with data\.path"),
    ('name = "adult"\npath = "r.csv"\nlabel = "income"\n', r"data\.name 'adult' is a registered data set, but data\.path"),
    ('path = "r.csv"\nlabel = "income"\ndata_dir = "x"\n', r"data\.data_dir .* with data\.path it is not used"),
    ('path = "r.txt"\nlabel = "income"\n', r"data\.path: 'r\.txt' is not a records file"),
    ('path = "r.csv"\n', r"data\.label: name the label column of r\.csv"),
    ('path = "r.csv"\nlabel = "y"\ncategorical = ["a"]\nnumeric = ["a"]\n', r"data\.categorical: column 'a' is also in data\.numeric"),
    ('path = "r.csv"\nlabel = "y"\nnumeric = "a"\n', r"data\.numeric must be a list of column names.*; got 'a'"),
])
def test_config_errors_name_the_keys(tmp_path, data, match):
    with pytest.raises(InputError, match=match):
        _config(tmp_path, data)


def test_a_missing_label_column_is_named_on_load(tmp_path):
    _write(tmp_path, "a,y\n1,0\n2,1\n")
    with pytest.raises(InputError, match=r"data\.label: column 'income' is not in records\.csv; columns are a, y"):
        load_configured_dataset(_config(tmp_path, 'path = "records.csv"\nlabel = "income"\n').data)
    with pytest.raises(DataFileError, match=r"data\.path: records file not found"):
        load_configured_dataset(_config(tmp_path, 'path = "missing.csv"\nlabel = "income"\n').data)


# ------------------------------------------------------------------ a real file


def test_cardio_through_path(tmp_path):
    env = os.environ.get("MIA_AUDIT_DATA")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    path = folder / "cardio_train.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not available (set MIA_AUDIT_DATA or provide <repo>/../shared/data)")
    d = Dataset.from_file(path, label="cardio", id="id", categorical=["cholesterol", "gluc", "gender"],
                          numeric=["age", "height", "weight", "ap_hi", "ap_lo", "smoke", "alco", "active"])
    assert len(d) == 70_000 and d.ids.size == 70_000 and d.name == "cardio_train"
    assert np.bincount(d.y).tolist() == [35_021, 34_979] and d.class_names == ["0", "1"]
    assert d.X.shape == (70_000, 8 + 3 + 3 + 2) and np.isfinite(d.X).all()
    np.testing.assert_allclose(d.X[:, :8].mean(axis=0), 0, atol=1e-4)
    assert d.meta["source"].startswith("cardio_train.csv.gz (sha256 ")
