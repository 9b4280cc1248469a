"""Loading saved model files: torch state dicts, safetensors, XGBoost, ONNX; and record files."""

from __future__ import annotations

import builtins
import itertools
import os
import sys

import numpy as np
import pytest
import torch

from mia_audit.adapters import TorchAdapter, XGBoostAdapter
from mia_audit.errors import DataFileError, InputError
from mia_audit.model_files import BUILD_SIGNATURE, KINDS, file_sha256, infer_kind, load_model_file
from mia_audit.models import build_model
from mia_audit.record_files import load_records

F, C = 6, 3


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((40, F)).astype(np.float32)


def _mlp(seed=1):
    return build_model("mlp", input_shape=(F,), n_classes=C, seed=seed, hidden=(8,))


def _garbage(path, n=300):
    path.write_bytes(np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


def _truncated(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# ---------------------------------------------------------------------------- torch


@pytest.fixture()
def state_file(tmp_path):
    net = _mlp()
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    return net, path


def test_torch_state_dict_round_trip(state_file, X):
    net, path = state_file
    adapter = load_model_file(path, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [8]},
                              device="cpu")
    assert isinstance(adapter, TorchAdapter)
    np.testing.assert_array_equal(adapter.predict(X).values, TorchAdapter(net).predict(X).values)
    # weights came from the file, not from build_model's seed 0
    fresh = TorchAdapter(build_model("mlp", input_shape=(F,), n_classes=C, seed=0, hidden=(8,)))
    assert not np.allclose(fresh.predict(X).values, adapter.predict(X).values)


def test_torch_requires_architecture(state_file):
    _, path = state_file
    with pytest.raises(InputError, match="architecture, input_shape"):
        load_model_file(path)


class Evil:
    """An arbitrary object: weights-only loading must refuse to rebuild it."""


def test_torch_never_unpickles_objects(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"w": torch.zeros(2), "obj": Evil()}, path)
    with pytest.raises(DataFileError, match="weights_only") as exc:
        load_model_file(path, architecture="mlp", input_shape=[F], n_classes=C)
    assert str(path) in _one_line(exc)


def test_torch_whole_module_is_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(_mlp(), path)
    with pytest.raises(DataFileError, match=str(path)):
        load_model_file(path, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [8]})


def test_state_dict_mismatch_names_the_key(state_file, tmp_path):
    net, path = state_file
    with pytest.raises(InputError, match=r"key 'features\.0\.weight' has shape \(8, 6\), the architecture expects \(16, 6\)") as exc:
        load_model_file(path, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [16]})
    assert str(path) in _one_line(exc)
    state = net.state_dict()
    first = next(iter(state))
    missing = tmp_path / "missing.pt"
    torch.save({k: v for k, v in state.items() if k != first}, missing)
    with pytest.raises(InputError, match=f"missing key '{first}'"):
        load_model_file(missing, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [8]})
    extra = tmp_path / "extra.pt"
    torch.save({**state, "extra.bias": torch.zeros(3)}, extra)
    with pytest.raises(InputError, match="unexpected key 'extra.bias'"):
        load_model_file(extra, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [8]})


def test_state_dict_key_names(state_file):
    # the mismatch test above relies on the MLP's first key; fail loudly if it is renamed
    net, _ = state_file
    assert "features.0.weight" in net.state_dict()


# ---------------------------------------------------------------------------- torch: the user's build


def build_two_layer(input_shape, n_classes):
    return TwoLayer(input_shape[0], n_classes)


@pytest.fixture()
def own_state(tmp_path):
    torch.manual_seed(5)
    net = TwoLayer(F, C).eval()
    with torch.no_grad():
        net.scale.fill_(2.0)
    path = tmp_path / "own.pt"
    torch.save(net.state_dict(), path)
    return net, path


_module_ids = itertools.count()


@pytest.fixture()
def user_module(tmp_path):
    """Writes a uniquely named module into tmp_path; forgets it (sys.modules) afterwards."""
    names = []

    def write(source: str) -> str:
        name = f"own_net_{os.getpid()}_{next(_module_ids)}"
        (tmp_path / f"{name}.py").write_text(source)
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


OWN_NET_SOURCE = """
import torch

class TwoLayer(torch.nn.Module):
    def __init__(self, n_in, n_classes, hidden=7):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh())
        self.head = torch.nn.Linear(hidden, n_classes)
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale

def build(input_shape, n_classes):
    return TwoLayer(input_shape[0], n_classes)
"""
_OWN_NET: dict = {}
exec(OWN_NET_SOURCE, _OWN_NET)  # the same network as a user's module file holds: one definition
TwoLayer = _OWN_NET["TwoLayer"]  # a network of the user's, not of the zoo


