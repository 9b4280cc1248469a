"""Batched training (torch.func) against the plain train_model loop, with the same seeds.

The two agree to floating-point rounding: the same batches in the same order, the same
initial weights and the same optimiser maths; only the order of additions inside a
batched matrix product (and fused Adam's rounding) differs. After a few epochs the
weights differ by < 1e-5 (measured: ~1e-7), far below anything that changes a
prediction, so the tests demand max |dw| < 1e-4 and identical predicted labels on all
but a handful of pool records. BatchNorm models: see ``bn_tolerance``.
"""


import numpy as np
import pytest
import torch
from torch import nn

from mia_audit.data import load_dataset
from mia_audit.errors import InputError
from mia_audit.models import build_model
from mia_audit.reference import (BatchedExecutor, SequentialExecutor, batched as batched_module, can_batch, init_seed,
                                 membership_mask, train_batched, train_seed)
from mia_audit.reference.build import make_spec
from mia_audit.seeding import isolated_torch_seed
from mia_audit.training import TrainRecipe, flip_crop, recipe_for, train_model


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    return d.X[:600], d.y[:600]


def both(models, X, y, mask, recipe):
    members = [np.flatnonzero(m) for m in mask]
    seeds = [train_seed(0, k) for k in range(len(models))]
    batched = train_batched(models, X, y, members, recipe, seeds, device="cpu")
    plain = [train_model(m, X[idx], y[idx], recipe, seed=s, device="cpu") for m, idx, s in zip(models, members, seeds)]
    return batched, plain


def max_weight_difference(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[n] - sb[n]).abs().max()) for n in sa)


def predictions(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X)).argmax(1).numpy()


@pytest.mark.parametrize("recipe", [
    TrainRecipe(epochs=3, batch_size=32, lr=1e-3),
    TrainRecipe(epochs=3, batch_size=50, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=5e-4,
                label_smoothing=0.1, schedule="cosine"),
], ids=["adam", "sgd-momentum-cosine"])
def test_mlp_batched_equals_sequential(digits, recipe):
    X, y = digits
    X = X.reshape(len(X), -1)
    models = [build_model("mlp", input_shape=(64,), n_classes=10, seed=init_seed(0, k), hidden=[32]) for k in range(4)]
    before = [m.state_dict()["head.weight"].clone() for m in models]
    batched, plain = both(models, X, y, membership_mask(4, len(X), 0), recipe)
    for b, p in zip(batched, plain):
        assert max_weight_difference(b.model, p.model) < 1e-4
        assert np.mean(predictions(b.model, X) != predictions(p.model, X)) <= 0.005
        np.testing.assert_allclose(b.history, p.history, rtol=1e-5)
        assert not b.model.training
    for m, w in zip(models, before):  # the caller's models are not trained in place
        torch.testing.assert_close(m.state_dict()["head.weight"], w, rtol=0, atol=0)


def test_cnn_with_flip_crop_batched_equals_sequential(digits):
    X, y = digits
    X, y = X[:201], y[:201]  # odd pool: two training-set sizes
    recipe = TrainRecipe(epochs=2, batch_size=32, lr=3e-3, augment="flip-crop")
    mask = membership_mask(2, len(X), 0)
    models = [build_model("cnn", input_shape=X.shape[1:], n_classes=10, seed=init_seed(0, k), channels=[4], hidden=16)
              for k in range(2)]
    for k in range(2):  # one model at a time: the sizes differ (100 and 101)
        b, p = both([models[k]], X, y, mask[k:k + 1], recipe)
        assert max_weight_difference(b[0].model, p[0].model) < 1e-4


def test_same_seeds_same_models_and_global_rng_untouched(digits):
    X, y = digits
    X = X.reshape(len(X), -1)
    recipe = TrainRecipe(epochs=2, batch_size=64)
    models = [build_model("mlp", input_shape=(64,), n_classes=10, seed=k, hidden=[16], dropout=0.2) for k in range(3)]
    members = [np.flatnonzero(m) for m in membership_mask(4, len(X), 1)[:3]]
    state = torch.get_rng_state()
    a = train_batched(models, X, y, members, recipe, [1, 2, 3], device="cpu")
    b = train_batched(models, X, y, members, recipe, [1, 2, 3], device="cpu")
    assert torch.equal(state, torch.get_rng_state())
    for ra, rb in zip(a, b):
        assert max_weight_difference(ra.model, rb.model) == 0.0


