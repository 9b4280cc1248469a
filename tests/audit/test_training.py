"""train_model, TrainRecipe, recipe_for, flip_crop and device resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mia_audit.adapters import as_adapter
from mia_audit.device import model_device, resolve_device
from mia_audit.errors import InputError
from mia_audit.models import build_model
from mia_audit.training import TrainRecipe, TrainResult, augment_images, flip_crop, recipe_for, train_model

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    """Tiny models train faster on one thread, and much faster when the machine is busy
    (two spinning intra-op threads on a loaded 2-core box are up to 10x slower). The count
    is the suite's ``MIA_AUDIT_TEST_THREADS`` knob (default 1, see tests/conftest.py)."""
    from ..conftest import torch_threads_from_env

    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads_from_env())
    yield
    torch.set_num_threads(before)


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def _blobs(n=200, d=6, seed=0):
    gen = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = gen.normal(size=(n, d)) + 3.0 * y[:, None]
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    X = (data.images / 16.0).astype(np.float32)  # (n, 8, 8) in [0, 1]
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    return X[order], y[order]


# ---------------------------------------------------------------------------- device


def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps", "", 0, None, "cuda:-1"])
def test_resolve_device_bad_values(bad):
    with pytest.raises(InputError, match="device"):
        resolve_device(bad)


@pytest.mark.skipif(CUDA, reason="checks the no-GPU message")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_gpu_is_a_clear_error(name):
    with pytest.raises(InputError) as info:
        resolve_device(name)
    assert str(info.value) == f"device {name!r} was requested but no CUDA GPU is available; use 'auto' or 'cpu'"


def test_model_device():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


@needs_cuda
def test_resolve_cuda_and_missing_index():
    assert resolve_device("cuda").type == "cuda"
    assert resolve_device("cuda").index is not None
    with pytest.raises(InputError, match="cuda:99"):
        resolve_device("cuda:99")


# ---------------------------------------------------------------------------- recipe


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("epochs", True),
        ("batch_size", -3),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("lr", "0.1"),
        ("optimizer", "rmsprop"),
        ("momentum", 1.0),
        ("weight_decay", -1e-4),
        ("label_smoothing", 1.0),
        ("schedule", "step"),
        ("augment", "mixup"),
        ("amp", "yes"),
    ],
)
def test_bad_recipe_values(field, value):
    with pytest.raises(InputError, match=f"recipe.{field}") as info:
        TrainRecipe(**{field: value})
    assert repr(value)[:20] in str(info.value)


def test_recipe_frozen_and_replace():
    recipe = TrainRecipe()
    with pytest.raises(Exception):
        recipe.epochs = 3  # type: ignore[misc]
    assert recipe.replace(epochs=3).epochs == 3 and recipe.epochs == 30
    assert TrainRecipe(augment="none").augment is None
    with pytest.raises(InputError, match="recipe.lr"):
        recipe.replace(lr=-1)


def test_recipe_for_defaults():
    mlp = recipe_for("mlp", "tabular")
    assert (mlp.optimizer, mlp.lr, mlp.epochs, mlp.batch_size) == ("adam", 1e-3, 30, 128)
    cnn = recipe_for("cnn", "image")
    assert (cnn.optimizer, cnn.lr, cnn.epochs, cnn.batch_size) == ("adam", 1e-3, 30, 64)
    res = recipe_for("resnet18", "image")
    assert (res.optimizer, res.lr, res.momentum, res.weight_decay, res.schedule, res.epochs, res.batch_size, res.augment) == (
        "sgd", 0.1, 0.9, 5e-4, "onecycle", 30, 512, "flip-crop"
    )
    for name in ("lstm", "bilstm"):
        rec = recipe_for(name, "sequence")
        assert (rec.optimizer, rec.lr, rec.epochs) == ("adam", 3e-3, 40)
    assert recipe_for("xgboost", "tabular") is None


def test_recipe_for_errors():
    with pytest.raises(InputError, match="dataset_kind"):
        recipe_for("mlp", "audio")
    with pytest.raises(InputError, match="model_name"):
        recipe_for("gpt", "tabular")
    with pytest.raises(InputError, match="image"):
        recipe_for("resnet18", "tabular")


# ---------------------------------------------------------------------------- torch training


FAST = TrainRecipe(epochs=4, batch_size=32, lr=1e-2)