def test_build_callable_round_trip(own_state, X):
    net, path = own_state
    before = torch.random.get_rng_state()
    adapter = load_model_file(path, build=build_two_layer, input_shape=[F], n_classes=C, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), before)  # build ran under a forked RNG
    assert isinstance(adapter, TorchAdapter) and isinstance(adapter.module, TwoLayer)
    np.testing.assert_array_equal(adapter.predict(X).values, TorchAdapter(net).predict(X).values)
    assert float(adapter.module.scale) == 2.0  # buffers come from the file too


def test_build_spec_found_in_base_dir(own_state, tmp_path, X, user_module):
    net, path = own_state
    name = user_module(OWN_NET_SOURCE)
    adapter = load_model_file(path, build=f"{name}:build", base_dir=tmp_path, input_shape=[F], n_classes=C,
                              device="cpu", params={"batch_size": 16})
    assert adapter.batch_size == 16  # same batches, same floats
    np.testing.assert_array_equal(adapter.predict(X).values, TorchAdapter(net, batch_size=16).predict(X).values)
    assert name not in os.listdir(os.getcwd()) and str(tmp_path) not in sys.path  # searched only while importing
    st = pytest.importorskip("safetensors.torch")
    sf = tmp_path / "own.safetensors"
    st.save_file(net.state_dict(), str(sf))
    adapter = load_model_file(sf, build=f"{name}:build", base_dir=tmp_path, input_shape=[F], n_classes=C,
                              device="cpu")
    np.testing.assert_array_equal(adapter.predict(X).values, TorchAdapter(net).predict(X).values)


def test_build_never_unpickles(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"body.0.weight": torch.zeros(7, F), "obj": Evil()}, path)
    with pytest.raises(DataFileError, match="weights_only"):
        load_model_file(path, build=build_two_layer, input_shape=[F], n_classes=C)


def test_build_and_architecture_are_exclusive(own_state):
    _, path = own_state
    with pytest.raises(InputError, match="target.architecture and target.build are exclusive") as exc:
        load_model_file(path, build=build_two_layer, architecture="mlp", input_shape=[F], n_classes=C)
    assert str(path) in _one_line(exc)


def test_build_needs_shape_and_classes_and_only_batch_size(own_state):
    _, path = own_state
    with pytest.raises(InputError, match="needs input_shape, n_classes to rebuild"):
        load_model_file(path, build=build_two_layer)
    with pytest.raises(InputError, match="needs architecture, input_shape, n_classes.*or build: your own function"):
        load_model_file(path)
    with pytest.raises(InputError, match="target.params: with build only batch_size applies.*got hidden"):
        load_model_file(path, build=build_two_layer, input_shape=[F], n_classes=C, params={"hidden": [8]})


def test_build_mismatch_lists_a_few_keys(tmp_path, own_state):
    net, _ = own_state
    state = net.state_dict()
    wide = tmp_path / "wide.pt"
    torch.save({k: (torch.zeros(7, F + 1) if k == "body.0.weight" else v) for k, v in state.items()}, wide)
    with pytest.raises(InputError) as exc:
        load_model_file(wide, build=build_two_layer, input_shape=[F], n_classes=C)
    assert _one_line(exc) == (f"model file {wide} does not match build "
                              f"'{__name__}:build_two_layer': key 'body.0.weight' has shape (7, 7), the build "
                              "expects (7, 6)")
    other = tmp_path / "other.pt"
    torch.save({f"layer{i}.weight": torch.zeros(2) for i in range(5)}, other)
    with pytest.raises(InputError) as exc:
        load_model_file(other, build=build_two_layer, input_shape=[F], n_classes=C)
    text = _one_line(exc)
    assert "missing keys 'scale', 'body.0.weight', 'body.0.bias' and 2 more" in text  # state_dict order
    assert "unexpected keys 'layer0.weight', 'layer1.weight', 'layer2.weight' and 2 more" in text