def test_which_architectures_are_batched(digits):
    assert can_batch(build_model("mlp", input_shape=(5,), n_classes=2, seed=0))
    assert can_batch(build_model("cnn", input_shape=(1, 8, 8), n_classes=2, seed=0))
    assert can_batch(build_model("resnet18", input_shape=(1, 8, 8), n_classes=2, seed=0, width=2))  # BatchNorm2d
    assert can_batch(tiny_bn(0)) and can_batch(WithInit())  # a custom container with a frozen parameter of its own
    assert not can_batch(build_model("lstm", input_shape=(4, 3), n_classes=2, seed=0, hidden_size=4))
    assert not can_batch(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None)))  # cumulative average
    assert not can_batch(nn.Sequential(nn.Linear(3, 4), nn.Embedding(4, 2)))  # a torch layer not on the list
    with_buffer = nn.Linear(3, 2)
    with_buffer.register_buffer("count", torch.zeros(()))
    assert not can_batch(with_buffer)  # state batched training cannot update per model
    # the batched executor falls back to the plain loop for them: same results as the sequential executor
    X, y = digits
    X, y = X[:40].reshape(40, 8, 8), y[:40]
    spec = make_spec(X, y, model="lstm", n_models=2, seed=0, model_params={"hidden_size": 4},
                     recipe=TrainRecipe(epochs=1, batch_size=16), queries="none")
    mask = membership_mask(2, len(X), 0)
    fallback = list(BatchedExecutor().run(spec, X, y, mask, [0, 1], device="cpu"))
    plain = list(SequentialExecutor().run(spec, X, y, mask, [0, 1], device="cpu"))
    for f, p in zip(sorted(fallback, key=lambda r: r.index), plain):
        assert f.weights == p.weights
        np.testing.assert_array_equal(f.signals.logit_confidence, p.signals.logit_confidence)


def test_bad_inputs_are_refused(digits):
    X, y = digits
    X = X.reshape(len(X), -1)
    recipe = TrainRecipe(epochs=1)
    mlp = [build_model("mlp", input_shape=(64,), n_classes=10, seed=k, hidden=[8]) for k in range(2)]
    with pytest.raises(InputError, match="members must give every model the same number of records"):
        train_batched(mlp, X, y, [np.arange(10), np.arange(11)], recipe, [0, 1], device="cpu")
    with pytest.raises(InputError, match="models, members and seeds must have one entry per model"):
        train_batched(mlp, X, y, [np.arange(10)], recipe, [0, 1], device="cpu")
    with pytest.raises(InputError, match="cannot be trained batched"):
        train_batched([build_model("lstm", input_shape=(8, 8), n_classes=10, seed=0)], X.reshape(-1, 8, 8), y,
                      [np.arange(10)], recipe, [0], device="cpu")
    with pytest.raises(InputError, match="members must index rows of X"):
        train_batched(mlp, X, y, [np.arange(10), np.arange(590, 600) + 5], recipe, [0, 1], device="cpu")
    with pytest.raises(InputError, match="recipe must be a TrainRecipe"):
        train_batched(mlp, X, y, [np.arange(10), np.arange(10)], {"epochs": 1}, [0, 1], device="cpu")


# ---------------------------------------------------------------------------- a kill loses at most one chunk


