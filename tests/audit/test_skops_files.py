"""scikit-learn models saved with skops: loaded with an explicit allowlist, nothing else trusted.

The allowlist: classes of scikit-learn (at their own name), numpy scalar/dtype classes and
ufuncs. A prefix rule alone ("anything under numpy.") would let a crafted file run code:
skops calls a loaded constructor with arguments from the file, so the exploit tests below
write files that name ``numpy.save``, ``numpy.memmap`` and numpy's ``runstring`` (which
executes Python) and check that nothing runs.
"""

from __future__ import annotations

import builtins
import io
import json
import zipfile

import numpy as np
import pytest

sio = pytest.importorskip("skops.io")

from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from mia_audit.adapters import SklearnAdapter  # noqa: E402
from mia_audit.errors import DataFileError, InputError  # noqa: E402
from mia_audit.model_files import infer_kind, load_model_file  # noqa: E402
from mia_audit.skops_files import trusted_name  # noqa: E402


class TaggedForest(RandomForestClassifier):
    """A user's own subclass of a scikit-learn estimator: its type is not scikit-learn's."""


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("make", [lambda: RandomForestClassifier(n_estimators=10, random_state=0, n_jobs=1),
                                  lambda: LogisticRegression(max_iter=500),
                                  lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0)],
                         ids=["forest", "logistic", "hist-gb"])
def test_round_trip_is_bitwise_equal(tmp_path, data, make):
    X, y = data
    model = make().fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert infer_kind(path) == "skops"
    adapter = load_model_file(path)
    assert isinstance(adapter, SklearnAdapter) and adapter.n_classes == 3 and adapter.record_shape == (5,)
    np.testing.assert_array_equal(adapter.predict(X).values, SklearnAdapter(model).predict(X).values)
    np.testing.assert_array_equal(adapter.predict(X).values, model.predict_proba(X))
    with pytest.raises(InputError, match="n_classes 2 does not match"):
        load_model_file(path, n_classes=2)


def test_a_forest_needs_the_tree_type_and_gets_it():
    # skops does not trust Tree by default; mia-audit's rule does
    assert trusted_name("sklearn.tree._tree.Tree")


@pytest.mark.parametrize("name, trusted", [
    ("sklearn.tree._tree.Tree", True), ("sklearn.utils._bunch.Bunch", True), ("numpy.float64", True),
    ("numpy.log1p", True), ("scipy.special.expit", True),
    ("sklearn.utils.Bunch", False),       # an alias: only a class at its own name
    ("numpy.save", False), ("numpy.memmap", False), ("numpy.testing._private.utils.runstring", False),
    ("numpy.f2py.__main__.main", False), ("sklearn.utils._testing.TempMemmap", False),
    ("sklearn.datasets.fetch_openml", False), ("sklearn_extra.Evil", False), ("mypkg.Evil", False),
    ("builtins.eval", False), ("sklearn.nope.Nothing", False), ("os.system", False),
])
def test_the_trust_rule(name, trusted):
    assert trusted_name(name) is trusted


def test_a_custom_class_is_refused_by_name(tmp_path, data):
    X, y = data
    path = tmp_path / "model.skops"
    sio.dump(TaggedForest(n_estimators=3, random_state=0).fit(X, y), path)
    with pytest.raises(InputError) as exc:
        load_model_file(path)
    name = f"{__name__}.TaggedForest"
    assert _one_line(exc) == (f"target.model: {path} holds types mia-audit does not load: {name}; "
                              "only scikit-learn, numpy and scipy types are trusted")


def _json_node(value, i):
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True, "__id__": i}


def _crafted(path, module, name, args):
    """A skops file whose top object is ``module.name(*args)`` (skops' ConstructorFromReduceNode)."""
    content = [_json_node(a, 10 + i) for i, a in enumerate(args)]
    schema = {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
              "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                          "content": content, "__id__": 2},
              "__id__": 1, "protocol": 2, "_skops_version": "0.16.0"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    return path


@pytest.mark.parametrize("module, name, args", [
    ("numpy", "save", ["{out}", 7]),
    ("numpy", "memmap", ["{out}", "uint8", "w+", 0, [4]]),
    ("numpy.testing._private.utils", "runstring", ["open({out!r}, 'w').write('ran')", {}]),
], ids=["save", "memmap", "runstring"])
def test_crafted_constructor_calls_never_run(tmp_path, module, name, args):
    out = str(tmp_path / "written")
    filled = [a.format(out=out) if isinstance(a, str) else a for a in args]
    path = _crafted(tmp_path / "evil.skops", module, name, filled)
    assert sio.get_untrusted_types(file=path) == [f"{module}.{name}"]  # what a prefix rule would trust
    with pytest.raises(InputError, match=f"holds types mia-audit does not load: {module}.{name};"):
        load_model_file(path)
    assert list(tmp_path.iterdir()) == [path]  # nothing was written, nothing ran


def _with_tree_node(src, dst, field, value):
    """A copy of a skops DecisionTree file with one field of the root node changed."""
    with zipfile.ZipFile(src) as z:
        schema = json.loads(z.read("schema.json"))
        name = schema["content"]["content"]["tree_"]["content"]["content"]["nodes"]["file"]
        nodes = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
        nodes[0][field] = value
        buf = io.BytesIO()
        np.save(buf, nodes, allow_pickle=False)
        with zipfile.ZipFile(dst, "w") as out:
            for n in z.namelist():
                out.writestr(n, buf.getvalue() if n == name else z.read(n))
    return dst


@pytest.mark.parametrize("field, value, needle", [("left_child", 10**6, "child index"),
                                                  ("right_child", 0, "child index"),
                                                  ("feature", 99, "feature index")])
def test_a_tree_with_indices_out_of_range_is_refused(tmp_path, data, field, value, needle):
    X, y = data
    good = tmp_path / "tree.skops"
    sio.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), good)
    load_model_file(good)
    bad = _with_tree_node(good, tmp_path / "bad.skops", field, value)
    with pytest.raises(DataFileError, match=needle) as exc:
        load_model_file(bad)
    assert str(bad) in _one_line(exc)


def test_a_model_without_predict_proba_is_refused(tmp_path, data):
    X, y = data
    path = tmp_path / "reg.skops"
    sio.dump(LinearRegression().fit(X, y), path)
    with pytest.raises(InputError, match="LinearRegression, which has no predict_proba") as exc:
        load_model_file(path)
    assert str(path) in _one_line(exc)


@pytest.mark.parametrize("damage", ["random", "truncated", "empty", "not-a-schema"])
def test_corrupt_files_give_one_line_errors(tmp_path, data, damage):
    X, y = data
    good = tmp_path / "good.skops"
    sio.dump(LogisticRegression(max_iter=200).fit(X, y), good)
    bad = tmp_path / "bad.skops"
    if damage == "random":
        bad.write_bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("schema.json", "{not json")
    with pytest.raises(DataFileError, match="is not a readable skops file") as exc:
        load_model_file(bad)
    assert str(bad) in _one_line(exc)


def test_without_skops_the_error_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "m.skops"
    path.write_bytes(b"PK")
    real_import = builtins.__import__

    def no_skops(name, *args, **kwargs):
        if name == "skops" or name.startswith("skops."):
            raise ImportError("no skops")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skops)
    with pytest.raises(InputError, match=r"pip install 'mia-audit\[deploy\]'") as exc:
        load_model_file(path)
    assert str(path) in _one_line(exc)
