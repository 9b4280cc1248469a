"""Model builders: shapes, seeding, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mia_audit.errors import InputError
from mia_audit.models import MODELS, build_model, model_params

TORCH_CASES = [
    ("mlp", (12,), {}),
    ("mlp", (12,), {"hidden": (), "dropout": 0.0}),
    ("cnn", (1, 8, 8), {}),
    ("cnn", (3, 32, 32), {"channels": (8, 16, 16), "dropout": 0.2}),
    ("resnet18", (3, 32, 32), {}),
    ("resnet18", (1, 8, 8), {"width": 8}),
    ("lstm", (8, 5), {"hidden_size": 16}),
    ("bilstm", (8, 5), {"hidden_size": 16, "num_layers": 2, "dropout": 0.1}),
]


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_registry_names():
    assert MODELS.names() == sorted(["mlp", "cnn", "resnet18", "airnet", "lstm", "bilstm", "xgboost"])


@pytest.mark.parametrize("name, shape, params", TORCH_CASES)
def test_torch_models_output_shape_dtype_device(name, shape, params):
    model = build_model(name, input_shape=shape, n_classes=7, seed=3, **params)
    assert isinstance(model, torch.nn.Module)
    assert model.n_classes == 7
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    model.eval()
    with torch.no_grad():
        out = model(torch.randn((5,) + shape, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (5, 7)
    assert torch.isfinite(out).all()


def test_resnet18_architecture():
    model = build_model("resnet18", input_shape=(3, 32, 32), n_classes=10, seed=0)
    stem = model.stem[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    widths = [stage[-1].conv2.out_channels for stage in model.stages]
    assert widths == [64, 128, 256, 512]
    assert [len(stage) for stage in model.stages] == [2, 2, 2, 2]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 0
    n_params = sum(p.numel() for p in model.parameters())
    assert 11_000_000 < n_params < 11_300_000  # the usual CIFAR ResNet-18 has ~11.17M


def test_bilstm_uses_both_directions():
    uni = build_model("lstm", input_shape=(6, 4), n_classes=3, seed=0, hidden_size=10)
    bi = build_model("bilstm", input_shape=(6, 4), n_classes=3, seed=0, hidden_size=10)
    assert uni.head.in_features == 10 and bi.head.in_features == 20
    assert bi.lstm.bidirectional and not uni.lstm.bidirectional


@pytest.mark.parametrize("name, shape, params", TORCH_CASES[:1] + TORCH_CASES[2:3] + TORCH_CASES[6:])
def test_same_seed_same_weights_different_seed_different(name, shape, params):
    a = build_model(name, input_shape=shape, n_classes=4, seed=11, **params)
    b = build_model(name, input_shape=shape, n_classes=4, seed=11, **params)
    c = build_model(name, input_shape=shape, n_classes=4, seed=12, **params)
    assert _state_equal(a, b)
    assert not _state_equal(a, c)


def test_builder_leaves_global_rng_unchanged():
    before = torch.random.get_rng_state().clone()
    build_model("mlp", input_shape=(5,), n_classes=2, seed=1)
    build_model("cnn", input_shape=(1, 8, 8), n_classes=2, seed=1)
    assert torch.equal(before, torch.random.get_rng_state())


def test_builder_does_not_depend_on_global_rng():
    torch.random.default_generator.manual_seed(1)  # deliberately disturbed global state
    a = build_model("mlp", input_shape=(5,), n_classes=2, seed=1)
    torch.random.default_generator.manual_seed(2)
    b = build_model("mlp", input_shape=(5,), n_classes=2, seed=1)
    assert _state_equal(a, b)


def test_mlp_defaults():
    model = build_model("mlp", input_shape=(9,), n_classes=3, seed=0)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [256, 256, 3]
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())


@pytest.mark.parametrize("n_classes", [2, 5])
def test_xgboost_builds_unfitted_classifier(n_classes):
    import xgboost

    model = build_model("xgboost", input_shape=(4,), n_classes=n_classes, seed=9, n_estimators=7, max_depth=3, learning_rate=0.2)
    assert isinstance(model, xgboost.XGBClassifier)
    params = model.get_params()
    assert params["random_state"] == 9
    assert params["tree_method"] == "hist"
    assert (params["n_estimators"], params["max_depth"], params["learning_rate"]) == (7, 3, 0.2)
    assert params["objective"] == ("binary:logistic" if n_classes == 2 else "multi:softprob")
    assert not hasattr(model, "classes_")


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(InputError) as info:
        build_model("transformer", input_shape=(4,), n_classes=2, seed=0)
    for name in ["bilstm", "cnn", "lstm", "mlp", "resnet18", "xgboost"]:
        assert name in str(info.value)
    assert "'transformer'" in str(info.value)


@pytest.mark.parametrize(
    "name, shape, needle",
    [
        ("mlp", (1, 8, 8), "1-D features"),
        ("cnn", (64,), "(C, H, W)"),
        ("cnn", (1, 2, 2), "H and W >= 4"),
        ("resnet18", (8, 8), "(C, H, W)"),
        ("lstm", (64,), "(T, F)"),
        ("bilstm", (1, 8, 8), "(T, F)"),
        ("xgboost", (8, 8), "1-D features"),
    ],
)
def test_input_shape_checked_against_architecture(name, shape, needle):
    with pytest.raises(InputError, match="input_shape") as info:
        build_model(name, input_shape=shape, n_classes=2, seed=0)
    assert needle in str(info.value)
    assert str(shape) in str(info.value)


@pytest.mark.parametrize("shape", [(), (0,), (-1, 3), ("a",), None, (2.5,)])
def test_bad_input_shape(shape):
    with pytest.raises(InputError, match="input_shape"):
        build_model("mlp", input_shape=shape, n_classes=2, seed=0)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"n_classes": 1}, "n_classes"),
        ({"n_classes": True}, "n_classes"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"dropout": 1.0}, "dropout"),
        ({"hidden": (0,)}, "hidden"),
        ({"width": 3}, "unknown parameter"),
    ],
)
def test_bad_arguments(kwargs, needle):
    args = {"input_shape": (4,), "n_classes": 3, "seed": 0} | kwargs
    with pytest.raises(InputError, match=needle):
        build_model("mlp", **args)


def test_unknown_parameter_lists_allowed():
    with pytest.raises(InputError) as info:
        build_model("lstm", input_shape=(3, 4), n_classes=2, seed=0, hidden=8)
    assert "hidden_size" in str(info.value) and "num_layers" in str(info.value)
    with pytest.raises(InputError, match="max_depth"):
        build_model("xgboost", input_shape=(4,), n_classes=2, seed=0, depth=3)
    assert "subsample" in model_params("xgboost")