class Killed(BatchedExecutor):
    """The default batched executor, killed (an exception from inside training) once the
    progress ticks pass ``after`` models."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def run(self, spec, X, y, mask, indices, *, device, tick=None):
        done = 0.0

        def killer(amount):
            nonlocal done
            done += amount
            if done > self.after:
                raise RuntimeError("killed")

        yield from super().run(spec, X, y, mask, indices, device=device, tick=killer)


def _train(path, X, y, executor):
    from mia_audit.reference import train_references

    return train_references(path, X, y, model="mlp", model_params={"hidden": [16]}, n_models=16, seed=0,
                            recipe=TrainRecipe(epochs=2, batch_size=32), device="cpu", progress=False,
                            executor=executor)


def _stamps(path):
    return {p.relative_to(path): p.stat().st_mtime_ns for p in path.rglob("model_*")}


def test_a_kill_during_batched_training_keeps_the_models_already_trained(digits, tmp_path):
    from mia_audit.reference import ReferenceStore

    X, y = digits
    X, y = X[:300].reshape(300, -1), y[:300]
    assert BatchedExecutor().chunk_for("cpu") == 8
    with pytest.raises(RuntimeError, match="killed"):
        _train(tmp_path / "refs", X, y, Killed(after=9))  # killed during the second chunk's first epoch
    store = ReferenceStore(tmp_path / "refs")
    assert store.completed() == list(range(8))  # the first chunk survives (one chunk of 16 saved nothing)
    saved = _stamps(tmp_path / "refs")
    resumed = _train(tmp_path / "refs", X, y, BatchedExecutor())
    assert resumed.is_complete and {k: v for k, v in _stamps(tmp_path / "refs").items() if k in saved} == saved
    fresh = _train(tmp_path / "fresh", X, y, BatchedExecutor())
    # the same store as an uninterrupted run: same groups of models, CPU, no dropout: bitwise
    np.testing.assert_array_equal(resumed.signals().logit_confidence, fresh.signals().logit_confidence)
    for k in range(16):
        name = f"models/model_{k:04d}.safetensors"
        assert (tmp_path / "refs" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name


def test_each_batched_model_is_saved_as_soon_as_it_is_queried(digits, tmp_path, monkeypatch):
    from mia_audit.reference import ReferenceStore, jobs

    X, y = digits
    X, y = X[:300].reshape(300, -1), y[:300]
    real, calls = jobs.query_signals, []

    def query_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "query_signals", query_then_die)
    with pytest.raises(RuntimeError, match="killed"):
        _train(tmp_path / "refs", X, y, BatchedExecutor(chunk_size=16))
    assert ReferenceStore(tmp_path / "refs").completed() == [0, 1]  # not all or nothing per chunk
    monkeypatch.setattr(jobs, "query_signals", real)
    assert _train(tmp_path / "refs", X, y, BatchedExecutor(chunk_size=16)).is_complete


def test_batched_chunks_are_fixed_blocks_of_indices(digits):
    from mia_audit.reference.executors import _blocks

    assert _blocks([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _blocks([2, 3, 5, 9, 10, 11], 4) == [[2, 3], [5], [9, 10, 11]]  # a resume: the same groups
    assert BatchedExecutor().chunk_for("cuda:0") == 64 and BatchedExecutor(chunk_size=5).chunk_for("cpu") == 5


# ---------------------------------------------------------------------------- BatchNorm, hooks, layout


class TinyBN(nn.Module):
    """A small CNN with BatchNorm2d and BatchNorm1d (one with its own momentum), GELU and max pools.
    No bias before a BatchNorm: such a bias gets a gradient of pure rounding noise, which Adam
    turns into steps of about lr in random directions (see mia_audit.reference.batched)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8, momentum=0.3), nn.ReLU(),
            nn.AdaptiveMaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.features(x))


def tiny_bn(seed):
    with isolated_torch_seed(seed):
        return TinyBN()


def bn_tolerance(reference):
    """Allowed |difference| for values of the size of ``reference`` after a short training.

    Float32 rounds each operation to a relative 2**-24 (6e-8); a dot product of n terms carries
    about sqrt(n) of those (n <= 300 here: 1e-6). A few epochs of small steps (about 10 optimiser
    steps, SGD or Adam on weights with real gradients) grow that at most linearly: 1e-5 relative
    to the size of the values; times 10 for safety: 1e-4 * max(1, |reference|). Measured: logits
    <= 4e-6, running statistics <= 3e-6. (Longer or hotter training of BatchNorm nets is
    chaotic at the rounding level: a one-ulp change of the initial weights alone moves ResNet
    logits by 1e-2 after 2 epochs of one-cycle SGD at lr 0.05, so the tests train briefly.)
    """
    return 1e-4 * max(1.0, float(reference.abs().max()))


