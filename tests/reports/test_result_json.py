"""Result JSON: cleaning to plain JSON, atomic writes, loading with version checks."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from mia_audit.errors import DataFileError, InputError
from mia_audit.reports import SCHEMA_VERSION, load_result, write_json_atomic
from mia_audit.reports.result_json import dumps, schema, write_bytes_atomic


def _minimal(**extra):
    return {"schema_version": SCHEMA_VERSION, "results": [], **extra}


def test_dumps_turns_nan_and_inf_into_null():
    text = dumps({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float32("nan")})
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": None}
    assert "NaN" not in text and "Infinity" not in text


def test_dumps_turns_numpy_scalars_into_plain_numbers():
    value = {"i": np.int64(3), "f": np.float64(0.25), "f32": np.float32(0.5), "b": np.bool_(True),
             "u": np.uint8(7), "nested": [(np.int32(1), np.float16(2.0))], "zero_d": np.array(4.0)}
    back = json.loads(dumps(value))
    assert back == {"i": 3, "f": 0.25, "f32": 0.5, "b": True, "u": 7, "nested": [[1, 2.0]], "zero_d": 4.0}
    assert type(back["i"]) is int and type(back["b"]) is bool


def test_dumps_keys_become_text_and_output_ends_with_newline():
    text = dumps({1: "x", 0.001: "y"})
    assert json.loads(text) == {"1": "x", "0.001": "y"}
    assert text.endswith("\n")


def test_dumps_does_not_mutate_its_input():
    value = {"a": [float("nan"), np.int64(1)], "b": {"c": float("inf")}}
    snapshot = repr(value)
    dumps(value)
    assert repr(value) == snapshot


def test_write_json_atomic_leaves_no_temp_file(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "report.json", _minimal(x=np.float64(1.0)))
    assert path == tmp_path / "sub" / "report.json"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
    assert json.loads(path.read_text()) == _minimal(x=1.0)


def test_write_json_atomic_replaces_an_existing_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old content")
    inode_before = path.stat().st_ino
    write_json_atomic(path, _minimal(run=2))
    assert json.loads(path.read_text()) == _minimal(run=2)
    assert path.stat().st_ino != inode_before  # a new file renamed into place, not rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"old": true}')
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})  # not serialisable: fails before any write
    with pytest.raises(TypeError):
        write_bytes_atomic(path, "text, not bytes")  # fails while writing the temp file
    assert path.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_written_file_is_readable_by_others_as_umask_allows(tmp_path):
    """A report is a normal file (mode from the umask), not a private 0600 temp file."""
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "report.json", _minimal())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_load_result_round_trip(tmp_path):
    result = _minimal(data={"n": np.int64(5)}, auc=float("nan"))
    path = write_json_atomic(tmp_path / "r.json", result)
    assert load_result(path) == {"schema_version": 1, "results": [], "data": {"n": 5}, "auc": None}
    assert load_result(str(path))["schema_version"] == 1


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_load_result_refuses_other_schema_versions(tmp_path, version):
    path = tmp_path / "r.json"
    doc = {"results": []} if version is None else {"schema_version": version, "results": []}
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"schema_version must be 1; got") as err:
        load_result(path)
    assert str(path) in str(err.value)


def test_load_result_refuses_a_json_list(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"must be a result dictionary \(schema version 1\); got 'list'"):
        load_result(path)


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"schema_version": 1,}', b"\xff\xfe\x00"])
def test_load_result_refuses_invalid_json(tmp_path, content):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not valid JSON") as err:
        load_result(path)
    assert str(path) in str(err.value)


def test_load_result_missing_file(tmp_path):
    with pytest.raises(DataFileError) as err:
        load_result(tmp_path / "missing.json")
    assert "missing.json" in str(err.value)


def test_schema_is_loadable_and_pins_version_1():
    s = schema()
    assert s["properties"]["schema_version"] == {"const": 1}
    assert {"schema_version", "results", "models", "data"} <= set(s["required"])
