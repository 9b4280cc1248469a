"""Record files are checked at load time: finite float32 features, honest .npz headers, a named label column."""

import io
import re
import zipfile

import numpy as np
import pytest

from mia_audit.errors import DataFileError, InputError
from mia_audit.record_files import load_records


def one_line(exc_info):
    text = str(exc_info.value)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize("value, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf"),
                                          (1e39, "1e+39, beyond float32 range")])
def test_npz_features_must_be_finite_float32(tmp_path, value, shown):
    X = np.arange(20, dtype=np.float64).reshape(5, 4)
    X[3, 2] = value
    np.savez(tmp_path / "r.npz", X=X, y=np.zeros(5, int))
    with pytest.raises(InputError) as info:
        load_records(tmp_path / "r.npz")
    text = one_line(info)
    assert "r.npz" in text and re.search(rf"X\[3, 2\] \(row 3, column 2\) is {re.escape(shown)};", text), text
    assert "finite numbers with |x| <= 3.403e+38 (1 such values)" in text


def test_images_name_the_row_and_the_position(tmp_path):
    X = np.zeros((4, 1, 3, 3), np.float32)
    X[2, 0, 1, 2] = np.nan
    X[3, 0, 0, 0] = np.inf
    np.savez(tmp_path / "img.npz", X=X, y=np.zeros(4, int))
    with pytest.raises(InputError, match=r"X\[2, 0, 1, 2\] \(row 2, column \(0, 1, 2\)\) is nan; .*\(2 such values\)"):
        load_records(tmp_path / "img.npz")


def test_integer_and_float32_extremes_are_accepted(tmp_path):
    X = np.array([[np.finfo(np.float32).max, -np.finfo(np.float32).max], [0.0, 1e-45]])
    np.savez(tmp_path / "edge.npz", X=X, y=np.array([0, 1]))
    Xl, _ = load_records(tmp_path / "edge.npz")
    assert np.all(np.isfinite(Xl)) and Xl.dtype == np.float32
    np.savez(tmp_path / "ints.npz", X=np.array([[2**62, -3]], np.int64), y=np.array([1]))
    assert np.isfinite(load_records(tmp_path / "ints.npz")[0]).all()


@pytest.mark.parametrize("cell, problem", [("nan", "not finite"), ("inf", "not finite"), ("-Infinity", "not finite"),
                                           ("1e39", "beyond float32 range")])
def test_csv_features_must_be_finite_float32(tmp_path, cell, problem):
    (tmp_path / "r.csv").write_text(f"a,b,label\n1,2,0\n3,4,1\n5,{cell},0\n")
    with pytest.raises(InputError) as info:
        load_records(tmp_path / "r.csv")
    text = one_line(info)
    assert "r.csv, line 4 (record 2), column 'b'" in text and f"'{cell}' is {problem}" in text, text


def _npz_with_header(path, shape, dtype="<f8", data=b"\0" * 48, y_rows=None):
    """An .npz whose X.npy header says ``shape`` but holds only ``data``."""
    from numpy.lib import format as npy

    head = io.BytesIO()
    npy.write_array_header_1_0(head, {"descr": dtype, "fortran_order": False, "shape": shape})
    y = io.BytesIO()
    np.save(y, np.zeros(shape[0] if y_rows is None else y_rows, np.int64))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", head.getvalue() + data)  # the header includes the magic string
        archive.writestr("y.npy", y.getvalue())


def test_an_oversized_npz_header_is_refused_before_any_allocation(tmp_path):
    import tracemalloc

    _npz_with_header(tmp_path / "huge.npz", (10**12, 3), y_rows=2)
    with pytest.raises(DataFileError) as info:
        load_records(tmp_path / "huge.npz")
    text = one_line(info)
    assert "huge.npz: the header of array 'X' claims shape (1000000000000, 3) of float64" in text, text
    assert "24,000,000,000,000 bytes) but the file holds 48 bytes of it; the file is damaged" in text
    # a claim small enough to be allocated (240 MB) shows that nothing is: numpy reports its buffers to tracemalloc
    _npz_with_header(tmp_path / "big.npz", (10**7, 3), y_rows=2)
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match="claims shape"):
            load_records(tmp_path / "big.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_a_damaged_or_pickled_npz_header_is_refused(tmp_path):
    _npz_with_header(tmp_path / "short.npz", (4, 3))  # 96 bytes claimed, 48 present
    with pytest.raises(DataFileError, match=r"claims shape \(4, 3\) of float64 \(96 bytes\) but the file holds 48"):
        load_records(tmp_path / "short.npz")
    with zipfile.ZipFile(tmp_path / "garbled.npz", "w") as archive:
        archive.writestr("X.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <<<<< }\n")
        archive.writestr("y.npy", b"")
    with pytest.raises(DataFileError, match="garbled.npz: the header of array 'X' is damaged"):
        load_records(tmp_path / "garbled.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([[{"a": 1}], [None]], dtype=object), y=np.zeros(2))
    with pytest.raises(DataFileError, match="obj.npz: array 'X' holds Python objects .*need pickle"):
        load_records(tmp_path / "obj.npz")


def test_the_csv_label_column_is_named_never_guessed(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,target\n0.5,2,1\n1.5,3,0\n")
    with pytest.raises(InputError) as info:
        load_records(tmp_path / "t.csv")
    text = one_line(info)
    assert "t.csv has no label column 'label'; its columns are ['a', 'b', 'target']" in text
    assert 'label = "..."' in text
    X, y = load_records(tmp_path / "t.csv", label="target")
    assert y.tolist() == [1, 0] and X.tolist() == [[0.5, 2.0], [1.5, 3.0]]
    X, y = load_records(tmp_path / "t.csv", label="b")  # any column can be the label column
    assert y.tolist() == [2, 3] and X.tolist() == [[0.5, 1.0], [1.5, 0.0]]
    (tmp_path / "dup.csv").write_text("label,a,label\n1,2,0\n")
    with pytest.raises(InputError, match="has 2 columns named 'label'; the label column must be one column"):
        load_records(tmp_path / "dup.csv")
    with pytest.raises(InputError, match="label must be the name of the label column"):
        load_records(tmp_path / "t.csv", label="")