@pytest.mark.parametrize("case", ["tiny-adam", "tiny-sgd-flip-crop", "resnet18-sgd", "airnet-recipe"])
def test_batchnorm_batched_equals_sequential(digits, case):
    X, y = digits
    X, y = X[:240], y[:240]
    if case == "resnet18-sgd":
        models = [build_model("resnet18", input_shape=(1, 8, 8), n_classes=10, seed=init_seed(0, k), width=4)
                  for k in range(2)]
        recipe = TrainRecipe(epochs=2, batch_size=40, lr=0.02, optimizer="sgd", momentum=0.9)
    elif case == "airnet-recipe":  # whitening from each model's own rows, Nesterov, warm-up, flip-translate
        models = [build_model("airnet", input_shape=(1, 8, 8), n_classes=10, seed=init_seed(0, k), widths=(8, 8))
                  for k in range(2)]
        recipe = recipe_for("airnet", "image").replace(epochs=2, batch_size=40, lr=0.05)
    else:
        models = [tiny_bn(init_seed(0, k)) for k in range(2)]
        recipe = (TrainRecipe(epochs=2, batch_size=32, lr=3e-3) if case == "tiny-adam" else
                  TrainRecipe(epochs=2, batch_size=32, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=5e-4,
                              augment="flip-crop"))
    before = [{n: t.clone() for n, t in m.state_dict().items()} for m in models]
    batched, plain = both(models, X, y, membership_mask(2, len(X), 0), recipe)
    for b, p in zip(batched, plain):
        assert not b.model.training
        with torch.no_grad():  # eval mode: the logits use each model's own running statistics
            logits_b, logits_p = b.model(torch.as_tensor(X)), p.model(torch.as_tensor(X))
        assert float((logits_b - logits_p).abs().max()) <= bn_tolerance(logits_p)
        sb, sp = b.model.state_dict(), p.model.state_dict()
        stats = [n for n in sp if n.endswith(("running_mean", "running_var"))]
        assert stats
        for n in stats:
            assert float((sb[n] - sp[n]).abs().max()) <= bn_tolerance(sp[n]), n
        for n in (n for n in sp if n.endswith("num_batches_tracked")):
            counted = 0 if case == "airnet-recipe" else recipe.epochs * -(-120 // recipe.batch_size)  # one per batch
            assert int(sb[n]) == int(sp[n]) == counted  # airnet's BatchNorm has a momentum and counts nothing
    if case == "airnet-recipe":  # each model whitened from its own half, as train_model does
        w = [(b.model.whiten.weight, p.model.whiten.weight) for b, p in zip(batched, plain)]
        assert all(float((wb - wp).abs().max()) <= bn_tolerance(wp) for wb, wp in w)
        assert not torch.allclose(w[0][0], w[1][0])  # two halves, two whitenings
    for m, state in zip(models, before):  # the caller's models (weights and buffers) are untouched
        for n, t in m.state_dict().items():
            assert torch.equal(t, state[n]), n


def test_unstacked_models_are_independent(digits):
    X, y = digits
    X, y = X[:96], y[:96]
    models = [tiny_bn(k) for k in range(3)]
    members = [np.arange(0, 48), np.arange(48, 96), np.arange(24, 72)]
    trained = [r.model for r in train_batched(models, X, y, members, TrainRecipe(epochs=1, batch_size=16),
                                              [0, 1, 2], device="cpu")]
    states = [{n: t.clone() for n, t in m.state_dict().items()} for m in trained]
    assert not torch.equal(states[0]["features.1.running_mean"], states[1]["features.1.running_mean"])
    with torch.no_grad():  # change everything of model 0, in place
        for t in trained[0].state_dict().values():
            t.add_(1)
    for m, state in zip(trained[1:], states[1:]):
        for n, t in m.state_dict().items():
            assert torch.equal(t, state[n]), n
    pointers = [{t.data_ptr() for t in m.state_dict().values()} for m in trained]
    assert not (pointers[0] & pointers[1]) and not (pointers[1] & pointers[2])  # no shared storage


class WithInit(nn.Module):
    """A model with a data-dependent initialisation hook (like a whitening layer set from the
    model's own training images) that records what it was given."""

    def __init__(self):
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(64), requires_grad=False)  # frozen: set from data only
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.seen = []

    def init_from_data(self, X):
        self.seen.append((X.clone(), torch.is_grad_enabled(), X.device))
        self.shift.copy_(X.reshape(len(X), -1).mean(0))

    def forward(self, x):
        return self.net(x.reshape(len(x), -1) - self.shift)


