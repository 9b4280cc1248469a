"""Model adapters, mitigation wrappers, dispatch and model hashing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax

from mia_audit.adapters import (
    CallableAdapter,
    LabelOnly,
    ModelAdapter,
    SklearnAdapter,
    Temperature,
    TorchAdapter,
    XGBoostAdapter,
    as_adapter,
    model_sha256,
)
from mia_audit.errors import InputError
from mia_audit.models import build_model
from mia_audit.outputs import Outputs
from mia_audit.training import TrainRecipe, train_model


def _data(n=37, d=5, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)  # 3 classes
    return X, y


@pytest.fixture(scope="module")
def mlp():
    return build_model("mlp", input_shape=(5,), n_classes=3, seed=0, hidden=(16,), dropout=0.5)


@pytest.fixture(scope="module")
def xgb_model():
    X, y = _data(n=120)
    model = build_model("xgboost", input_shape=(5,), n_classes=3, seed=0, n_estimators=10, max_depth=2)
    return train_model(model, X, y, seed=0, device="cpu").model


# ---------------------------------------------------------------------------- torch


def test_torch_logits_match_manual_forward(mlp):
    X, _ = _data()
    adapter = TorchAdapter(mlp)
    outputs = adapter.predict(X)
    assert isinstance(outputs, Outputs) and outputs.kind == "logits" and adapter.n_classes == 3
    mlp.eval()
    with torch.no_grad():
        manual = mlp(torch.from_numpy(X)).double().numpy()
    np.testing.assert_allclose(outputs.values, manual, rtol=1e-6, atol=1e-6)
    assert outputs.values.dtype == np.float64


def test_batching_gives_the_same_result(mlp):
    X, _ = _data(n=50)
    adapter = TorchAdapter(mlp, batch_size=7)
    whole = adapter.predict(X, batch_size=1000).values
    np.testing.assert_allclose(adapter.predict(X).values, whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(adapter.predict(X, batch_size=1).values, whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(adapter.predict(torch.from_numpy(X), batch_size=13).values, whole, rtol=1e-6, atol=1e-7)


def test_torch_mode_restored_and_dropout_off(mlp):
    X, _ = _data()
    mlp.train()
    mlp.head.eval()  # a mixed state must come back exactly
    adapter = TorchAdapter(mlp)
    first = adapter.predict(X).values
    second = adapter.predict(X).values
    np.testing.assert_array_equal(first, second)  # dropout (p=0.5) was off
    assert mlp.training and mlp.features.training and not mlp.head.training
    assert all(p.grad is None for p in mlp.parameters())


def test_torch_inputs_unchanged(mlp):
    X, _ = _data()
    X_copy = X.copy()
    Xd = X.astype(np.float64)  # cast to the module dtype, original untouched
    TorchAdapter(mlp).predict(Xd)
    TorchAdapter(mlp).predict(X)
    np.testing.assert_array_equal(X, X_copy)


def test_torch_n_classes_inference_and_single_logit():
    plain = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5))
    assert TorchAdapter(plain).n_classes == 5
    binary = torch.nn.Linear(4, 1)
    adapter = TorchAdapter(binary)
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    out = adapter.predict(X)
    assert adapter.n_classes == 2 and out.values.shape == (6, 2)
    np.testing.assert_array_equal(out.values[:, 0], 0.0)
    with pytest.raises(InputError, match="n_classes"):
        TorchAdapter(torch.nn.ReLU())
    assert TorchAdapter(torch.nn.ReLU(), n_classes=4).n_classes == 4


def test_empty_input(mlp):
    out = TorchAdapter(mlp).predict(np.zeros((0, 5), np.float32))
    assert out.values.shape == (0, 3)
    assert LabelOnly(TorchAdapter(mlp)).predict(np.zeros((0, 5), np.float32)).values.shape == (0,)


# ---------------------------------------------------------------------------- wrappers


def test_label_only(mlp):
    X, _ = _data()
    raw = TorchAdapter(mlp)
    wrapped = LabelOnly(raw)
    out = wrapped.predict(X)
    assert isinstance(wrapped, ModelAdapter)
    assert out.kind == "labels" and wrapped.output_kind == "labels" and out.values.dtype == np.int64
    np.testing.assert_array_equal(out.values, np.argmax(raw.predict(X).values, axis=1))
    np.testing.assert_array_equal(wrapped.predict_labels(X), raw.predict_labels(X))
    assert wrapped.describe() == {"framework": "torch", "kind": "labels", "n_classes": 3, "wrappers": ["label-only"]}


def test_temperature_one_is_identity_in_probabilities(mlp):
    X, _ = _data()
    raw = TorchAdapter(mlp)
    p_raw = softmax(raw.predict(X).values, axis=1)
    p_t1 = softmax(Temperature(raw, 1.0).predict(X).values, axis=1)
    np.testing.assert_allclose(p_t1, p_raw, rtol=1e-12)


def test_temperature_flattens_and_keeps_argmax(mlp):
    X, _ = _data()
    raw = TorchAdapter(mlp)
    hot = Temperature(raw, 100.0)
    out = hot.predict(X)
    assert out.kind == "logits"
    p_raw, p_hot = softmax(raw.predict(X).values, axis=1), softmax(out.values, axis=1)
    assert p_hot.max(axis=1).max() < 1 / 3 + 0.01  # close to uniform
    assert np.all(p_hot.max(axis=1) <= p_raw.max(axis=1) + 1e-12)
    np.testing.assert_array_equal(hot.predict_labels(X), raw.predict_labels(X))
    np.testing.assert_allclose(out.values, raw.predict(X).values / 100.0)


def test_temperature_on_probs_uses_log_probs(xgb_model):
    X, _ = _data()
    raw = XGBoostAdapter(xgb_model)
    scaled = Temperature(raw, 1.0).predict(X)
    np.testing.assert_allclose(softmax(scaled.values, axis=1), raw.predict(X).values, rtol=1e-6, atol=1e-9)
    zeros = CallableAdapter(lambda x: np.tile([1.0, 0.0], (len(x), 1)), n_classes=2)
    assert np.all(np.isfinite(Temperature(zeros, 2.0).predict(X).values))  # p = 0 does not give -inf


@pytest.mark.parametrize("T", [0, -1.0, float("inf"), float("nan"), True, "2"])
def test_temperature_bad_values(mlp, T):
    with pytest.raises(InputError, match="T must be"):
        Temperature(TorchAdapter(mlp), T)


def test_temperature_refuses_label_only(mlp):
    with pytest.raises(InputError, match="labels only"):
        Temperature(LabelOnly(TorchAdapter(mlp)), 2.0)


def test_wrappers_stack_and_describe(mlp):
    adapter = LabelOnly(Temperature(mlp, 2))  # wrappers accept raw models too
    assert adapter.describe() == {
        "framework": "torch",
        "kind": "labels",
        "n_classes": 3,
        "wrappers": ["temperature(T=2)", "label-only"],
    }
    assert "label-only" in repr(adapter)


# ---------------------------------------------------------------------------- xgboost and sklearn


def test_xgboost_probs_sum_to_one(xgb_model):
    X, _ = _data()
    out = XGBoostAdapter(xgb_model).predict(X, batch_size=10)
    assert out.kind == "probs" and out.values.shape == (len(X), 3)
    np.testing.assert_allclose(out.values.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out.values, xgb_model.predict_proba(X), rtol=1e-6)


def test_xgboost_booster_binary_gets_two_columns():
    import xgboost

    X, y = _data(n=80)
    y = (y > 0).astype(int)
    clf = build_model("xgboost", input_shape=(5,), n_classes=2, seed=0, n_estimators=5)
    booster = train_model(clf, X, y, seed=0, device="cpu").model.get_booster()
    adapter = as_adapter(booster)
    assert isinstance(adapter, XGBoostAdapter) and adapter.n_classes == 2
    out = adapter.predict(X)
    p = booster.predict(xgboost.DMatrix(X))
    np.testing.assert_allclose(out.values, np.stack([1 - p, p], axis=1), rtol=1e-6)


def test_xgboost_multiclass_booster_probs(xgb_model):
    X, _ = _data()
    out = as_adapter(xgb_model.get_booster()).predict(X)
    np.testing.assert_allclose(out.values, xgb_model.predict_proba(X), rtol=1e-6)


def test_xgboost_unfitted_is_an_error():
    model = build_model("xgboost", input_shape=(5,), n_classes=3, seed=0)
    with pytest.raises(InputError, match="not fitted"):
        XGBoostAdapter(model)


def test_sklearn_adapter():
    from sklearn.linear_model import LogisticRegression

    X, y = _data(n=90)
    est = LogisticRegression(max_iter=500).fit(X, y)
    adapter = as_adapter(est)
    assert isinstance(adapter, SklearnAdapter) and adapter.n_classes == 3
    out = adapter.predict(X, batch_size=20)
    np.testing.assert_allclose(out.values, est.predict_proba(X))
    bad = LogisticRegression().fit(X, y + 1)
    with pytest.raises(InputError, match="0..C-1"):
        SklearnAdapter(bad)
    with pytest.raises(InputError, match="not fitted"):
        SklearnAdapter(LogisticRegression())


# ---------------------------------------------------------------------------- callables


def test_callable_returning_labels_and_probs():
    X, _ = _data()
    calls = []

    def probs(batch):
        calls.append(len(batch))
        assert isinstance(batch, np.ndarray)
        z = np.stack([batch[:, 0], -batch[:, 0]], axis=1)
        return softmax(z, axis=1)

    adapter = CallableAdapter(probs, n_classes=2, returns="probs", batch_size=10)
    out = adapter.predict(X)
    assert out.kind == "probs" and out.values.shape == (len(X), 2)
    assert calls == [10, 10, 10, 7]
    labels = CallableAdapter(lambda b: (b[:, 0] < 0).astype(int), n_classes=2, returns="labels")
    np.testing.assert_array_equal(labels.predict(X).values, out.predicted_labels())
    assert labels.describe()["framework"] == "callable" and model_sha256(labels) is None


def test_callable_row_count_mismatch():
    X, _ = _data(n=12)
    adapter = CallableAdapter(lambda b: np.full((len(b) - 1, 2), 0.5), n_classes=2, batch_size=5)
    with pytest.raises(InputError) as info:
        adapter.predict(X)
    assert "4 rows" in str(info.value) and "5 records" in str(info.value)


def test_callable_bad_outputs_caught_by_outputs():
    X, _ = _data(n=6)
    with pytest.raises(InputError, match="finite"):
        CallableAdapter(lambda b: np.full((len(b), 2), np.nan), n_classes=2, returns="logits").predict(X)
    with pytest.raises(InputError, match="sum to 1"):
        CallableAdapter(lambda b: np.full((len(b), 2), 0.7), n_classes=2).predict(X)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        CallableAdapter(lambda b: np.full(len(b), 3), n_classes=2, returns="labels").predict(X)


def test_callable_bad_arguments():
    with pytest.raises(InputError, match="returns"):
        CallableAdapter(lambda b: b, n_classes=2, returns="scores")
    with pytest.raises(InputError, match="n_classes"):
        CallableAdapter(lambda b: b, n_classes=1)
    with pytest.raises(InputError, match="batch_size"):
        CallableAdapter(lambda b: b, n_classes=2, batch_size=0)
    with pytest.raises(InputError, match="n_classes is required"):
        as_adapter(lambda b: b)


# ---------------------------------------------------------------------------- dispatch and hashing


def test_as_adapter_dispatch(mlp, xgb_model):
    torch_adapter = as_adapter(mlp)
    assert isinstance(torch_adapter, TorchAdapter)
    assert as_adapter(torch_adapter) is torch_adapter
    assert isinstance(as_adapter(xgb_model), XGBoostAdapter)
    assert isinstance(as_adapter(lambda b: b, n_classes=3, returns="logits"), CallableAdapter)
    with pytest.raises(InputError, match="does not match"):
        as_adapter(torch_adapter, n_classes=4)
    with pytest.raises(InputError, match="model must be"):
        as_adapter(42)
    X, y = _data()
    result = train_model(mlp, X, y, TrainRecipe(epochs=1), seed=0)
    assert isinstance(as_adapter(result), TorchAdapter)


def test_model_sha256(mlp, xgb_model):
    a = build_model("mlp", input_shape=(5,), n_classes=3, seed=0, hidden=(16,), dropout=0.5)
    b = build_model("mlp", input_shape=(5,), n_classes=3, seed=1, hidden=(16,), dropout=0.5)
    digest = model_sha256(a)
    assert isinstance(digest, str) and len(digest) == 64
    assert digest == model_sha256(mlp) == model_sha256(LabelOnly(Temperature(a, 3.0)))
    assert digest != model_sha256(b)
    xgb_digest = model_sha256(xgb_model)
    assert len(xgb_digest) == 64 and xgb_digest == model_sha256(as_adapter(xgb_model))
    assert xgb_digest == model_sha256(xgb_model.get_booster())
    assert model_sha256(lambda b: b) is None
    with pytest.raises(InputError, match="unfitted"):
        model_sha256(build_model("xgboost", input_shape=(5,), n_classes=3, seed=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_adapter_on_cuda(mlp):
    import copy

    X, _ = _data()
    gpu = copy.deepcopy(mlp).to("cuda")
    out = TorchAdapter(gpu).predict(X)
    np.testing.assert_allclose(out.values, TorchAdapter(mlp).predict(X).values, rtol=1e-4, atol=1e-5)
    assert model_sha256(gpu) == model_sha256(mlp)


def test_read_only_inputs_work_without_warnings(mlp):
    import warnings

    X, y = _data()
    X.setflags(write=False)
    y.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TorchAdapter(mlp).predict(X)
        train_model(mlp, X, y, TrainRecipe(epochs=1), seed=0)


# ---------------------------------------------------------------------------- frameworks


def _naive_numpy(a, float32=False):
    if isinstance(a, torch.Tensor):
        t = a.detach().cpu()
        if t.is_floating_point() and (float32 or t.dtype == torch.bfloat16):
            t = t.to(torch.float32)
        return t.numpy().copy()
    return np.array(a)


@pytest.mark.parametrize("float32", [False, True])
def test_frameworks_to_numpy_matches_a_naive_conversion(float32):
    from mia_audit.frameworks import to_numpy

    gen = torch.Generator().manual_seed(0)
    values = [
        torch.randn(7, 3, generator=gen, dtype=torch.float64),
        torch.randn(7, 3, generator=gen),
        torch.randn(7, 3, generator=gen).half(),
        torch.randn(7, 3, generator=gen).bfloat16(),
        torch.randn(7, 3, generator=gen).requires_grad_(),
        torch.randn(3, 7, generator=gen).t(),  # not contiguous
        torch.randint(0, 9, (7,), generator=gen),
        torch.tensor([True, False]),
        np.arange(12, dtype=np.float64).reshape(4, 3),
        np.arange(5, dtype=np.int32),
        [[1.5, 2.0], [3.0, -0.0]],
        [1, 2, 3],
        3.25,
    ]
    for a in values:
        got, want = to_numpy(a, float32=float32), _naive_numpy(a, float32)
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype and got.shape == want.shape, type(a)
        np.testing.assert_array_equal(got, want)
    arr = np.ones(3)
    assert to_numpy(arr) is arr  # numpy arrays are not copied


def test_frameworks_detection(mlp, xgb_model):
    from sklearn.linear_model import LogisticRegression

    from mia_audit.frameworks import is_sklearn_classifier, is_tensor, is_torch_module, is_xgboost, to_tensor

    assert is_torch_module(mlp) and not is_torch_module(xgb_model) and not is_torch_module(np.ones(2))
    assert is_tensor(torch.ones(2)) and not is_tensor(np.ones(2)) and not is_tensor(mlp)
    assert is_xgboost(xgb_model) and is_xgboost(xgb_model.get_booster()) and not is_xgboost(mlp)
    assert is_sklearn_classifier(LogisticRegression()) and not is_sklearn_classifier(mlp)
    t = torch.ones(2)
    assert to_tensor(t) is t
    arr = np.arange(3.0)
    assert to_tensor(arr).data_ptr() == torch.from_numpy(arr).data_ptr()  # shared where writable
    assert to_tensor(arr, copy=True).data_ptr() != torch.from_numpy(arr).data_ptr()
    arr.setflags(write=False)
    np.testing.assert_array_equal(to_tensor(arr).numpy(), arr)


def test_frameworks_and_adapters_import_without_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import mia_audit.frameworks as f\n"
        "assert 'torch' not in sys.modules, 'mia_audit.frameworks imported torch'\n"
        "import numpy as np\n"
        "assert not f.is_torch_module(object()) and not f.is_tensor([1]) and not f.is_xgboost(1)\n"
        "assert f.to_numpy([1, 2]).tolist() == [1, 2]\n"
        "import mia_audit.adapters as a\n"
        "a.as_adapter(lambda b: np.full((len(b), 2), 0.5), n_classes=2).predict(np.zeros((3, 1)))\n"
        "assert 'torch' not in sys.modules, 'mia_audit.adapters imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_wrapper_transform_is_what_predict_releases(mlp):
    from mia_audit.adapters import OutputNoise, Rounding, TopK

    X, _ = _data()
    raw = TorchAdapter(mlp)
    for wrapper in (LabelOnly(raw), Temperature(raw, 2.0), TopK(raw, k=2), Rounding(raw, decimals=1),
                    OutputNoise(raw, sigma=0.2, seed=3)):
        released = wrapper.transform(raw.predict(X), X)
        expected = wrapper.predict(X)
        assert released.kind == expected.kind
        np.testing.assert_array_equal(released.values, expected.values)
