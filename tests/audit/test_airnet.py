"""airnet (the airbench-style fast CIFAR net) and its recipe: whitening, test-time flip, the
flip-translate augment, the linear-warmup schedule, Nesterov, and training through train_model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mia_audit.errors import InputError
from mia_audit.models import build_model
from mia_audit.models.airnet import WHITEN_IMAGES, image_patches
from mia_audit.training import (TrainRecipe, make_optimizer, make_scheduler, recipe_for, train_model)

CIFAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10_jpeg.npz"
SMALL = (16, 32, 32)  # narrow widths: the tests run in seconds on one core


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(n, side=12, seed=0):
    """Images with correlated pixels and channels (a smoothed, mixed noise), float32."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, side + 1, side + 1, generator=g)
    smooth = 0.5 * base[:, :, 1:, 1:] + 0.3 * base[:, :, :-1, 1:] + 0.2 * base[:, :, 1:, :-1]
    mix = torch.tensor([[1.0, 0.4, 0.2], [0.3, 1.0, 0.3], [0.2, 0.5, 1.0]])
    return torch.einsum("dc,nchw->ndhw", mix, smooth).contiguous()


def _cifar_like(n, seed=0):
    """32x32 RGB images whose class shows in the mean colour and a stripe, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    X = 0.25 * torch.rand(n, 3, 32, 32, generator=g)
    X += 0.05 * (y % 3)[:, None, None, None] * torch.arange(3.0)[None, :, None, None]
    for k in range(n):
        X[k, :, 3 * int(y[k]):3 * int(y[k]) + 3, :] += 0.5
    return X, y


def _states_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------- model


def test_build_and_shapes():
    model = build_model("airnet", input_shape=(3, 32, 32), n_classes=10, seed=0)
    assert model.n_classes == 10 and model.tta is True
    assert model.whiten.weight.shape == (24, 3, 2, 2)
    assert "whiten.weight" not in dict(model.named_parameters())  # fixed filters: a buffer
    assert [b.conv1.out_channels for b in model.blocks] == [64, 256, 256]
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(5, 3, 32, 32))
    assert out.shape == (5, 10) and out.dtype == torch.float32
    small = build_model("airnet", input_shape=(3, 9, 9), n_classes=3, seed=0, widths=(4, 4, 4), tta=False)
    assert small(torch.rand(2, 3, 9, 9)).shape == (2, 3)
    with pytest.raises(InputError, match="input_shape"):
        build_model("airnet", input_shape=(3, 8, 8), n_classes=3, seed=0)
    for bad in (3, -1, "2", 1.0):
        with pytest.raises(InputError, match="tta"):
            build_model("airnet", input_shape=(3, 32, 32), n_classes=3, seed=0, tta=bad)
    assert build_model("airnet", input_shape=(3, 32, 32), n_classes=3, seed=0, tta=2).tta == 2
    with pytest.raises(InputError, match="widths"):
        build_model("airnet", input_shape=(3, 32, 32), n_classes=3, seed=0, widths=())


def test_whitening_after_init_from_data_whitens_patches():
    X = _images(400)
    model = build_model("airnet", input_shape=(3, 12, 12), n_classes=4, seed=0, widths=(8,))
    model.init_from_data(X)
    with torch.no_grad():
        out = model.whiten(X)
    assert out.shape == (400, 24, 11, 11)
    plus = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12).double()
    assert plus.mean(0).abs().max() < 1e-5  # centred by the bias
    cov = torch.cov(plus.T, correction=0)
    assert (cov - torch.eye(12, dtype=torch.float64)).abs().max() < 0.02
    # and exactly the regularised form diag(lambda / (lambda + eps')) of the patch covariance
    patch_cov = torch.cov(image_patches(X.double(), 2).T, correction=0)
    values = torch.linalg.eigvalsh(patch_cov).flip(0)
    eps = model.whiten.eps * torch.trace(patch_cov) / 12
    assert torch.allclose(cov, torch.diag(values / (values + eps)), atol=1e-5)
    assert torch.allclose(out[:, 12:], -out[:, :12], atol=1e-6)  # the -v half
    w = model.whiten.weight
    assert torch.allclose(w[12:], -w[:12])


def test_init_from_data_uses_first_images_only_and_checks_input():
    X = _images(WHITEN_IMAGES + 30, side=4, seed=1)
    X[WHITEN_IMAGES:] = 100.0 * torch.rand(30, 3, 4, 4)  # images past the limit must not count
    a = build_model("airnet", input_shape=(3, 4, 4), n_classes=2, seed=0, widths=(4,))
    b = build_model("airnet", input_shape=(3, 4, 4), n_classes=2, seed=0, widths=(4,))
    a.init_from_data(X)
    b.init_from_data(X[:WHITEN_IMAGES].clone())
    assert torch.allclose(a.whiten.weight, b.whiten.weight) and torch.allclose(a.whiten.bias, b.whiten.bias)
    assert not a.whiten.bias.requires_grad or a.whiten.bias.grad is None
    with pytest.raises(InputError, match="init_from_data"):
        a.init_from_data(torch.rand(5, 1, 4, 4))
    with pytest.raises(InputError, match="init_from_data"):
        a.init_from_data(np.zeros((5, 3, 4, 4)))


def test_tta_is_mean_over_flip_and_flip_invariant():
    X = _images(64, side=16, seed=2)
    a = build_model("airnet", input_shape=(3, 16, 16), n_classes=5, seed=3, widths=(8, 16, 16), tta=True)
    b = build_model("airnet", input_shape=(3, 16, 16), n_classes=5, seed=3, widths=(8, 16, 16), tta=False)
    a.init_from_data(X)
    with torch.no_grad():
        a.train()
        a(X)  # running statistics away from their start
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = X[:10]
    with torch.no_grad():
        by_hand = 0.5 * (b(x) + b(x.flip(-1)))
        out = a(x)
        assert torch.allclose(out, by_hand, atol=1e-6)
        assert torch.allclose(a(x.flip(-1)), out, atol=1e-6)
        assert not torch.allclose(b(x.flip(-1)), b(x), atol=1e-6)  # the plain net is not invariant
        a.train(), b.train()
        assert torch.allclose(a(x), b(x), atol=1e-6)  # train mode: the plain forward


# ---------------------------------------------------------------------------- recipe


def _formula(step, total, fraction, lr):
    warm = int(total * fraction)
    if step < warm:
        return lr * (0.2 + 0.8 * step / warm)
    return lr * (1.0 - 0.93 * (step - warm) / (total - warm))


def test_linear_warmup_schedule_follows_formula():
    param = torch.nn.Parameter(torch.zeros(3))
    recipe = TrainRecipe(lr=2.0, optimizer="sgd", momentum=0.9, nesterov=True, schedule="linear-warmup",
                         warmup_fraction=0.23)
    optimizer = make_optimizer(torch.nn.Linear(2, 2), recipe)
    assert optimizer.param_groups[0]["nesterov"] is True
    optimizer = torch.optim.SGD([param], lr=recipe.lr, momentum=0.9)
    scheduler = make_scheduler(optimizer, recipe, 100)
    seen = {0: optimizer.param_groups[0]["lr"]}
    for step in range(1, 101):
        optimizer.step()
        scheduler.step()
        seen[step] = optimizer.param_groups[0]["lr"]
    for step in (0, 1, 10, 22, 23, 24, 60, 99, 100):
        assert seen[step] == pytest.approx(_formula(step, 100, 0.23, 2.0), rel=1e-12), step
    assert seen[0] == pytest.approx(0.4) and seen[23] == pytest.approx(2.0) and seen[100] == pytest.approx(0.14)
    no_warmup = make_scheduler(torch.optim.SGD([param], lr=1.0),
                               recipe.replace(warmup_fraction=0.0), 10)
    assert no_warmup.get_last_lr()[0] == pytest.approx(1.0)


def test_nesterov_and_new_fields_are_validated():
    with pytest.raises(InputError, match=r"recipe\.nesterov"):
        TrainRecipe(optimizer="sgd", momentum=0.0, nesterov=True)
    with pytest.raises(InputError, match=r"recipe\.nesterov"):
        TrainRecipe(optimizer="adam", nesterov=True)
    with pytest.raises(InputError, match=r"recipe\.nesterov"):
        TrainRecipe(optimizer="sgd", nesterov="yes")
    with pytest.raises(InputError, match=r"recipe\.channels_last"):
        TrainRecipe(channels_last=1)
    with pytest.raises(InputError, match=r"recipe\.warmup_fraction"):
        TrainRecipe(warmup_fraction=1.0)
    with pytest.raises(InputError, match="flip-translate"):
        TrainRecipe(augment="flip")
    plain = make_optimizer(torch.nn.Linear(2, 2), TrainRecipe(optimizer="sgd"))
    assert plain.param_groups[0]["nesterov"] is False


def test_recipe_to_dict_json_and_old_recipes_unchanged():
    recipe = recipe_for("airnet", "image")
    assert (recipe.optimizer, recipe.nesterov, recipe.schedule, recipe.augment, recipe.batch_size) == (
        "sgd", True, "linear-warmup", "flip-translate", 1024)
    assert recipe.lr == pytest.approx(11.5 / (1 + 1 / 0.15)) and recipe.label_smoothing == 0.2
    assert TrainRecipe(**json.loads(json.dumps(recipe.to_dict()))) == recipe
    old_keys = {"epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "label_smoothing",
                "schedule", "augment", "amp"}
    for name, kind in [("mlp", "tabular"), ("cnn", "image"), ("resnet18", "image"), ("lstm", "sequence")]:
        old = recipe_for(name, kind)
        assert set(old.to_dict()) == old_keys  # stored metadata and cache keys unchanged
        assert not old.nesterov and not old.channels_last


# ---------------------------------------------------------------------------- training


def test_toy_training_runs_and_is_deterministic():
    X, y = _cifar_like(300)
    model = build_model("airnet", input_shape=(3, 32, 32), n_classes=10, seed=0, widths=SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recipe = recipe_for("airnet", "image").replace(epochs=2)
    first = train_model(model, X, y, recipe, seed=4, device="cpu")
    second = train_model(model, X, y, recipe, seed=4, device="cpu")
    assert len(first.history) == 2 and all(math.isfinite(v) for v in first.history)
    assert _states_equal(first.model, second.model)  # same seed, same device: same weights
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # caller's model untouched
    # the whitening filters came from the data (init_from_data ran on the copy)
    assert not torch.allclose(first.model.whiten.weight, model.whiten.weight)
    third = train_model(model, X, y, recipe, seed=5, device="cpu")
    assert not _states_equal(first.model, third.model)


@pytest.mark.skipif(not CIFAR.exists(), reason=f"needs {CIFAR}")
def test_small_cifar_run_beats_chance():
    from mia_audit.data import load_dataset

    data = load_dataset("cifar10", data_dir=CIFAR.parent, limit=2000)
    n_train = data.meta["original_split"]["train"]
    X_train, y_train = data.X[:n_train], data.y[:n_train]
    X_test, y_test = data.X[n_train:], data.y[n_train:]
    model = build_model("airnet", input_shape=(3, 32, 32), n_classes=10, seed=0, widths=(32, 64, 64))
    batch = 250  # smaller batches for more steps; lr scaled by batch / 1024 as airbench's parametrisation
    recipe = recipe_for("airnet", "image").replace(epochs=3, batch_size=batch, lr=1.5 * batch / 1024)
    result = train_model(model, X_train, y_train, recipe, seed=0, device="cpu")
    with torch.no_grad():
        predicted = torch.cat([result.model(torch.from_numpy(x)).argmax(1) for x in np.array_split(X_test, 4)])
    accuracy = float((predicted.numpy() == y_test).mean())
    se = math.sqrt(0.1 * 0.9 / len(y_test))
    assert accuracy > 0.1 + 8 * se, accuracy  # chance is 0.1