def test_build_failures_are_one_line_input_errors(own_state, tmp_path, user_module):
    _, path = own_state
    opts = {"input_shape": [F], "n_classes": C}

    def raises(input_shape, n_classes):
        raise ValueError("no such\nlayer")

    with pytest.raises(InputError, match=r"target.build: .*raises raised ValueError: no such layer") as exc:
        load_model_file(path, build=raises, **opts)
    _one_line(exc)
    with pytest.raises(InputError, match=r"returned a dict, not a torch.nn.Module"):
        load_model_file(path, build=lambda input_shape, n_classes: {}, **opts)
    with pytest.raises(InputError, match=r"\(\) cannot be called as " + r"build\(input_shape, n_classes\)"):
        load_model_file(path, build=lambda: TwoLayer(F, C), **opts)
    assert BUILD_SIGNATURE == "build(input_shape, n_classes) -> torch.nn.Module"
    with pytest.raises(InputError, match=r"target.build: cannot import module 'no_such_module_xyz'"):
        load_model_file(path, build="no_such_module_xyz:build", base_dir=tmp_path, **opts)
    with pytest.raises(InputError, match=r'target.build must be "package.module:function"'):
        load_model_file(path, build="just_a_name", **opts)
    broken = user_module("import torch\nraise RuntimeError('broken at import')\n")
    with pytest.raises(InputError, match=f"target.build: importing '{broken}' failed: RuntimeError"):
        load_model_file(path, build=f"{broken}:build", base_dir=tmp_path, **opts)
    with pytest.raises(InputError, match=r"target.build rebuilds a torch network.*is xgboost"):
        load_model_file(_garbage(tmp_path / "m.json"), build=build_two_layer)


# ---------------------------------------------------------------------------- xgboost


@pytest.fixture(scope="module")
def xgb_model(X):
    xgboost = pytest.importorskip("xgboost")
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1, random_state=0).fit(X, y)


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_round_trip(tmp_path, xgb_model, X, suffix):
    path = tmp_path / f"model{suffix}"
    xgb_model.save_model(path)
    adapter = load_model_file(path)
    assert isinstance(adapter, XGBoostAdapter) and adapter.n_classes == C
    np.testing.assert_allclose(adapter.predict(X).values, xgb_model.predict_proba(X), rtol=0, atol=1e-7)
    with pytest.raises(InputError, match="n_classes 2 does not match"):
        load_model_file(path, n_classes=2)


def test_xgboost_booster_file(tmp_path, xgb_model, X):
    path = tmp_path / "booster.json"
    xgb_model.get_booster().save_model(path)
    np.testing.assert_allclose(load_model_file(path).predict(X).values, xgb_model.predict_proba(X), atol=1e-7)


# ---------------------------------------------------------------------------- onnx


def _onnx_linear(path, *, softmax: bool):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    W = rng.standard_normal((F, C)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]),
             helper.make_node("Add", ["xw", "b"], ["logits" if softmax else "y"])]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["y"], axis=1))
    graph = helper.make_graph(
        nodes, "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", F])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", C])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return W, b


@pytest.mark.parametrize("softmax", [False, True])
def test_onnx_round_trip(tmp_path, X, softmax):
    pytest.importorskip("onnxruntime")
    path = tmp_path / "model.onnx"
    W, b = _onnx_linear(path, softmax=softmax)
    adapter = load_model_file(path)
    assert adapter.n_classes == C
    assert adapter.output_kind == ("probs" if softmax else "logits")
    logits = X.astype(np.float64) @ W + b
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True) if softmax else logits
    np.testing.assert_allclose(adapter.predict(X).values, expected, rtol=1e-4, atol=1e-5)


def test_onnx_missing_runtime_names_the_extra(tmp_path, monkeypatch):
    path = _garbage(tmp_path / "m.onnx")
    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(InputError, match="pip install onnxruntime"):
        load_model_file(path)


def test_safetensors_missing_package_or_round_trip(tmp_path, X, monkeypatch):
    net = _mlp()
    path = tmp_path / "model.safetensors"
    try:
        from safetensors.torch import save_file
    except ImportError:
        path.write_bytes(b"\0" * 16)
        with pytest.raises(InputError, match="pip install safetensors"):
            load_model_file(path, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [8]})
        return
    save_file(net.state_dict(), str(path))
    # on the CPU like the reference net (device "auto" would compare CUDA with CPU outputs bitwise)
    adapter = load_model_file(path, architecture="mlp", input_shape=[F], n_classes=C, params={"hidden": [8]},
                              device="cpu")
    np.testing.assert_array_equal(adapter.predict(X).values, TorchAdapter(net).predict(X).values)


# ---------------------------------------------------------------------------- broken files, every kind