def test_input_model_and_arrays_unchanged():
    X, y = _blobs()
    X_before, y_before = X.copy(), y.copy()
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    result = train_model(model, X, y, FAST, seed=0)
    assert isinstance(result, TrainResult)
    assert result.model is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training  # mode untouched
    assert not _states_equal(model, result.model)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert result.device == "cpu" and result.amp is False and result.seconds > 0
    assert len(result.history) == FAST.epochs
    assert not result.model.training  # returned in eval mode


def test_tensor_inputs_unchanged_and_global_rng_untouched():
    X, y = _blobs()
    Xt, yt = torch.from_numpy(X.copy()), torch.from_numpy(y.copy())
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(16,), dropout=0.3)
    state = torch.random.get_rng_state().clone()
    train_model(model, Xt, yt, FAST, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())
    assert torch.equal(Xt, torch.from_numpy(X)) and torch.equal(yt, torch.from_numpy(y))


def test_deterministic_on_cpu_with_dropout():
    X, y = _blobs()
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(32, 32), dropout=0.5)
    a = train_model(model, X, y, FAST, seed=5)
    torch.random.default_generator.manual_seed(123)  # the global state must not matter
    b = train_model(model, X, y, FAST, seed=5)
    c = train_model(model, X, y, FAST, seed=6)
    assert _states_equal(a.model, b.model)
    assert a.history == b.history
    assert not _states_equal(a.model, c.model)


def test_loss_goes_down_on_separable_data():
    X, y = _blobs(n=300)
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(32,))
    result = train_model(model, X, y, TrainRecipe(epochs=10, batch_size=32, lr=1e-2), seed=0)
    assert result.history[-1] < 0.3 * result.history[0]
    assert (as_adapter(result.model).predict_labels(X) == y).mean() > 0.97


def test_mlp_memorises_random_labels():
    """The memorisation membership attacks exploit: random labels, near-perfect train accuracy."""
    gen = np.random.default_rng(0)
    X = gen.normal(size=(300, 20)).astype(np.float32)
    y = gen.integers(0, 2, size=300)
    model = build_model("mlp", input_shape=(20,), n_classes=2, seed=0)
    result = train_model(model, X, y, TrainRecipe(epochs=30, batch_size=32, lr=2e-3), seed=0)
    assert (as_adapter(result.model).predict_labels(X) == y).mean() > 0.9


@pytest.mark.parametrize("name", ["lstm", "bilstm"])
def test_lstm_learns_digits_row_by_row(name, digits):
    X, y = digits  # (n, 8, 8): 8 steps of 8 pixels
    train, test = slice(0, 1200), slice(1200, None)
    model = build_model(name, input_shape=(8, 8), n_classes=10, seed=0, hidden_size=64)
    recipe = recipe_for(name, "sequence").replace(epochs=12, batch_size=64)
    result = train_model(model, X[train], y[train], recipe, seed=0)
    accuracy = (as_adapter(result.model).predict_labels(X[test]) == y[test]).mean()
    assert accuracy > 0.8, accuracy


@pytest.mark.parametrize("schedule, optimizer", [("cosine", "adam"), ("onecycle", "sgd")])
def test_cnn_with_augmentation_and_schedules(schedule, optimizer, digits):
    X, y = digits
    X = X[:256, None]  # (n, 1, 8, 8)
    y = y[:256]
    model = build_model("cnn", input_shape=(1, 8, 8), n_classes=10, seed=0, channels=(8, 16), hidden=32)
    recipe = TrainRecipe(epochs=3, batch_size=64, lr=0.05 if optimizer == "sgd" else 3e-3, optimizer=optimizer,
                         schedule=schedule, augment="flip-crop", weight_decay=1e-4, label_smoothing=0.1)
    a = train_model(model, X, y, recipe, seed=2)
    b = train_model(model, X, y, recipe, seed=2)
    assert _states_equal(a.model, b.model)
    assert all(np.isfinite(a.history))


def test_last_batch_of_one_is_merged_for_batchnorm():
    gen = np.random.default_rng(0)
    X = gen.normal(size=(9, 3, 8, 8)).astype(np.float32)  # 9 = 8 + 1
    y = np.arange(9) % 2
    model = build_model("resnet18", input_shape=(3, 8, 8), n_classes=2, seed=0, width=4)
    result = train_model(model, X, y, TrainRecipe(epochs=1, batch_size=8, lr=0.01), seed=0)
    assert len(result.history) == 1