def test_init_from_data_is_called_per_model_with_its_own_rows(digits):
    X, y = digits
    members = [np.array([5, 3, 9, 100, 42, 7]), np.arange(200, 206), np.array([0, 599, 1, 598, 2, 597])]
    models = [WithInit() for _ in range(3)]
    trained = train_batched(models, X, y, members, TrainRecipe(epochs=1, batch_size=4), [0, 1, 2], device="cpu")
    for r, rows in zip(trained, members):
        assert len(r.model.seen) == 1
        seen, grad_enabled, device = r.model.seen[0]
        assert torch.equal(seen, torch.as_tensor(X[rows])) and not grad_enabled and device.type == "cpu"
        torch.testing.assert_close(r.model.shift, torch.as_tensor(X[rows]).reshape(6, -1).mean(0))  # kept
    assert all(m.seen == [] for m in models)  # called on the copies, not on the caller's models


def test_channels_last_layout_changes_no_value(digits, monkeypatch):
    xb = torch.randn(3, 5, 2, 4, 4)  # (K, B, C, H, W)
    laid = batched_module._grouped_channels_last(xb)
    assert torch.equal(laid, xb)
    assert laid.movedim(0, 1).reshape(5, 6, 4, 4).is_contiguous(memory_format=torch.channels_last)
    # the layout used on CUDA, forced on the CPU: the same models as train_model gives
    monkeypatch.setattr(batched_module, "_use_channels_last", lambda device, X, recipe: X.dim() == 4)
    X, y = digits
    X, y = X[:96], y[:96]
    models = [tiny_bn(init_seed(0, k)) for k in range(2)]
    recipe = TrainRecipe(epochs=1, batch_size=16, lr=0.05, optimizer="sgd", momentum=0.9)
    batched, plain = both(models, X, y, membership_mask(2, len(X), 0), recipe)
    for b, p in zip(batched, plain):
        with torch.no_grad():
            logits_p = p.model(torch.as_tensor(X))
            assert float((b.model(torch.as_tensor(X)) - logits_p).abs().max()) <= bn_tolerance(logits_p)


def test_augment_batch_is_train_models_augmentation():
    """The batched trainer augments each model's batch with train_model's own function: the same
    draws give the same images, for every augment name; none leaves the batch as it is."""
    from mia_audit.training import augment_images

    images = torch.rand(4, 1, 8, 8)
    for name in ("flip-crop", "flip-translate"):
        a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        assert torch.equal(batched_module.augment_batch(images, a, TrainRecipe(augment=name)),
                           augment_images(images, name, b))
    assert torch.equal(batched_module.augment_batch(images, torch.Generator().manual_seed(3),
                                                    TrainRecipe(augment="flip-crop")),
                       flip_crop(images, torch.Generator().manual_seed(3)))
    assert batched_module.augment_batch(images, torch.Generator(), TrainRecipe()) is images


def test_models_must_share_layer_settings():
    X = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    models = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=m), nn.Linear(4, 2)) for m in (0.1, 0.2)]
    with pytest.raises(InputError, match="other layer settings"):
        train_batched(models, X, y, [np.arange(10), np.arange(10, 20)], TrainRecipe(epochs=1), [0, 1], device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batchnorm_batched_on_cuda(digits):
    """On a GPU (float32: amp off; cuDNN may use TF32 convolutions, 2**-11 relative, hence the
    looser bound): batched and sequential models agree, with their own running statistics."""
    X, y = digits
    X, y = X[:240], y[:240]
    models = [tiny_bn(init_seed(0, k)) for k in range(2)]
    recipe = TrainRecipe(epochs=2, batch_size=32, lr=3e-3, amp=False)
    members = [np.flatnonzero(m) for m in membership_mask(2, len(X), 0)]
    batched = train_batched(models, X, y, members, recipe, [0, 1], device="cuda")
    plain = [train_model(m, X[i], y[i], recipe, seed=s, device="cuda") for m, i, s in zip(models, members, [0, 1])]
    X_t = torch.as_tensor(X, device="cuda")
    for b, p in zip(batched, plain):
        with torch.no_grad():
            logits_b, logits_p = b.model(X_t), p.model(X_t)
        assert float((logits_b - logits_p).abs().max()) <= 100 * bn_tolerance(logits_p)
        sb, sp = b.model.state_dict(), p.model.state_dict()
        for n in (n for n in sp if n.endswith(("running_mean", "running_var"))):
            assert float((sb[n] - sp[n]).abs().max()) <= 100 * bn_tolerance(sp[n]), n