def _real_file(kind, tmp_path, xgb_factory):
    if kind == "torch-state-dict":
        path = tmp_path / "real.pt"
        torch.save(_mlp().state_dict(), path)
        return path, {"architecture": "mlp", "input_shape": [F], "n_classes": C, "params": {"hidden": [8]}}
    if kind == "safetensors":
        st = pytest.importorskip("safetensors.torch")
        path = tmp_path / "real.safetensors"
        st.save_file(_mlp().state_dict(), str(path))
        return path, {"architecture": "mlp", "input_shape": [F], "n_classes": C, "params": {"hidden": [8]}}
    if kind == "xgboost":
        path = tmp_path / "real.json"
        xgb_factory().save_model(path)
        return path, {}
    if kind == "skops":
        sio = pytest.importorskip("skops.io")
        from sklearn.linear_model import LogisticRegression

        path = tmp_path / "real.skops"
        rng = np.random.default_rng(2)
        sio.dump(LogisticRegression().fit(rng.standard_normal((30, F)), np.arange(30) % C), path)
        return path, {}
    pytest.importorskip("onnxruntime")
    path = tmp_path / "real.onnx"
    _onnx_linear(path, softmax=False)
    return path, {}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_broken_files_give_one_line_errors(kind, damage, tmp_path, request):
    real, options = _real_file(kind, tmp_path, lambda: request.getfixturevalue("xgb_model"))
    bad = tmp_path / f"bad{real.suffix}"
    if damage == "random":
        _garbage(bad)
    else:
        _truncated(real, bad)
    with pytest.raises(DataFileError) as exc:
        load_model_file(bad, **options)
    assert str(bad) in _one_line(exc)


def test_missing_file_and_unknown_kind(tmp_path):
    with pytest.raises(DataFileError, match="not found.*nope.pt"):
        load_model_file(tmp_path / "nope.pt", architecture="mlp", input_shape=[F], n_classes=C)
    with pytest.raises(InputError, match="torch-state-dict, safetensors, xgboost, onnx, skops"):
        load_model_file(tmp_path / "x.bin")
    with pytest.raises(InputError, match="torch-state-dict, safetensors, xgboost, onnx, skops"):
        load_model_file(tmp_path / "x.pt", kind="pickle")
    assert infer_kind(tmp_path / "m.skops") == "skops" and infer_kind(tmp_path / "M.SKOPS") == "skops"


def test_file_sha256(tmp_path):
    import hashlib

    p = tmp_path / "f.bin"
    p.write_bytes(b"abc" * 1000)
    assert file_sha256(p) == hashlib.sha256(b"abc" * 1000).hexdigest()


# ---------------------------------------------------------------------------- record files


def test_records_npz_and_csv(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    y = np.array([0, 1, 1, 0])
    np.savez(tmp_path / "r.npz", X=X, y=y)
    Xn, yn = load_records(tmp_path / "r.npz")
    np.testing.assert_array_equal(Xn, X.astype(np.float32))
    assert Xn.dtype == np.float32 and yn.dtype == np.int64 and yn.tolist() == y.tolist()

    (tmp_path / "last.csv").write_text("a,b,c,target\n" + "".join(
        ",".join(repr(float(v)) for v in X[i]) + f",{y[i]}\n" for i in range(4)))
    Xc, yc = load_records(tmp_path / "last.csv", label="target")  # named: the last column is never assumed
    np.testing.assert_array_equal(Xc, Xn)
    assert yc.tolist() == y.tolist()
    (tmp_path / "named.csv").write_text("label,a,b\n1,0.5,2\n0,1.5,3\n")
    Xl, yl = load_records(tmp_path / "named.csv")
    assert yl.tolist() == [1, 0] and Xl.tolist() == [[0.5, 2.0], [1.5, 3.0]]


def test_records_errors(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        load_records(tmp_path / "none.npz")
    np.savez(tmp_path / "noy.npz", X=np.zeros((2, 2)))
    with pytest.raises(InputError, match="no array 'y'"):
        load_records(tmp_path / "noy.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(InputError, match="obj.npz"):
        load_records(tmp_path / "obj.npz")
    (tmp_path / "text.csv").write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(InputError, match=r"line 3, column 'b': 'x' is not a number"):
        load_records(tmp_path / "text.csv")
    (tmp_path / "short.csv").write_text("a,b,label\n1,2\n")
    with pytest.raises(InputError, match="line 2: 2 values"):
        load_records(tmp_path / "short.csv")
    (tmp_path / "frac.csv").write_text("a,label\n1,0.5\n")
    with pytest.raises(InputError, match="whole numbers"):
        load_records(tmp_path / "frac.csv")
    _garbage(tmp_path / "junk.npz")
    with pytest.raises(DataFileError, match="junk.npz"):
        load_records(tmp_path / "junk.npz")