def test_progress_bar_runs():
    X, y = _blobs(n=40)
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(4,))
    assert len(train_model(model, X, y, TrainRecipe(epochs=2), seed=0, progress=True).history) == 2


@pytest.mark.parametrize(
    "X, y, needle",
    [
        (np.zeros((10, 6), np.float32), np.zeros(9, int), "one label per row"),
        (np.zeros((10, 6), np.float32), np.r_[np.zeros(5, int), np.full(5, 5)], r"\[0, 1\]"),
        (np.zeros((10, 6), np.float32), np.full(10, -1), ">= 0"),
        (np.zeros((10, 6), np.float32), np.full(10, 0.5), "integer"),
        (np.full((10, 6), np.nan, np.float32), np.zeros(10, int), "finite"),
        (np.zeros(10, np.float32), np.zeros(10, int), "shape"),
    ],
)
def test_bad_training_data(X, y, needle):
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(4,))
    with pytest.raises(InputError, match=needle):
        train_model(model, X, y, TrainRecipe(epochs=1), seed=0)


def test_bad_train_arguments():
    X, y = _blobs(n=20)
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(4,))
    with pytest.raises(InputError, match="recipe is required"):
        train_model(model, X, y, None, seed=0)
    with pytest.raises(InputError, match="device"):
        train_model(model, X, y, TrainRecipe(epochs=1), seed=0, device="tpu")
    with pytest.raises(InputError, match="seed"):
        train_model(model, X, y, TrainRecipe(epochs=1), seed=-2)
    with pytest.raises(InputError, match="flip-crop"):
        train_model(model, X, y, TrainRecipe(epochs=1, augment="flip-crop"), seed=0)
    with pytest.raises(InputError, match="model"):
        train_model(object(), X, y, TrainRecipe(epochs=1), seed=0)


# ---------------------------------------------------------------------------- augmentation


def _reflect(i: int, n: int) -> int:
    return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)


def _flip_shift_loop(images, generator, padding, mode):
    """Naive per-image, per-pixel reference with the same random draws as flip_crop."""
    B, C, H, W = images.shape
    flip = torch.rand(B, generator=generator) < 0.5
    shift = torch.randint(0, 2 * padding + 1, (B, 2), generator=generator)
    out = torch.empty_like(images)
    for b in range(B):
        img = images[b].flip(-1) if flip[b] else images[b]
        for r in range(H):
            for c in range(W):
                i, j = r + int(shift[b, 0]) - padding, c + int(shift[b, 1]) - padding
                if mode == "reflect":
                    out[b, :, r, c] = img[:, _reflect(i, H), _reflect(j, W)]
                else:
                    inside = 0 <= i < H and 0 <= j < W
                    out[b, :, r, c] = img[:, i, j] if inside else 0.0
    return out


@pytest.mark.parametrize("augment, padding, mode", [("flip-translate", 2, "reflect"), ("flip-crop", 4, "constant")])
def test_augments_match_naive_loop_and_leave_input(augment, padding, mode):
    images = torch.randn(12, 3, 7, 9, generator=torch.Generator().manual_seed(0))
    copy = images.clone()
    fast = augment_images(images, augment, torch.Generator().manual_seed(5))
    slow = _flip_shift_loop(images, torch.Generator().manual_seed(5), padding, mode)
    assert torch.equal(fast, slow)  # pure copies of input values: exact
    assert torch.equal(images, copy)
    assert fast.shape == images.shape
    assert not torch.equal(fast, flip_crop(images, torch.Generator().manual_seed(8)))
    assert not torch.equal(fast, augment_images(images, augment, torch.Generator().manual_seed(6)))


def test_flip_crop_default_unchanged():
    images = torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    default = flip_crop(images, torch.Generator().manual_seed(2))
    assert torch.equal(default, flip_crop(images, torch.Generator().manual_seed(2), padding=4, mode="constant"))
    assert torch.equal(default, _flip_shift_loop(images, torch.Generator().manual_seed(2), 4, "constant"))


def test_flip_translate_golden_tiny_case():
    image = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    images = image.repeat(2, 1, 1, 1)
    g = torch.Generator().manual_seed(89)  # draws: no flip + shift (0, 0); flip + shift (2, 1)
    out = flip_crop(images, g, padding=1, mode="reflect")
    expected = torch.tensor([[[[5.0, 4.0, 5.0], [2.0, 1.0, 2.0], [5.0, 4.0, 5.0]]],
                             [[[6.0, 5.0, 4.0], [9.0, 8.0, 7.0], [6.0, 5.0, 4.0]]]])
    assert torch.equal(out, expected)


def test_flip_translate_needs_images():
    recipe = recipe_for("airnet", "image").replace(epochs=1)
    model = build_model("mlp", input_shape=(4,), n_classes=2, seed=0)
    with pytest.raises(InputError, match="flip-translate"):
        train_model(model, np.zeros((6, 4), np.float32), np.arange(6) % 2, recipe, seed=0)


# ---------------------------------------------------------------------------- xgboost


@pytest.mark.parametrize("n_classes", [2, 3])
def test_xgboost_trains_on_cpu(n_classes):
    gen = np.random.default_rng(0)
    X = gen.normal(size=(150, 4))
    y = np.arange(150) % n_classes
    X[:, 0] += 2.0 * y
    model = build_model("xgboost", input_shape=(4,), n_classes=n_classes, seed=0, n_estimators=20, max_depth=3)
    result = train_model(model, X, y, None, seed=4, device="cpu")
    assert result.device == "cpu" and result.amp is False
    assert result.model is not model and not hasattr(model, "classes_")  # input stays unfitted
    assert result.model.get_params()["device"] == "cpu"
    assert len(result.history) == 20 and result.history[-1] < result.history[0]
    outputs = as_adapter(result.model).predict(X)
    assert outputs.kind == "probs" and outputs.values.shape == (150, n_classes)
    np.testing.assert_allclose(outputs.values.sum(axis=1), 1.0, atol=1e-6)
    assert (outputs.predicted_labels() == y).mean() > 0.8
    again = train_model(model, X, y, None, seed=4, device="cpu")
    np.testing.assert_array_equal(as_adapter(again.model).predict(X).values, outputs.values)


def test_xgboost_needs_every_class():
    X = np.random.default_rng(0).normal(size=(30, 4))
    model = build_model("xgboost", input_shape=(4,), n_classes=4, seed=0, n_estimators=2)
    with pytest.raises(InputError, match=r"missing: \[3\]"):
        train_model(model, X, np.arange(30) % 3, seed=0)


# ---------------------------------------------------------------------------- CUDA only


@needs_cuda
def test_cuda_training_uses_bf16_autocast_and_seeds():
    X, y = _blobs()
    model = build_model("mlp", input_shape=(6,), n_classes=2, seed=0, hidden=(32,), dropout=0.3)
    cuda_state = torch.cuda.get_rng_state()
    a = train_model(model, X, y, FAST, seed=1, device="cuda")
    assert torch.equal(cuda_state, torch.cuda.get_rng_state())
    assert a.device.startswith("cuda") and a.amp is torch.cuda.is_bf16_supported()
    assert model_device(a.model).type == "cuda"
    assert model_device(model).type == "cpu"
    assert a.history[-1] < a.history[0]
    fp32 = train_model(model, X, y, FAST.replace(amp=False), seed=1, device="cuda")
    assert fp32.amp is False
    outputs = as_adapter(a.model).predict(X)
    assert outputs.values.shape == (len(y), 2)


@needs_cuda
def test_cuda_flip_crop_matches_cpu():
    images = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    cpu = flip_crop(images, torch.Generator().manual_seed(1))
    gpu = flip_crop(images.to("cuda"), torch.Generator().manual_seed(1))
    assert torch.equal(cpu, gpu.cpu())


def test_a_single_class_is_refused_clearly():
    import numpy as np

    from mia_audit.errors import InputError
    from mia_audit.models import build_model
    from mia_audit.training import TrainRecipe, train_model

    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.ones(20, dtype=np.int64)
    for name in ("mlp", "xgboost"):
        model = build_model(name, input_shape=(3,), n_classes=2, seed=0)
        with pytest.raises(InputError, match="at least 2 classes.*only class 1 in all 20 records"):
            train_model(model, X, y, TrainRecipe(epochs=1), seed=0, device="cpu")
